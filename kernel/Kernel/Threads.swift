// Threads.swift — kernel threads and the scheduler's mechanism: per-thread
// kernel stacks, context switches (irq.S `arch_switch`), preemption from the
// timer, sleeping, joining. The policy (queues, priorities, pick/peek,
// affinity, stealing) is Pure/Scheduler.swift, used here under
// `Locks.scheduler`, an interrupt-safe spinlock.
//
// Lock protocol across a switch: the thread that switches away holds the
// scheduler lock (interrupts off); whoever runs next releases it — a thread
// resuming in `reschedule` releases it with its own saved flags, a new
// thread releases it in `os3_thread_start` and turns interrupts on.

/// One thread's mechanism-side record (the policy keeps state/priority).
struct KThread {
    var rsp: UInt64 = 0  // saved stack pointer (first field: arch_switch writes it)
    var stackTop: UInt64 = 0  // kernel stack top (TSS rsp0 while it runs)
    var body: UInt64 = 0  // @convention(c) (UInt64) -> Void
    var argument: UInt64 = 0
    var counter: UInt64 = 0  // work its body did
    var bodyCPUs: UInt64 = 0  // CPUs its body saw itself on (bit mask)
    var dispatchCPUs: UInt64 = 0  // CPUs the scheduler ran it on (bit mask)
    var dispatches: UInt64 = 0  // times the scheduler switched to it
    var firstDispatch: UInt64 = 0  // global dispatch number of its first run
    var recorded: UInt64 = 0  // order/timestamp a test body recorded
    var killVector: Int64 = -1  // ring 3: the exception that killed it
    var killAddress: UInt64 = 0
    var exitCode: Int64 = 0
    var userStackTop: UInt64 = 0
    var joiner: Int64 = -1  // thread blocked in join() on this one
}

typealias ThreadBody = @convention(c) (UInt64) -> Void

enum Sched {
    static let capacity = 24
    static let stackBytes: UInt64 = 8192
    static let sliceTicks: UInt64 = 2
    static let idleSliceTicks: UInt64 = 8
    static let maxSleepers = 16

    nonisolated(unsafe) static var policy: UnsafeMutablePointer<SchedulerPolicy>? = nil
    nonisolated(unsafe) static var threads: UnsafeMutablePointer<KThread>? = nil
    nonisolated(unsafe) static var stackPool: UInt64 = 0
    nonisolated(unsafe) static var cores = 1
    nonisolated(unsafe) static var dispatches: UInt64 = 0
    nonisolated(unsafe) static var preemptions: UInt64 = 0
    /// Sleepers: thread id and wake-up tick (core 0's tick count).
    nonisolated(unsafe) static var sleepers: UnsafeMutablePointer<UInt64>? = nil
    /// The first thread dispatched on `watchCore` after `watch(core:)`.
    nonisolated(unsafe) static var watchCore = -1
    nonisolated(unsafe) static var watchedPick = -1
    /// Pinned threads the scheduler dispatched on another core (must stay 0).
    nonisolated(unsafe) static var affinityViolations = 0

    @inline(__always) static var p: UnsafeMutablePointer<SchedulerPolicy> { policy.unsafelyUnwrapped }
    @inline(__always) static func thread(_ id: Int) -> UnsafeMutablePointer<KThread> { threads.unsafelyUnwrapped + id }

    /// Policy, thread table and stacks; the boot context becomes thread 0
    /// (priority 2, pinned to core 0) and core 0 gets an idle thread.
    static func initialize(cores count: Int) {
        cores = count
        let policyBytes = SchedulerPolicy.storageSize(capacity: capacity, cores: PerCPU.maxCPUs)
        let tableBytes = MemoryLayout<KThread>.stride * capacity
        let sleeperBytes = maxSleepers * 16
        let total = MemoryLayout<SchedulerPolicy>.stride + policyBytes + tableBytes + sleeperBytes
        guard let block = KernelMemory.heap!.allocate(size: total, alignment: 64) else {
            panic("threads: no heap for the scheduler")
        }
        let raw = UnsafeMutableRawPointer(bitPattern: UInt(block))!
        let storage = raw + MemoryLayout<SchedulerPolicy>.stride
        policy = raw.bindMemory(to: SchedulerPolicy.self, capacity: 1)
        policy!.initialize(to: SchedulerPolicy(storage: storage, capacity: capacity, cores: count))
        threads = (storage + policyBytes).bindMemory(to: KThread.self, capacity: capacity)
        threads!.initialize(repeating: KThread(), count: capacity)
        sleepers = (storage + policyBytes + tableBytes).bindMemory(to: UInt64.self, capacity: maxSleepers * 2)
        sleepers!.initialize(repeating: UInt64.max, count: maxSleepers * 2)
        guard let stacks = KernelMemory.frames!.allocate(count: capacity * Int(stackBytes / 4096)) else {
            panic("threads: no frames for the kernel stacks")
        }
        stackPool = stacks
        guard let boot = p.pointee.adoptRunning(priority: 2, pinnedTo: 0, core: 0) else {
            panic("threads: cannot adopt the boot thread")
        }
        PerCPU.block(0)[PerCPU.current] = UInt64(boot)
        thread(boot).pointee.dispatchCPUs = 1
        guard let idle = spawn(idleLoop, argument: 0, priority: SchedulerPolicy.idlePriority, pinned: 0) else {
            panic("threads: cannot spawn core 0's idle thread")
        }
        PerCPU.block(0)[PerCPU.idle] = UInt64(idle)
        PerCPU.block(0)[PerCPU.slice] = sliceTicks
    }

    /// A new kernel thread running `body(argument)`; nil if no id is left.
    static func spawn(_ body: ThreadBody, argument: UInt64, priority: Int, pinned: Int?) -> Int? {
        let flags = Locks.scheduler.acquire()
        let here = arch_cpu()
        guard let id = p.pointee.spawn(priority: priority, pinnedTo: pinned, core: here) else {
            Locks.scheduler.release(flags)
            return nil
        }
        let t = thread(id)
        let top = stackPool + UInt64(id + 1) * stackBytes
        t.pointee.stackTop = top
        t.pointee.body = UInt64(UInt(bitPattern: unsafeBitCast(body, to: UnsafeRawPointer.self)))
        t.pointee.argument = argument
        // Initial frame for arch_switch: r15 r14 r13 r12(id) rbx rbp, return address.
        let frame = UnsafeMutablePointer<UInt64>(bitPattern: UInt(top - 72))!
        frame.initialize(repeating: 0, count: 9)
        frame[3] = UInt64(id)
        frame[6] = address(of: thread_trampoline)
        t.pointee.rsp = top - 72
        kickAll()
        Locks.scheduler.release(flags)
        return id
    }

    /// Every core re-runs the scheduler at its next tick (new work may be
    /// theirs, or theirs to steal).
    static func kickAll() {
        var c = 0
        while c < cores {
            PerCPU.block(c)[PerCPU.kick] = 1
            c &+= 1
        }
    }

    static var current: Int { Int(arch_percpu()[PerCPU.current]) }

    /// With the scheduler lock held and interrupts off: run what the policy
    /// picks for this CPU (maybe the same thread). Returns after this thread
    /// is switched back in.
    static func reschedule(preempting: Bool = false) {
        let pc = arch_percpu()
        let cpu = Int(pc[PerCPU.cpu])
        let previous = Int(pc[PerCPU.current])
        guard let next = p.pointee.reschedule(core: cpu) else { panic("scheduler: nothing to run, not even idle") }
        pc[PerCPU.slice] = next == Int(pc[PerCPU.idle]) ? idleSliceTicks : sliceTicks
        if next == previous { return }
        if cpu == watchCore && watchedPick < 0 { watchedPick = next }
        dispatches &+= 1
        if preempting { preemptions &+= 1 }
        let t = thread(next)
        if t.pointee.firstDispatch == 0 { t.pointee.firstDispatch = dispatches }
        t.pointee.dispatchCPUs |= 1 << UInt64(cpu)
        t.pointee.dispatches &+= 1
        if let pin = p.pointee.pinnedCore(of: next), pin != cpu { affinityViolations &+= 1 }
        pc[PerCPU.current] = UInt64(next)
        EventLog.note(1, UInt64(next))
        pc[PerCPU.switches] &+= 1
        if t.pointee.stackTop != 0 {
            UnsafeMutableRawPointer(bitPattern: UInt(pc[PerCPU.tss]))!
                .storeBytes(of: t.pointee.stackTop, toByteOffset: 4, as: UInt64.self)
        }
        arch_switch(UnsafeMutableRawPointer(thread(previous)).assumingMemoryBound(to: UInt64.self), t.pointee.rsp)
    }

    /// The timer's slow path (irq.S sends only these ticks here), interrupts off.
    static func timerTick() {
        let pc = arch_percpu()
        let flags = Locks.scheduler.acquire()
        EventLog.note(2, pc[PerCPU.ticks])
        pc[PerCPU.kick] = 0
        if pc[PerCPU.cpu] == 0 && pc[PerCPU.ticks] >= pc[PerCPU.deadline] { wakeSleepers(now: pc[PerCPU.ticks]) }
        let expired = Int64(bitPattern: pc[PerCPU.slice]) <= 0
        reschedule(preempting: expired)
        Locks.scheduler.release(flags)
    }

    /// Core 0's tick count: the kernel's clock (1 ms per tick).
    static var ticks: UInt64 { PerCPU.block(0)[PerCPU.ticks] }

    // MARK: - Blocking

    static func yield() {
        let flags = Locks.scheduler.acquire()
        reschedule()
        Locks.scheduler.release(flags)
    }

    /// Blocks the calling thread for `count` ticks.
    static func sleep(ticks count: UInt64) {
        let flags = Locks.scheduler.acquire()
        let me = current
        let wake = ticks &+ max(count, 1)
        var i = 0
        while i < maxSleepers && sleepers.unsafelyUnwrapped[i * 2] != UInt64.max { i &+= 1 }
        guard i < maxSleepers else { panic("scheduler: too many sleepers") }
        sleepers.unsafelyUnwrapped[i * 2] = UInt64(me)
        sleepers.unsafelyUnwrapped[i * 2 + 1] = wake
        let core0 = PerCPU.block(0)
        if wake < core0[PerCPU.deadline] { core0[PerCPU.deadline] = wake }
        p.pointee.block(me)
        reschedule()
        Locks.scheduler.release(flags)
    }

    /// Lock held: wakes every sleeper that is due, recomputes the deadline.
    static func wakeSleepers(now: UInt64) {
        var earliest = UInt64.max
        var i = 0
        let s = sleepers.unsafelyUnwrapped
        while i < maxSleepers {
            let id = s[i * 2]
            if id != UInt64.max {
                if s[i * 2 + 1] <= now {
                    p.pointee.wake(Int(id))
                    kick(core: p.pointee.core(of: Int(id)))
                    s[i * 2] = UInt64.max
                } else if s[i * 2 + 1] < earliest {
                    earliest = s[i * 2 + 1]
                }
            }
            i &+= 1
        }
        PerCPU.block(0)[PerCPU.deadline] = earliest
    }

    /// Blocks until thread `id` has exited (its exit wakes us).
    static func join(_ id: Int) {
        let flags = Locks.scheduler.acquire()
        if p.pointee.state(of: id) != .dead {
            let me = current
            thread(id).pointee.joiner = Int64(me)
            p.pointee.block(me)
            reschedule()
        }
        Locks.scheduler.release(flags)
    }

    /// Ends the calling thread (waking its joiner, if any).
    static func exitCurrent() -> Never {
        _ = Locks.scheduler.acquire()
        let me = current
        EventLog.note(5, 0)
        p.pointee.exit(me)
        let joiner = thread(me).pointee.joiner
        if joiner >= 0 {
            p.pointee.wake(Int(joiner))
            kick(core: p.pointee.core(of: Int(joiner)))
        }
        reschedule()
        panic("scheduler: a dead thread was run again")
    }

    /// Core `core` re-runs the scheduler at its next tick.
    static func kick(core: Int) { PerCPU.block(core)[PerCPU.kick] = 1 }

    /// Sets up recording of the first thread `core` runs from now on.
    static func watch(core: Int) {
        watchedPick = -1
        watchCore = core
    }

    // MARK: - Statistics

    struct Snapshot {
        var counts = SchedulerCounts()
        var created = 0
        var ticks: UInt64 = 0
        var switches: UInt64 = 0
        var preemptions: UInt64 = 0
        var interruptsOn = false
    }

    /// One consistent copy of the scheduler's numbers, taken under the
    /// interrupt-safe lock (an interrupt on this CPU cannot deadlock on it:
    /// interrupts are off while it is held). Printing happens outside.
    static func snapshot() -> Snapshot {
        var s = Snapshot()
        s.interruptsOn = arch_flags() & 0x200 != 0
        let flags = Locks.scheduler.acquire()
        s.counts = p.pointee.counts
        s.created = p.pointee.created
        s.ticks = ticks
        var c = 0
        while c < cores {
            s.switches &+= PerCPU.block(c)[PerCPU.switches]
            c &+= 1
        }
        s.preemptions = preemptions
        Locks.scheduler.release(flags)
        return s
    }
}

/// A new thread's first Swift code (irq.S thread_trampoline): release the
/// scheduler lock its creator's switch held, interrupts on, run the body.
@c(os3_thread_start)
func os3_thread_start(_ id: UInt64) {
    Locks.scheduler.releaseWord()
    arch_sti()
    let t = Sched.thread(Int(id))
    let body = unsafeBitCast(UnsafeRawPointer(bitPattern: UInt(t.pointee.body))!, to: ThreadBody.self)
    body(t.pointee.argument)
    Sched.exitCurrent()
}

/// Idle: halt until the next interrupt, forever (the timer preempts it).
func idleLoop(_ argument: UInt64) {
    while true { arch_sti_hlt() }
}
