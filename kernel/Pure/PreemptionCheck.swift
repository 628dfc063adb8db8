// PreemptionCheck.swift — the decision of the kernel's preemption check
// (Kernel/Multitasking.swift), as pure logic so the host tests can drive it.
//
// The check: two busy threads that never yield, pinned to one core with the
// boot thread asleep, so only the timer can move the CPU between them. The
// boot thread wakes every few ticks, observes the scheduler's counts and
// asks `judge` whether the property holds yet.

/// What the scheduler did for one busy thread so far.
public struct BusyThreadCounts: Equatable, Sendable {
    /// Times the scheduler switched to it.
    public var dispatches: UInt64
    /// Iterations its body completed.
    public var work: UInt64
    public init(dispatches: UInt64, work: UInt64) {
        self.dispatches = dispatches
        self.work = work
    }
}

public enum PreemptionVerdict: Equatable, Sendable {
    /// Not decided yet: sleep and look again.
    case wait
    /// Both threads did work and the timer preempted them at least twice.
    case passed
    /// The scheduler dispatched one thread again and again, never the other.
    case neverDispatched
    /// A thread was dispatched but its body never did any work.
    case neverRan
    /// The busy threads ran but no slice ever expired into a switch.
    case notPreempted
}

public struct PreemptionCheck: Sendable {
    /// Dispatches of one thread without any work before it "never ran". A
    /// run can legitimately do nothing: the tick that ends it may already be
    /// pending when the dispatch (interrupts off) finishes, when the host
    /// descheduled the vCPU. The probe saw that in about half of the boots
    /// for a's first run; a false failure needs this many in a row.
    public static let runLimit: UInt64 = 32
    /// Backstop in timer ticks since the spawn, for when neither thread is
    /// dispatched at all (nothing else then moves the other limits).
    public static let tickLimit: UInt64 = 2000

    public init() {}

    /// One look at the counts (`ticks`: timer ticks since the threads were
    /// spawned). Decided by what the scheduler did, never by how long it took:
    /// passed as soon as the property holds, failed only when the scheduler
    /// had `runLimit` chances to show it and did not.
    public func judge(a: BusyThreadCounts, b: BusyThreadCounts, preemptions: UInt64, ticks: UInt64) -> PreemptionVerdict {
        if a.work > 0 && b.work > 0 && preemptions >= 2 { return .passed }
        let limit = PreemptionCheck.runLimit
        if (a.work == 0 && a.dispatches >= limit) || (b.work == 0 && b.dispatches >= limit) { return .neverRan }
        if (a.dispatches == 0 && b.dispatches >= limit) || (b.dispatches == 0 && a.dispatches >= limit) {
            return .neverDispatched
        }
        if a.dispatches &+ b.dispatches >= 2 &* limit && preemptions < 2 { return .notPreempted }
        guard ticks >= PreemptionCheck.tickLimit else { return .wait }
        if a.dispatches == 0 || b.dispatches == 0 { return .neverDispatched }
        if a.work == 0 || b.work == 0 { return .neverRan }
        return .notPreempted
    }
}
