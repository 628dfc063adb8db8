// SMP.swift — bringing up the other CPUs (INIT, SIPI, SIPI), each with its
// own GDT TSS entry, IST stack, per-CPU block, LAPIC timer and run queue.
//
// How many CPUs: QEMU's fw_cfg (I/O port 0x510/0x511, key 0x05
// FW_CFG_NB_CPUS) — present on microvm and q35 alike. The INIT and the two
// SIPIs are broadcast to all CPUs but this one; each AP numbers itself in
// the trampoline (arch/x86_64/smp.S). An AP becomes its core's idle thread
// and from then on runs whatever the scheduler queues on its core.

enum SMP {
    static let trampoline: UInt64 = 0x8000
    static let stackStride: UInt64 = 16384  // per AP: 4 KiB IST1 + 12 KiB kernel stack
    /// CPUs online (the APs add themselves with `lock xadd`).
    nonisolated(unsafe) static var online: UnsafeMutablePointer<UInt64>? = nil
    nonisolated(unsafe) static var expected = 1
    nonisolated(unsafe) static var stacks: UInt64 = 0
    nonisolated(unsafe) static var bringUpMicros: UInt64 = 0
    nonisolated(unsafe) static var restarts = 0

    /// CPUs the machine has (fw_cfg), 1 if fw_cfg does not answer "QEMU".
    static func cpuCount() -> Int {
        arch_outw(0x510, 0x0000)  // FW_CFG_SIGNATURE
        var signature: UInt32 = 0
        var i: UInt32 = 0
        while i < 4 {
            signature |= UInt32(arch_inb(0x511)) << (8 * i)
            i += 1
        }
        guard signature == 0x554D_4551 else { return 1 }  // "QEMU"
        arch_outw(0x510, 0x0005)  // FW_CFG_NB_CPUS
        let count = Int(arch_inb(0x511)) | Int(arch_inb(0x511)) << 8
        return max(1, min(count, PerCPU.maxCPUs))
    }

    /// Starts every other CPU and waits until all are online (panics after
    /// a second). Call with the scheduler initialised.
    static func startAll(cpus: Int) {
        expected = cpus
        online = BootArena.take(UInt64.self, count: 1)
        online!.pointee = 1
        guard cpus > 1 else { return }
        guard let block = KernelMemory.frames!.allocate(count: (cpus - 1) * Int(stackStride / 4096)) else {
            panic("smp: no frames for the AP stacks")
        }
        stacks = block
        let size = Int(arch_smp_trampoline_size())
        let copy = UnsafeMutableRawPointer(bitPattern: UInt(trampoline))!
        copy.copyMemory(from: UnsafeRawPointer(bitPattern: UInt(arch_smp_trampoline()))!, byteCount: size)
        let data = (copy + Int(arch_smp_data_offset())).assumingMemoryBound(to: UInt64.self)
        data[0] = 1  // next CPU number
        data[1] = arch_read_cr3()
        data[2] = block
        data[3] = stackStride
        data[4] = address(of: ap_entry)
        let start = arch_rdtsc()
        let sipi = 0x000C_4600 | UInt32(trampoline >> 12)
        Interrupts.sendIPI(destination: 0, command: 0x000C_4500)  // INIT, all but self
        Interrupts.sendIPI(destination: 0, command: sipi)  // SIPI (again: the spec's second one)
        Interrupts.sendIPI(destination: 0, command: sipi)
        // A SIPI only starts a CPU waiting for one; if none has arrived after
        // a while, send SIPI again, and INIT too while no AP has reached the
        // trampoline at all (INIT would reset one that had) — under heavy
        // host load a start can be very late.
        let limit = Interrupts.tscPerMs * 2000
        var lastKick = start
        while VolatileLoad.u64(online!) < UInt64(cpus) {
            let now = arch_rdtsc()
            if now &- start > limit { panic("smp: not every CPU came online within two seconds") }
            if now &- lastKick > Interrupts.tscPerMs * 100 {
                lastKick = now
                if VolatileLoad.u64(data) == 1 {  // no AP has even reached the trampoline's xadd
                    Interrupts.sendIPI(destination: 0, command: 0x000C_4500)
                }
                Interrupts.sendIPI(destination: 0, command: sipi)
                restarts += 1
            }
        }
        bringUpMicros = (arch_rdtsc() &- start) * 1000 / Interrupts.tscPerMs
    }

    static func istTop(_ cpu: Int) -> UInt64 { stacks + UInt64(cpu - 1) * stackStride + 4096 }
    static func stackTop(_ cpu: Int) -> UInt64 { stacks + UInt64(cpu) * stackStride }
}

/// A load the compiler may not fold or hoist out of a spin loop (an opaque
/// assembly call: a Swift `@inline(never)` reader was still treated as
/// pure, and `while read() == 0 {}` compiled to nothing).
enum VolatileLoad {
    @inline(__always) static func u64(_ p: UnsafeMutablePointer<UInt64>) -> UInt64 { arch_load_u64(p) }
}

/// An AP's first Swift code (smp.S ap_entry), interrupts off.
@c(os3_ap_main)
func os3_ap_main(_ number: UInt64) {
    let cpu = Int(number)
    guard cpu < SMP.expected else { arch_halt_forever() }  // more CPUs than we use
    let tss = Traps.loadCPU(cpu, istTop: SMP.istTop(cpu))
    PerCPU.install(cpu: cpu)
    PerCPU.block(cpu)[PerCPU.tss] = tss
    PerCPU.block(cpu)[PerCPU.stackTop] = SMP.stackTop(cpu)
    Traps.loadIDT()
    Interrupts.enableLocalAPIC()
    let flags = Locks.scheduler.acquire()
    guard let idle = Sched.p.pointee.adoptRunning(priority: SchedulerPolicy.idlePriority, pinnedTo: cpu, core: cpu)
    else { panic("smp: cannot adopt an AP's idle thread") }
    Sched.thread(idle).pointee.stackTop = SMP.stackTop(cpu)
    Sched.thread(idle).pointee.dispatchCPUs = 1 << UInt64(cpu)
    PerCPU.block(cpu)[PerCPU.current] = UInt64(idle)
    PerCPU.block(cpu)[PerCPU.idle] = UInt64(idle)
    PerCPU.block(cpu)[PerCPU.slice] = Sched.idleSliceTicks
    Locks.scheduler.release(flags)
    Interrupts.startTimer()
    _ = arch_atomic_add(SMP.online!, 1)
    idleLoop(0)
}
