// Multitasking.swift — after memory and traps: interrupts and the timer,
// threads, SMP, the scheduler checks (preemption, statistics, priorities:
// the A3 check by peek or, with sched.priorities=proxy, the old flaky
// proxy), ring 3, serial receive. Each proves itself with a marker line
// (docs/KERNEL.md). Lines printed while interrupts are live go out whole
// under the console lock.

enum Multitasking {
    /// Shared flag the busy threads poll (never written by them).
    nonisolated(unsafe) static var stop: UnsafeMutablePointer<UInt64>? = nil
    /// Order in which the proxy's thread bodies recorded themselves.
    nonisolated(unsafe) static var order: UnsafeMutablePointer<UInt64>? = nil
    /// Proxy: how long the low-priority thread's body waits before it records.
    static let proxyDelayMicros: UInt64 = 2000

    nonisolated(unsafe) static var phaseTSC: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
    static func phase(_ i: Int) {
        let now = arch_rdtsc()
        withUnsafeMutableBytes(of: &phaseTSC) { $0.storeBytes(of: now, toByteOffset: i * 8, as: UInt64.self) }
    }
    /// `os3: timing phases-us interrupts=.. threads=.. smp=.. preempt=.. priorities=.. ring3=.. rest=..`
    static func reportPhases() {
        withUnsafeBytes(of: &phaseTSC) { raw in
            func us(_ i: Int) -> UInt64 {
                (raw.load(fromByteOffset: (i + 1) * 8, as: UInt64.self) &- raw.load(fromByteOffset: i * 8, as: UInt64.self))
                    * 1000 / max(Interrupts.tscPerMs, 1)
            }
            Console.write("os3: timing phases-us interrupts=")
            Console.writeDecimal(us(0))
            Console.write(" threads=")
            Console.writeDecimal(us(1))
            Console.write(" smp=")
            Console.writeDecimal(us(2))
            Console.write(" preempt=")
            Console.writeDecimal(us(3))
            Console.write(" priorities=")
            Console.writeDecimal(us(4))
            Console.write(" ring3=")
            Console.writeDecimal(us(5))
            Console.write(" rest=")
            Console.writeDecimal(us(6))
            Console.write("\n")
        }
    }

    static func run(_ commandLine: KernelArguments) {
        phase(0)
        stop = BootArena.take(UInt64.self, count: 2)
        stop!.initialize(repeating: 0, count: 2)
        order = stop! + 1

        PerCPU.install(cpu: 0)
        PerCPU.block(0)[PerCPU.tss] = arch_tss_base()
        PerCPU.block(0)[PerCPU.stackTop] = 0
        Interrupts.install()
        Console.write("os3: interrupts ok controller=lapic+ioapic pic=masked lapic-version=")
        Console.writeHex(UInt64(Interrupts.lapicRead(Interrupts.lapicVersion) & 0xFF))
        Console.write(" ioapic-pins=")
        Console.writeDecimal(UInt64((Interrupts.ioapicVersion >> 16) & 0xFF) + 1)
        Console.write(" vectors=32,36,128,255\n")
        Console.write("os3: timer calibrated source=lapic reference=pit window-ms=")
        Console.writeDecimal(Interrupts.calibrationMs)
        Console.write(" lapic-khz=")
        Console.writeDecimal(Interrupts.lapicTicksPerMs)
        Console.write(" tsc-mhz=")
        Console.writeDecimal(Interrupts.tscPerMs / 1000)
        Console.write(" hz=")
        Console.writeDecimal(Interrupts.hz)
        Console.write("\n")

        phase(1)
        let cpus = SMP.cpuCount()
        Sched.initialize(cores: cpus)
        Interrupts.startTimer()
        arch_sti()
        phase(2)
        SMP.startAll(cpus: cpus)
        line {
            Console.write("os3: smp ok cores=")
            Console.writeDecimal(UInt64(cpus))
            Console.write(" online=")
            Console.writeDecimal(SMP.online!.pointee)
            Console.write(" bringup-us=")
            Console.writeDecimal(SMP.bringUpMicros)
            Console.write(" runqueues=per-core\n")
        }

        if commandLine.flag("os3.microbench") { microbench() }
        if commandLine.flag("os3.trace") { EventLog.enable() }
        if case .value(let c) = commandLine.decimal(forKey: "os3.probecore") { probeCore = Int(c) }
        if commandLine.flag("os3.ringprobe") { ringProbe(commandLine.flag("os3.notimer")) }
        if case .value(let c) = commandLine.decimal(forKey: "os3.ringcore") { ringCore = Int(c) }
        phase(3)
        preemption()
        phase(4)
        if commandLine.value(forKey: "sched.priorities", is: "proxy") {
            prioritiesProxy()
        } else {
            prioritiesPeek()
        }
        phase(5)
        ringThree()
        phase(6)
        if case .value(let count) = commandLine.decimal(forKey: "os3.rx") { serialReceive(count) }

        let s = Sched.snapshot()
        line {
            Console.write("os3: timer ok ticks=")
            Console.writeDecimal(s.ticks)
            Console.write(" hz=1000 cpu-ticks=")
            var c = 0
            while c < Sched.cores {
                if c > 0 { Console.write(",") }
                Console.writeDecimal(PerCPU.block(c)[PerCPU.ticks])
                c += 1
            }
            Console.write(" switches=")
            Console.writeDecimal(s.switches)
            Console.write("\n")
        }
        phase(7)
        if commandLine.flag("os3.timing") { reportPhases() }
        EventLog.dump()
    }

    static func microbench() {
        func us(_ t: UInt64) -> UInt64 { t * 1000 / Interrupts.tscPerMs }
        var t = arch_rdtsc()
        let id = Sched.spawn(workBody, argument: 0, priority: 1, pinned: 0)!
        let spawnCost = arch_rdtsc() &- t
        t = arch_rdtsc()
        let f = Locks.scheduler.acquire()
        _ = Sched.p.pointee.peekReady(core: 0)
        Locks.scheduler.release(f)
        let peekCost = arch_rdtsc() &- t
        t = arch_rdtsc()
        line { Console.write("os3: bench line 0123456789 0123456789 0123456789\n") }
        let lineCost = arch_rdtsc() &- t
        t = arch_rdtsc()
        Sched.join(id)
        let joinCost = arch_rdtsc() &- t
        t = arch_rdtsc()
        let s = Sched.snapshot()
        let snapCost = arch_rdtsc() &- t
        t = arch_rdtsc()
        var k: UInt64 = 0
        let t0 = Sched.ticks
        while arch_rdtsc() &- t < Interrupts.tscPerMs * 20 { k &+= 1 }
        let ticks20 = Sched.ticks &- t0
        line {
            Console.write("os3: microbench-us spawn="); Console.writeDecimal(us(spawnCost))
            Console.write(" peek="); Console.writeDecimal(us(peekCost))
            Console.write(" line="); Console.writeDecimal(us(lineCost))
            Console.write(" join="); Console.writeDecimal(us(joinCost))
            Console.write(" snapshot="); Console.writeDecimal(us(snapCost))
            Console.write(" ticks-in-20ms-busy="); Console.writeDecimal(ticks20)
            Console.write(" loops="); Console.writeDecimal(k)
            Console.write(" created="); Console.writeDecimal(UInt64(s.created))
            Console.write("\n")
        }
    }

    nonisolated(unsafe) static var probeCore = 1
    static func ringProbe(_ noTimer: Bool) {
        UserMode.initialize()
        UserMode.probeMode = true
        let o = UserMode.offsets
        var round = 0
        while round < 3 {
            for program in [o.5, o.6, o.7, o.8] {
                guard let id = UserMode.spawn(program: program, pinned: probeCore) else { panic("probe spawn") }
                Sched.join(id)
                let t = Sched.thread(id).pointee
                line {
                    Console.write("os3: ringprobe vector="); Console.writeDecimal(UInt64(bitPattern: t.killVector))
                    Console.write(" trap-us="); Console.writeDecimal(t.killAddress)
                    Console.write(" enter-us="); Console.writeDecimal(t.recorded); Console.write("\n")
                }
                UserMode.stacksUsed = 0
            }
            round += 1
        }
        UserMode.probeMode = false
    }

    /// One whole console line while other CPUs and interrupts may print.
    static func line(_ body: () -> Void) {
        let flags = Locks.console.acquire()
        body()
        Locks.console.release(flags)
    }

    // MARK: - Preemption and the statistics snapshot

    /// Two threads that never yield, pinned to core 0 with the boot thread
    /// asleep: only the timer can move the CPU between them.
    static func preemption() {
        stop!.pointee = 0
        let before = Sched.snapshot()
        guard let a = Sched.spawn(busyBody, argument: 0, priority: 2, pinned: 0),
            let b = Sched.spawn(busyBody, argument: 0, priority: 2, pinned: 0)
        else { panic("preemption: spawning the busy threads failed") }
        Sched.sleep(ticks: 3)
        // While they run: an interrupt-safe snapshot, interrupts live.
        let s = Sched.snapshot()
        line {
            Console.write("os3: sched stats threads=")
            Console.writeDecimal(s.created)
            Console.write(" ready=")
            Console.writeDecimal(s.counts.ready)
            Console.write(" running=")
            Console.writeDecimal(s.counts.running)
            Console.write(" blocked=")
            Console.writeDecimal(s.counts.blocked)
            Console.write(" dead=")
            Console.writeDecimal(s.counts.dead)
            Console.write(" ticks=")
            Console.writeDecimal(s.ticks)
            Console.write(" switches=")
            Console.writeDecimal(s.switches)
            Console.write(s.interruptsOn ? " interrupts=on\n" : " interrupts=off\n")
        }
        Sched.sleep(ticks: 3)
        stop!.pointee = 1
        Sched.join(a)
        Sched.join(b)
        let after = Sched.snapshot()
        let workA = Sched.thread(a).pointee.counter
        let workB = Sched.thread(b).pointee.counter
        let preempted = after.preemptions &- before.preemptions
        guard s.interruptsOn, s.ticks > before.ticks else { panic("sched stats: not taken with the timer live") }
        guard workA > 0, workB > 0 else { panic("preemption: a busy thread never ran") }
        guard preempted >= 2 else { panic("preemption: the timer did not preempt the busy threads") }
        line {
            Console.write("os3: preempt ok threads=2 core=0 a=")
            Console.writeDecimal(workA)
            Console.write(" b=")
            Console.writeDecimal(workB)
            Console.write(" preemptions=")
            Console.writeDecimal(preempted)
            Console.write(" slice-ms=")
            Console.writeDecimal(Sched.sliceTicks)
            Console.write("\n")
        }
    }

    // MARK: - Priorities (A3)

    /// The A3 check: high and low priority threads pinned to core 0, both
    /// spawned with interrupts held off; before interrupts come back,
    /// peek_ready(0) must name the high one; then the reschedule must pick
    /// exactly it, and neither may ever run on another core.
    static func prioritiesPeek() {
        let core = 0
        arch_cli()
        guard let high = Sched.spawn(workBody, argument: 24, priority: 3, pinned: core) else {
            panic("priorities: spawning the high-priority thread failed")
        }
        guard let low = Sched.spawn(workBody, argument: 24, priority: 1, pinned: core) else {
            panic("priorities: spawning the low-priority thread failed")
        }
        let flags = Locks.scheduler.acquire()
        let peeked = Sched.p.pointee.peekReady(core: core)
        Sched.watch(core: core)
        Locks.scheduler.release(flags)
        guard peeked == high else { panic("priorities: peek_ready(0) is not the high-priority thread") }
        // An unpinned thread beside them: an idle core may take it (not asserted).
        let control = Sched.cores > 1 ? Sched.spawn(workBody, argument: 24, priority: 1, pinned: nil) : nil
        arch_sti()
        Sched.join(high)
        Sched.join(low)
        if let control { Sched.join(control) }
        guard Sched.watchedPick == high else {
            panic("priorities: the reschedule did not pick what peek_ready said")
        }
        let h = Sched.thread(high).pointee, l = Sched.thread(low).pointee
        let only: UInt64 = 1 << UInt64(core)
        guard h.dispatchCPUs == only, l.dispatchCPUs == only, h.bodyCPUs == only, l.bodyCPUs == only,
            Sched.affinityViolations == 0
        else { panic("priorities: a pinned thread ran on another core") }
        guard h.counter == 24, l.counter == 24 else { panic("priorities: a thread did not finish its work") }
        guard h.firstDispatch < l.firstDispatch else { panic("priorities: the low-priority thread ran first") }
        line {
            Console.write("os3: priorities ok check=peek core=0 peek=high picked=high order=high,low affinity=pinned high-cpus=")
            Console.writeHex(h.bodyCPUs)
            Console.write(" low-cpus=")
            Console.writeHex(l.bodyCPUs)
            if let control {
                Console.write(" unpinned-cpus=")
                Console.writeHex(Sched.thread(control).pointee.bodyCPUs)
            }
            Console.write("\n")
        }
    }

    /// sched.priorities=proxy: OS/3's old check. High (core 0) and low
    /// (core 1 when there is one) are spawned together; the assertion is on
    /// which BODY records first. The low one waits `proxyDelayMicros` (TSC)
    /// before recording; the high one records as soon as core 0 runs it.
    /// That is a statement about wall-clock timing across two vCPUs, not
    /// about the scheduler: when the host deschedules core 0's vCPU for
    /// longer than the delay, low records first and the check fails
    /// (docs/KERNEL.md, "The A3 proxy").
    static func prioritiesProxy() {
        let lowCore = Sched.cores > 1 ? 1 : 0
        order!.pointee = 0
        let delay = proxyDelayMicros * Interrupts.tscPerMs / 1000
        arch_cli()
        let spawned = arch_rdtsc()
        guard let high = Sched.spawn(recordBody, argument: 0, priority: 3, pinned: 0) else {
            panic("priorities proxy: spawning the high-priority thread failed")
        }
        guard let low = Sched.spawn(recordBody, argument: delay, priority: 1, pinned: lowCore) else {
            panic("priorities proxy: spawning the low-priority thread failed")
        }
        arch_sti()
        Sched.join(high)
        Sched.join(low)
        let h = Sched.thread(high).pointee, l = Sched.thread(low).pointee
        let highMicros = (h.counter &- spawned) * 1000 / Interrupts.tscPerMs
        let lowMicros = (l.counter &- spawned) * 1000 / Interrupts.tscPerMs
        if l.recorded < h.recorded {
            Console.write("os3: priorities proxy: low recorded first: high-us=")
            Console.writeDecimal(highMicros)
            Console.write(" low-us=")
            Console.writeDecimal(lowMicros)
            Console.write("\n")
            panic("priorities proxy: the low-priority thread's body recorded first")
        }
        line {
            Console.write("os3: priorities ok check=proxy first=high high-core=0 low-core=")
            Console.writeDecimal(UInt64(lowCore))
            Console.write(" high-us=")
            Console.writeDecimal(highMicros)
            Console.write(" low-us=")
            Console.writeDecimal(lowMicros)
            Console.write(" low-delay-us=")
            Console.writeDecimal(proxyDelayMicros)
            Console.write("\n")
        }
    }

    // MARK: - Ring 3

    nonisolated(unsafe) static var ringCore: Int? = nil
    static func ringThree() {
        UserMode.initialize()
        let o = UserMode.offsets
        guard let good = UserMode.spawn(program: o.1, pinned: ringCore),
            let privileged = UserMode.spawn(program: o.2, pinned: ringCore),
            let kernelMemory = UserMode.spawn(program: o.3, pinned: ringCore),
            let badPointer = UserMode.spawn(program: o.4, pinned: ringCore)
        else { panic("ring3: spawning the user threads failed") }
        let t0 = arch_rdtsc()
        Sched.join(good)
        let t1 = arch_rdtsc()
        Sched.join(privileged)
        let t2 = arch_rdtsc()
        Sched.join(kernelMemory)
        let t3 = arch_rdtsc()
        Sched.join(badPointer)
        let t4 = arch_rdtsc()
        line {
            Console.write("os3: ring3 join-us ")
            Console.writeDecimal((t1 - t0) * 1000 / Interrupts.tscPerMs); Console.write(" ")
            Console.writeDecimal((t2 - t1) * 1000 / Interrupts.tscPerMs); Console.write(" ")
            Console.writeDecimal((t3 - t2) * 1000 / Interrupts.tscPerMs); Console.write(" ")
            Console.writeDecimal((t4 - t3) * 1000 / Interrupts.tscPerMs); Console.write("\n")
        }
        let g = Sched.thread(good).pointee
        let p = Sched.thread(privileged).pointee
        let k = Sched.thread(kernelMemory).pointee
        let b = Sched.thread(badPointer).pointee
        guard g.killVector == -1, g.exitCode == 0, g.counter == 3 else {
            panic("ring3: the well-behaved user thread did not make its calls and exit 0")
        }
        guard p.killVector == 13 else { panic("ring3: a privileged instruction was not trapped (#GP)") }
        guard k.killVector == 14, k.killAddress == 0x100000, k.exitCode & 4 != 0 else {
            panic("ring3: a read of kernel memory was not trapped (#PF, user access)")
        }
        guard b.killVector == UserMode.badPointerKill, b.killAddress == 0x100000 else {
            panic("ring3: a bad pointer passed to a system call was not refused")
        }
        line {
            Console.write("os3: ring3 trapped privileged-instruction vector=13 rip=")
            Console.writeHex(p.killAddress)
            Console.write(" killed=yes\n")
            Console.write("os3: ring3 trapped kernel-memory vector=14 cr2=")
            Console.writeHex(k.killAddress)
            Console.write(" error=")
            Console.writeHex(UInt64(bitPattern: k.exitCode))
            Console.write(" killed=yes\n")
            Console.write("os3: ring3 trapped bad-pointer syscall=write ptr=")
            Console.writeHex(b.killAddress)
            Console.write(" killed=yes\n")
            Console.write("os3: ring3 ok threads=4 exited=1 killed=3 syscalls=")
            Console.writeDecimal(UserMode.callsViaGate &+ UserMode.callsViaUD)
            Console.write(UserMode.callsViaUD > 0 ? " via=int80-as-ud\n" : " via=int80-gate\n")
        }
    }

    // MARK: - Serial receive

    static func serialReceive(_ count: UInt64) {
        guard count >= 1 && count <= UInt64(SerialInput.capacity) else { panic("os3.rx must be a decimal from 1 to 64") }
        SerialInput.enable()
        line {
            Console.write("os3: serial rx ready expect=")
            Console.writeDecimal(count)
            Console.write("\n")
        }
        let deadline = Sched.ticks + 15_000
        while SerialInput.received < count {
            if Sched.ticks > deadline { panic("serial rx: the expected bytes did not arrive") }
            Sched.sleep(ticks: 1)
        }
        line {
            Console.write("os3: serial rx ok bytes=")
            Console.writeDecimal(SerialInput.received)
            Console.write(" echo=")
            var i = 0
            while i < Int(SerialInput.received) && i < SerialInput.capacity {
                SerialInput.writeBracketed(SerialInput.bytes![i])
                i += 1
            }
            Console.write(" irqs=")
            Console.writeDecimal(SerialInput.interrupts)
            Console.write("\n")
        }
    }
}

// MARK: - Thread bodies

/// Counts until told to stop; never yields.
func busyBody(_ argument: UInt64) {
    let t = Sched.thread(Sched.current)
    let stop = Multitasking.stop!
    while VolatileLoad.u64(stop) == 0 {
        t.pointee.counter &+= 1
        t.pointee.bodyCPUs |= 1 << UInt64(arch_cpu())
    }
}

/// `argument` units of work, noting the CPU each time.
func workBody(_ argument: UInt64) {
    let t = Sched.thread(Sched.current)
    var i: UInt64 = 0
    while i < argument {
        t.pointee.counter &+= 1
        t.pointee.bodyCPUs |= 1 << UInt64(arch_cpu())
        i &+= 1
    }
}

/// Proxy body: wait `argument` TSC cycles, then record order and time.
func recordBody(_ argument: UInt64) {
    let t = Sched.thread(Sched.current)
    if argument > 0 {
        let start = arch_rdtsc()
        while arch_rdtsc() &- start < argument {}
    }
    t.pointee.recorded = arch_atomic_add(Multitasking.order!, 1)
    t.pointee.counter = arch_rdtsc()
    t.pointee.bodyCPUs |= 1 << UInt64(arch_cpu())
}
