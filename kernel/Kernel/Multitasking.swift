// Multitasking.swift — after memory and traps: interrupts and the timer,
// threads, SMP, the scheduler checks (preemption, statistics, priorities:
// the A3 check by peek or, with sched.priorities=proxy, the old flaky
// proxy), ring 3, serial receive. Each proves itself with a marker line
// (docs/KERNEL.md). Lines printed while interrupts are live go out whole
// under the console lock.

enum Multitasking {
    /// Shared flag the busy threads poll (never written by them).
    nonisolated(unsafe) static var stop: UnsafeMutablePointer<UInt64>? = nil
    /// The proxy's shared words: order counter, start stamp, low-is-spinning.
    nonisolated(unsafe) static var order: UnsafeMutablePointer<UInt64>? = nil
    /// Proxy: how long the low-priority thread's body waits before it records.
    static let proxyDelayMicros: UInt64 = 8000
    /// Proxy: iterations of the high-priority body's work before it records.
    static let proxyWork: UInt64 = 500

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
            Console.write(" calibration-attempts=")
            Console.writeDecimal(UInt64(Interrupts.calibrationAttempts))
            Console.write(" sipi-resends=")
            Console.writeDecimal(UInt64(SMP.restarts))
            Console.write("\n")
        }
    }

    static func run(_ commandLine: KernelArguments) {
        phase(0)
        stop = BootArena.take(UInt64.self, count: 4)
        stop!.initialize(repeating: 0, count: 4)
        order = stop! + 1

        PerCPU.install(cpu: 0)
        PerCPU.block(0)[PerCPU.tss] = arch_tss_base()
        PerCPU.block(0)[PerCPU.stackTop] = 0
        Interrupts.install()
        // Short lines: every console byte is an exit to QEMU (~30 us) in the kvm lanes.
        Console.write("os3: irq ok lapic ioapic pic=masked\nos3: timer calibrated pit=")
        Console.writeDecimal(Interrupts.calibrationMs)
        Console.write("ms lapic-khz=")
        Console.writeDecimal(Interrupts.lapicTicksPerMs)
        Console.write(" tsc-mhz=")
        Console.writeDecimal(Interrupts.tscPerMs / 1000)
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
            Console.writeDecimal(SMP.online!.pointee)
            Console.write(" us=")
            Console.writeDecimal(SMP.bringUpMicros)
            Console.write("\n")
        }

        if commandLine.flag("os3.trace") { EventLog.enable() }
        if commandLine.flag("os3.tscsync") { tscSync() }
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
            Console.write(" cpus=")
            var c = 0
            while c < Sched.cores {
                if c > 0 { Console.write(",") }
                Console.writeDecimal(PerCPU.block(c)[PerCPU.ticks])
                c += 1
            }
            Console.write("\n")
        }
        phase(7)
        if commandLine.flag("os3.timing") { reportPhases() }
        EventLog.dump()
    }

    /// One whole console line while other CPUs and interrupts may print.
    static func line(_ body: () -> Void) {
        let flags = Locks.console.acquire()
        body()
        Locks.console.release(flags)
    }

    // MARK: - Preemption and the statistics snapshot

    /// Two threads that never yield, pinned to core 0 with the boot thread
    /// asleep: only the timer can move the CPU between them. The boot thread
    /// looks every few ticks until `PreemptionCheck` decides from what the
    /// scheduler did (dispatches, work, preemptions), not after a fixed number
    /// of ticks: in the first window each run of `a` is one tick long, and
    /// under host load that tick can arrive before `a` executes an instruction
    /// (docs/KERNEL.md, "The preemption check's flake").
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
            Console.write("os3: stats threads=")
            Console.writeDecimal(s.created)
            Console.write(" ready=")
            Console.writeDecimal(s.counts.ready)
            Console.write(" run=")
            Console.writeDecimal(s.counts.running)
            Console.write(" blocked=")
            Console.writeDecimal(s.counts.blocked)
            Console.write(" dead=")
            Console.writeDecimal(s.counts.dead)
            Console.write(" ticks=")
            Console.writeDecimal(s.ticks)
            Console.write(" switches=")
            Console.writeDecimal(s.switches)
            Console.write(s.interruptsOn ? " if=on\n" : " if=off\n")
        }
        guard s.interruptsOn, s.ticks > before.ticks else { panic("sched stats: not taken with the timer live") }
        let check = PreemptionCheck()
        var polls: UInt64 = 0
        var verdict = PreemptionVerdict.wait
        var counts = (BusyThreadCounts(dispatches: 0, work: 0), BusyThreadCounts(dispatches: 0, work: 0))
        var preempted: UInt64 = 0
        while verdict == .wait {
            Sched.sleep(ticks: 3)
            polls &+= 1
            let flags = Locks.scheduler.acquire()
            let ta = Sched.thread(a).pointee, tb = Sched.thread(b).pointee
            counts = (BusyThreadCounts(dispatches: ta.dispatches, work: ta.counter),
                BusyThreadCounts(dispatches: tb.dispatches, work: tb.counter))
            preempted = Sched.preemptions &- before.preemptions
            let ticks = Sched.ticks &- before.ticks
            Locks.scheduler.release(flags)
            verdict = check.judge(a: counts.0, b: counts.1, preemptions: preempted, ticks: ticks)
        }
        stop!.pointee = 1
        Sched.join(a)
        Sched.join(b)
        if polls > 1 {
            // The old fixed window would have failed here: say how it was decided.
            line {
                Console.write("os3: preempt waited polls=")
                Console.writeDecimal(polls)
                Console.write(" a-dispatches=")
                Console.writeDecimal(counts.0.dispatches)
                Console.write(" b-dispatches=")
                Console.writeDecimal(counts.1.dispatches)
                Console.write("\n")
            }
        }
        switch verdict {
        case .neverRan: panic("preemption: a busy thread never ran")
        case .neverDispatched: panic("preemption: a busy thread was never dispatched")
        case .notPreempted: panic("preemption: the timer did not preempt the busy threads")
        case .wait, .passed: break
        }
        line {
            Console.write("os3: preempt ok a=")
            Console.writeDecimal(counts.0.work)
            Console.write(" b=")
            Console.writeDecimal(counts.1.work)
            Console.write(" preemptions=")
            Console.writeDecimal(preempted)
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
            // peek named high, the reschedule picked it, high ran first,
            // both only ever on core 0 (cpu masks); the unpinned one may roam.
            Console.write("os3: prio ok check=peek pick=high pinned=")
            Console.writeHex(h.bodyCPUs | l.bodyCPUs)
            if let control {
                Console.write(" free=")
                Console.writeHex(Sched.thread(control).pointee.bodyCPUs)
            }
            Console.write("\n")
        }
    }

    /// sched.priorities=proxy: OS/3's old check. The assertion is on which
    /// thread's BODY records first — a statement about wall-clock timing
    /// across two vCPUs, not about the scheduler. The low-priority thread is
    /// pinned to core 1 (when there is one) and already running there,
    /// spinning on a start flag. With interrupts held off the high-priority
    /// thread is spawned on core 0 and the start stamp (TSC) set; the spawner
    /// then waits for it, so core 0 switches to it at once. High does its
    /// body's work (`proxyWork` iterations, ~1.5 ms of emulated instructions)
    /// and records, ~2 ms after the stamp on an idle host; low records
    /// `proxyDelayMicros` after the stamp. When the host takes core 0's vCPU
    /// off the CPU during high's work for longer than the margin (~2 ms) while
    /// core 1's keeps running — what CPU hogs do — low records first and the
    /// check fails (docs/KERNEL.md, "The A3 proxy").
    static func prioritiesProxy() {
        let lowCore = Sched.cores > 1 ? 1 : 0
        let flags = order!  // [0] order counter, [1] go stamp, [2] low is spinning
        flags.initialize(repeating: 0, count: 3)
        let delay = proxyDelayMicros * Interrupts.tscPerMs / 1000
        guard let low = Sched.spawn(recordBody, argument: delay, priority: 1, pinned: lowCore) else {
            panic("priorities proxy: spawning the low-priority thread failed")
        }
        while VolatileLoad.u64(flags + 2) == 0 { Sched.sleep(ticks: 1) }  // low is on its core
        arch_cli()
        guard let high = Sched.spawn(recordBody, argument: 0, priority: 3, pinned: 0) else {
            panic("priorities proxy: spawning the high-priority thread failed")
        }
        let go = arch_rdtsc()
        flags[1] = go
        arch_sti()
        Sched.join(high)
        Sched.join(low)
        let h = Sched.thread(high).pointee, l = Sched.thread(low).pointee
        // From the start stamp to each record (the TSCs are synchronized).
        let highMicros = Int64(bitPattern: h.counter &- go) &* 1000 / Int64(Interrupts.tscPerMs)
        let lowMicros = Int64(bitPattern: l.counter &- go) &* 1000 / Int64(Interrupts.tscPerMs)
        if l.recorded < h.recorded {
            Console.write("os3: prio proxy: low recorded first: hi-us=")
            Console.writeDecimal(Int(highMicros))
            Console.write(" lo-us=")
            Console.writeDecimal(Int(lowMicros))
            Console.write("\n")
            panic("priorities proxy: the low-priority thread's body recorded first")
        }
        line {
            Console.write("os3: prio ok check=proxy first=high hi-us=")
            Console.writeDecimal(Int(highMicros))
            Console.write(" lo-us=")
            Console.writeDecimal(Int(lowMicros))
            Console.write("\n")
        }
    }

    static func tscSync() {
        let w = order!
        w.initialize(repeating: 0, count: 3)
        guard let id = Sched.spawn(tscEcho, argument: 0, priority: 1, pinned: 1) else { panic("tscsync") }
        while VolatileLoad.u64(w + 2) == 0 { Sched.sleep(ticks: 1) }
        var round = 0
        while round < 4 {
            w[1] = 0
            let a = arch_rdtsc()
            w[0] = a
            while VolatileLoad.u64(w + 1) == 0 {}
            let c = arch_rdtsc()
            let b = w[1]
            line {
                Console.write("os3: tscsync bsp-a="); Console.writeDecimal(a)
                Console.write(" ap="); Console.writeDecimal(b)
                Console.write(" bsp-c="); Console.writeDecimal(c)
                Console.write(" ap-minus-mid-us="); Console.writeDecimal(Int(Int64(bitPattern: b &- (a / 2 + c / 2)) / Int64(Interrupts.tscPerMs / 1000)))
                Console.write(" rtt-us="); Console.writeDecimal((c - a) * 1000 / Interrupts.tscPerMs)
                Console.write("\n")
            }
            Sched.sleep(ticks: 20)
            round += 1
        }
        w[2] = 2
        Sched.join(id)
    }

    // MARK: - Ring 3

    static func ringThree() {
        UserMode.initialize()
        let o = UserMode.offsets
        guard let good = UserMode.spawn(program: o.1, pinned: nil),
            let privileged = UserMode.spawn(program: o.2, pinned: nil),
            let kernelMemory = UserMode.spawn(program: o.3, pinned: nil),
            let badPointer = UserMode.spawn(program: o.4, pinned: nil)
        else { panic("ring3: spawning the user threads failed") }
        Sched.join(good)
        Sched.join(privileged)
        Sched.join(kernelMemory)
        Sched.join(badPointer)
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
            // Each forbidden action trapped and killed (asserted above):
            // cli -> #GP (13), read of the kernel image -> #PF (14, user
            // bit in the error code), a kernel pointer to write() -> refused.
            Console.write("os3: ring3 ok calls=")
            Console.writeDecimal(UserMode.callsViaGate &+ UserMode.callsViaUD)
            Console.write(" exit=0 priv=13 kmem=14 badptr=refused killed=3")
            Console.write(UserMode.callsViaUD > 0 ? " via=ud\n" : " via=gate\n")
        }
    }

    // MARK: - Serial receive

    static func serialReceive(_ count: UInt64) {
        guard count >= 1 && count <= UInt64(SerialInput.capacity) else { panic("os3.rx must be a decimal from 1 to 64") }
        SerialInput.enable()
        line {
            Console.write("os3: rx ready n=")
            Console.writeDecimal(count)
            Console.write("\n")
        }
        let deadline = Sched.ticks + 15_000
        while SerialInput.received < count {
            if Sched.ticks > deadline { panic("serial rx: the expected bytes did not arrive") }
            Sched.sleep(ticks: 1)
        }
        line {
            Console.write("os3: rx ok n=")
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

/// Proxy body. High (argument 0): record at once. Low (argument = delay in
/// TSC cycles): say it is spinning, wait for the start stamp, then for the
/// delay after it, then record. Records order and TSC.
func recordBody(_ argument: UInt64) {
    let t = Sched.thread(Sched.current)
    let flags = Multitasking.order!
    if argument > 0 {
        // Low: spin on its core until the start stamp plus the delay (the
        // vCPUs' TSCs agree, measured with os3.tscsync).
        flags[2] = 1
        var go = VolatileLoad.u64(flags + 1)
        while go == 0 { go = VolatileLoad.u64(flags + 1) }
        while arch_rdtsc() &- go < argument {}
    } else {
        // High: its body's work before it records — a fixed amount of
        // computation (~1.5 ms of emulated instructions on an idle host), so
        // a host preemption of this vCPU in the middle delays the record.
        var x: UInt64 = 0
        var i: UInt64 = 0
        while i < Multitasking.proxyWork {
            x = x &* 6364136223846793005 &+ i
            i &+= 1
        }
        t.pointee.argument = x
    }
    t.pointee.recorded = arch_atomic_add(flags, 1)
    t.pointee.counter = arch_rdtsc()
    t.pointee.bodyCPUs |= 1 << UInt64(arch_cpu())
}

func tscEcho(_ argument: UInt64) {
    let w = Multitasking.order!
    w[2] = 1
    var last: UInt64 = 0
    while VolatileLoad.u64(w + 2) == 1 {
        let a = VolatileLoad.u64(w)
        if a != last {
            last = a
            w[1] = arch_rdtsc()
        }
    }
}
