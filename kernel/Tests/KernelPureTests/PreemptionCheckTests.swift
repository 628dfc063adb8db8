import Testing
@testable import KernelPure

/// Core 0 of the `tiny` lane (one CPU) as the kernel drives it: the timer's
/// fast path (irq.S: count, slice down, slow path on an expired slice, a kick
/// or the sleepers' deadline) and Threads.swift's slow path, sleep and
/// dispatch, over the real `SchedulerPolicy`. The preemption check's boot
/// thread runs Multitasking.preemption's loop against `PreemptionCheck`.
///
/// The host is the `cut` closure: it decides, per dispatch of a busy thread,
/// whether the tick that ends the run arrives before the thread executes one
/// iteration (the probe saw exactly that: a tick pending while the dispatch
/// ran with interrupts off, taken right after `sti`).
struct CoreZeroModel {
    var sliceTicks: Int64 = 2  // Sched.sliceTicks
    var priorityB = 2
    var cut: (_ isA: Bool, _ run: UInt64) -> Bool = { _, _ in false }

    struct Outcome {
        var verdict: PreemptionVerdict
        var polls = 0
        /// The counts at the first poll: where the old check decided.
        var firstPoll: (a: BusyThreadCounts, b: BusyThreadCounts, preemptions: UInt64)
        var last: (a: BusyThreadCounts, b: BusyThreadCounts)
    }

    func run(_ check: PreemptionCheck = PreemptionCheck()) -> Outcome? {
        let box = PolicyBox(capacity: 8, cores: 1)
        let boot = box.policy.adoptRunning(priority: 2, pinnedTo: 0, core: 0)!
        let idle = box.policy.spawn(priority: 0, pinnedTo: 0, core: 0)!
        var current = boot, slice = sliceTicks, kick = false
        var ticks: UInt64 = 0, deadline = UInt64.max
        var preemptions: UInt64 = 0
        var dispatches = [UInt64](repeating: 0, count: 8), work = [UInt64](repeating: 0, count: 8)
        let a = box.policy.spawn(priority: 2, pinnedTo: 0, core: 0)!
        let b = box.policy.spawn(priority: priorityB, pinnedTo: 0, core: 0)!
        kick = true  // Sched.spawn kicks every core
        let start = ticks

        func reschedule(preempting: Bool) {
            let next = box.policy.reschedule(core: 0)!
            slice = next == idle ? 8 : sliceTicks
            guard next != current else { return }
            dispatches[next] += 1
            if preempting { preemptions += 1 }
            current = next
            if next == a || next == b, !cut(next == a, dispatches[next]) { work[next] += 1 }
        }
        func sleep(_ count: UInt64) {
            deadline = min(deadline, ticks + count)
            box.policy.block(boot)
            reschedule(preempting: false)
            var guardTicks = 0
            while current != boot {  // ticks until the boot thread runs again
                ticks += 1
                slice -= 1
                guardTicks += 1
                if guardTicks > 100_000 { return }
                guard slice <= 0 || kick || ticks >= deadline else { continue }
                kick = false
                if ticks >= deadline {
                    box.policy.wake(boot)
                    kick = true
                    deadline = .max
                }
                reschedule(preempting: slice <= 0)
            }
        }
        func counts(_ id: Int) -> BusyThreadCounts { BusyThreadCounts(dispatches: dispatches[id], work: work[id]) }

        // Multitasking.preemption: sleep, statistics, then poll until decided.
        sleep(3)
        var first: (BusyThreadCounts, BusyThreadCounts, UInt64)? = nil
        var polls = 0
        while true {
            sleep(3)
            guard current == boot else { return nil }  // the boot thread never woke
            polls += 1
            if first == nil { first = (counts(a), counts(b), preemptions) }
            let verdict = check.judge(a: counts(a), b: counts(b), preemptions: preemptions, ticks: ticks - start)
            if verdict != .wait {
                return Outcome(verdict: verdict, polls: polls, firstPoll: first!, last: (counts(a), counts(b)))
            }
        }
    }
}

@Suite("Preemption check: decided by scheduler events, not by a window of ticks")
struct PreemptionCheckTests {
    @Test("In the first window the busy thread a gets three runs of one tick each (the probe saw runs-a=3, runs-b=3 in every boot)")
    func windowStructure() {
        let outcome = CoreZeroModel().run()!
        #expect(outcome.verdict == .passed)
        #expect(outcome.polls == 1)
        #expect(outcome.firstPoll.a.dispatches == 3)
        #expect(outcome.firstPoll.b.dispatches == 3)
        #expect(outcome.firstPoll.preemptions == 2)
    }

    @Test("The flake: a's three one-tick runs all cut short by the host is not a failure; the check waits and passes")
    func flakeScheduleWaitsAndPasses() {
        // The host schedule behind `preemption: a busy thread never ran`: every
        // run of a before the old decision point ended before its first iteration.
        let model = CoreZeroModel(cut: { isA, run in isA && run <= 3 })
        let outcome = model.run()!
        #expect(outcome.firstPoll.a.work == 0)  // where the old check panicked
        #expect(outcome.verdict == .passed)
        #expect(outcome.polls > 1)
    }

    @Test("Any host that cuts fewer than runLimit runs of each thread in a row from the start: the check passes")
    func everyBoundedCutPasses() {
        let limit = PreemptionCheck.runLimit
        for cutA in stride(from: UInt64(0), to: limit, by: 1) {
            for cutB in [0, 1, 3, limit / 2, limit - 1] {
                let outcome = CoreZeroModel(cut: { isA, run in run <= (isA ? cutA : cutB) }).run()
                #expect(outcome?.verdict == .passed, "cut a \(cutA), b \(cutB)")
            }
        }
    }

    @Test("Random hosts cutting each run with probability 1/2: the check passes (a false failure needs runLimit cuts in a row)")
    func randomCutsPass() {
        for seed in UInt64(0)..<300 {
            var random = SplitMix64(seed: seed)
            var draws: [Bool: [Bool]] = [true: [], false: []]
            for _ in 0..<400 {
                draws[true]!.append(random.next() & 1 == 0)
                draws[false]!.append(random.next() & 1 == 0)
            }
            let table = draws
            let outcome = CoreZeroModel(cut: { isA, run in table[isA]![Int(run - 1) % 400] }).run()
            #expect(outcome?.verdict == .passed, "seed \(seed)")
        }
    }

    @Test("A thread the scheduler dispatches but that never runs is still caught, at the first poll after runLimit dispatches")
    func neverRunsIsCaught() {
        let outcome = CoreZeroModel(cut: { isA, _ in !isA }).run()!
        #expect(outcome.verdict == .neverRan)
        #expect(outcome.last.b.work == 0)
        #expect(outcome.last.b.dispatches >= PreemptionCheck.runLimit)
        #expect(outcome.last.b.dispatches < PreemptionCheck.runLimit + 3)
    }

    @Test("A starved thread (b at a lower priority than the busy a) is caught as never dispatched")
    func starvationIsCaught() {
        let outcome = CoreZeroModel(priorityB: 1).run()!
        #expect(outcome.verdict == .neverDispatched)
    }

    @Test("Slices that never expire (switches only when the boot thread wakes) are caught as not preempted")
    func noSliceExpiryIsCaught() {
        let outcome = CoreZeroModel(sliceTicks: 1 << 40).run()!
        #expect(outcome.verdict == .notPreempted)
    }

    @Test("judge: the rules on hand-made counts")
    func judgeRules() {
        let check = PreemptionCheck()
        let limit = PreemptionCheck.runLimit
        func c(_ d: UInt64, _ w: UInt64) -> BusyThreadCounts { BusyThreadCounts(dispatches: d, work: w) }
        #expect(check.judge(a: c(3, 5), b: c(3, 7), preemptions: 2, ticks: 8) == .passed)
        // The probe's failing boot at the old decision point: undecided, not failed.
        #expect(check.judge(a: c(3, 0), b: c(3, 48499), preemptions: 2, ticks: 8) == .wait)
        #expect(check.judge(a: c(limit - 1, 0), b: c(limit, 9), preemptions: 20, ticks: 90) == .wait)
        #expect(check.judge(a: c(limit, 0), b: c(limit, 9), preemptions: 20, ticks: 90) == .neverRan)
        #expect(check.judge(a: c(0, 0), b: c(limit, 9), preemptions: 20, ticks: 90) == .neverDispatched)
        #expect(check.judge(a: c(5, 1), b: c(5, 1), preemptions: 1, ticks: 30) == .wait)
        #expect(check.judge(a: c(limit, 1), b: c(limit, 1), preemptions: 1, ticks: 200) == .notPreempted)
        // Nothing dispatched at all: only the tick backstop decides.
        #expect(check.judge(a: c(0, 0), b: c(0, 0), preemptions: 0, ticks: PreemptionCheck.tickLimit - 1) == .wait)
        #expect(check.judge(a: c(0, 0), b: c(0, 0), preemptions: 0, ticks: PreemptionCheck.tickLimit) == .neverDispatched)
    }
}
