import Testing
@testable import OS3Core

@Suite("bisect: the search, its steps and its error bound")
struct BisectionTests {
    /// Runs a search against a truth: commits at index >= `firstFlaky` are flaky; `untestable`
    /// ones are skipped. Returns the outcome and the commits tested, in order.
    static func search(count: Int, firstFlaky: Int, untestable: Set<Int> = []) -> (Bisection.Outcome, [Int]) {
        var b = Bisection(count: count)
        var tested: [Int] = []
        while case .searching(let i) = b.outcome {
            tested.append(i)
            b.mark(i, untestable.contains(i) ? .skipped : (i >= firstFlaky ? .flaky : .notFlaky))
        }
        return (b.outcome, tested)
    }

    @Test("names the first flaky commit for every chain length up to 40 and every position of the flake, within 2 + ⌈log2 n⌉ decisions")
    func findsEveryPosition() {
        for count in 1...40 {
            for first in 0..<count {
                let (outcome, tested) = Self.search(count: count, firstFlaky: first)
                #expect(outcome == .found(first), "count \(count), first flaky \(first)")
                #expect(tested.count + 2 <= Bisection.decisionsWithoutSkips(count: count), "count \(count): \(tested)")
                #expect(Set(tested).count == tested.count, "no commit is tested twice")
            }
        }
    }

    @Test("the bound on decisions: 1 commit needs only the confirmations, 2 one halving, 16 four, 17 five")
    func decisionCounts() {
        #expect(Bisection.decisionsWithoutSkips(count: 1) == 2)
        #expect(Bisection.decisionsWithoutSkips(count: 2) == 3)
        #expect(Bisection.decisionsWithoutSkips(count: 16) == 6)
        #expect(Bisection.decisionsWithoutSkips(count: 17) == 7)
    }

    @Test("the first step halves the candidates; on a tie the older commit is tested")
    func halves() {
        #expect(Bisection(count: 5).next == 1)  // candidates 0...4: testing 1 leaves 2 or 3, testing 2 leaves 3 or 2
        #expect(Bisection(count: 7).next == 2)
        #expect(Bisection(count: 2).next == 0)
        #expect(Bisection(count: 1).next == nil)
        #expect(Bisection(count: 1).outcome == .found(0))
    }

    @Test("a commit that cannot be built is skipped and the search goes around it to the right answer")
    func skipsAround() {
        let (outcome, tested) = Self.search(count: 5, firstFlaky: 3, untestable: [1])
        #expect(outcome == .found(3))
        #expect(tested == [1, 2, 3])
    }

    @Test("when only skipped commits separate not-flaky from flaky, the answer is every candidate, oldest first, the flaky one last")
    func ambiguous() {
        let (outcome, _) = Self.search(count: 6, firstFlaky: 3, untestable: [2])
        #expect(outcome == .ambiguous([2, 3]))
        let (all, tested) = Self.search(count: 4, firstFlaky: 1, untestable: [0, 1, 2])
        #expect(all == .ambiguous([0, 1, 2, 3]))
        #expect(Set(tested) == [0, 1, 2])
    }

    @Test("an undecided step is treated like a skip: no decision, the search goes around it")
    func undecidedIsASkip() {
        var b = Bisection(count: 4)
        #expect(b.next == 1)
        b.mark(1, .undecided)
        #expect(b.lo == -1 && b.hi == 3)
        #expect(b.next == 0)
        b.mark(0, .notFlaky)
        #expect(b.next == 2)
        var flakyAt2 = b
        b.mark(2, .notFlaky)
        #expect(b.outcome == .found(3))
        flakyAt2.mark(2, .flaky)
        #expect(flakyAt2.outcome == .ambiguous([1, 2]))
    }

    @Test("each decision's bound is Wald's max(α/(1−β), β/(1−α)); the search's is their sum, at most 1")
    func errorBound() {
        let b = BisectErrorBound(alpha: 0.05, beta: 0.05, decisions: 4)
        #expect(abs(b.perDecision - 0.05 / 0.95) < 1e-12)
        #expect(abs(b.total - 4 * 0.05 / 0.95) < 1e-12)
        let skewed = BisectErrorBound(alpha: 0.01, beta: 0.1, decisions: 3)
        #expect(abs(skewed.perDecision - 0.1 / 0.99) < 1e-12)
        #expect(BisectErrorBound(alpha: 0.2, beta: 0.2, decisions: 10).total == 1)
        #expect(BisectErrorBound(alpha: 0.05, beta: 0.05, decisions: 0).total == 0)
    }

    @Test("a step's infrastructure errors are never failures: left out and retried, and the decision is the one the real runs give")
    func excludedRunsAreRetried() {
        let sprt = SPRT(p0: 0.02, p1: 0.2)
        var clean = BisectStepTest(sprt, maxRuns: 200, maxExcluded: 20)
        var withErrors = BisectStepTest(sprt, maxRuns: 200, maxExcluded: 20)
        var index = 0
        for _ in 0..<15 {
            clean.add(index: clean.consumed, .passed)
            withErrors.add(index: index, .excluded)
            withErrors.add(index: index + 1, .passed)
            index += 2
        }
        #expect(clean.mark == .notFlaky && clean.test.runs == 15)
        #expect(withErrors.mark == .notFlaky)
        #expect(withErrors.test.runs == 15 && withErrors.test.failures == 0 && withErrors.excluded == 15)
    }

    @Test("a step takes its runs in run order: any arrival order gives the same decision at the same run")
    func runOrder() {
        let outcomes: [BisectStepTest.Outcome] = [.passed, .failed, .excluded, .passed, .failed, .failed, .passed, .passed, .failed, .passed]
        var inOrder = BisectStepTest(SPRT(p0: 0.02, p1: 0.2), maxRuns: 50, maxExcluded: 5)
        for (i, o) in outcomes.enumerated() { inOrder.add(index: i, o) }
        var rng = SplitMix64(seed: 42)
        for _ in 0..<50 {
            var shuffled = BisectStepTest(SPRT(p0: 0.02, p1: 0.2), maxRuns: 50, maxExcluded: 5)
            for i in Array(outcomes.indices).shuffled(using: &rng) { shuffled.add(index: i, outcomes[i]) }
            #expect(shuffled.mark == inOrder.mark)
            #expect(shuffled.test == inOrder.test)
            #expect(shuffled.consumed == inOrder.consumed)
            #expect(shuffled.afterEnd == outcomes.count - inOrder.consumed)
        }
        #expect(inOrder.mark == .flaky)
    }

    @Test("a step ends undecided at its cap of counted runs, or when too many runs were no evidence")
    func caps() {
        var capped = BisectStepTest(SPRT(p0: 0.02, p1: 0.2), maxRuns: 6, maxExcluded: 3)
        for i in 0..<6 { capped.add(index: i, i == 2 ? .failed : .passed) }
        #expect(capped.end == .cap && capped.mark == .undecided && !capped.wantsMore)
        capped.add(index: 6, .failed)
        #expect(capped.test.runs == 6 && capped.afterEnd == 1)

        var broken = BisectStepTest(SPRT(p0: 0.02, p1: 0.2), maxRuns: 100, maxExcluded: 3)
        for i in 0..<3 { broken.add(index: i, .excluded) }
        #expect(broken.wantsMore)
        broken.add(index: 3, .excluded)
        #expect(broken.end == .excludedCap && broken.mark == .undecided && broken.test.runs == 0)
    }

    /// Whole searches simulated with boots drawn at rate p0 before the flake and p1 from it on (the
    /// worst case the bound covers): the frequency of a wrong answer must stay below the union bound.
    @Test("simulated searches at the worst-case rates are wrong less often than the stated bound")
    func simulatedErrorRate() {
        let p0 = 0.02, p1 = 0.2, alpha = 0.05, beta = 0.05
        var rng = SplitMix64(seed: 2026)
        var wrong = 0, boundSum = 0.0
        let trials = 1500, count = 12
        for trial in 0..<trials {
            let first = trial % count
            func step(_ index: Int) -> Bisection.Mark {  // index -1: good
                var t = BisectStepTest(SPRT(p0: p0, p1: p1, alpha: alpha, beta: beta), maxRuns: 10_000, maxExcluded: 0)
                let rate = index >= first ? p1 : p0
                while t.wantsMore { t.add(index: t.consumed, rng.nextDouble() < rate ? .failed : .passed) }
                return t.mark
            }
            var decisions = 2
            guard step(count - 1) == .flaky, step(-1) == .notFlaky else { wrong += 1; boundSum += BisectErrorBound(alpha: alpha, beta: beta, decisions: 2).total; continue }
            var b = Bisection(count: count)
            while case .searching(let i) = b.outcome { b.mark(i, step(i)); decisions += 1 }
            if b.outcome != .found(first) { wrong += 1 }
            boundSum += BisectErrorBound(alpha: alpha, beta: beta, decisions: decisions).total
        }
        let observed = Double(wrong) / Double(trials), meanBound = boundSum / Double(trials)
        // 1500 trials: the observed frequency's standard error is at most 1.3 points; the bound is ~30%.
        #expect(observed < meanBound, "wrong \(wrong) of \(trials) (\(observed)); mean bound \(meanBound)")
        #expect(wrong > 0, "at the boundary rates some searches must go wrong, or the simulation tests nothing")
    }

    @Test("the summary's stdout begins with the full hash alone on a line, then the subject; without an answer it begins with the message")
    func summaryText() {
        let bad = String(repeating: "b", count: 40), good = String(repeating: "a", count: 40), mid = String(repeating: "c", count: 40)
        let steps = [
            BisectStep(role: .confirmBad, commit: bad, subject: "later", mark: .flaky, runs: 3, failures: 2, end: .decided),
            BisectStep(role: .confirmGood, commit: good, subject: "base", mark: .notFlaky, runs: 15, end: .decided),
            BisectStep(role: .search, commit: mid, subject: "add the flake", mark: .flaky, runs: 4, failures: 2, end: .decided),
        ]
        let found = BisectSummary(lane: "tiny", good: good, bad: bad, commits: 2, p0: 0.02, p1: 0.2, alpha: 0.05, beta: 0.05, maxRuns: 200, baseSeed: 1,
                                  steps: steps, conclusion: BisectConclusion(status: .found, firstFlaky: mid, message: "the first flaky commit is c"))
        let lines = found.text().split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines[0] == mid)
        #expect(lines[1] == "add the flake")
        #expect(found.errorBound.decisions == 3)
        #expect(found.text().contains("3 decision(s)") && found.text().contains("≤ 15.8%"))

        let stopped = BisectSummary(lane: "tiny", good: good, bad: bad, commits: 2, p0: 0.02, p1: 0.2, alpha: 0.05, beta: 0.05, maxRuns: 200, baseSeed: 1,
                                    steps: Array(steps.prefix(2)), conclusion: BisectConclusion(status: .goodNotClean, message: "--good is already flaky"))
        #expect(stopped.text().hasPrefix("bisect: --good is already flaky"))
        #expect(!stopped.text().contains(mid))
    }

    @Test("a boot counts as a failure only when the kernel was booted and judged")
    func bootOutcomes() {
        #expect(BisectBoot.outcome(.pass) == .passed)
        #expect(BisectBoot.outcome(.infraError) == .excluded)
        #expect(BisectBoot.outcome(.skipped) == .excluded)
        #expect(BisectBoot.outcome(.interrupted) == .excluded)
        #expect(BisectBoot.outcome(.forbiddenMarker) == .failed)
        #expect(BisectBoot.outcome(.timeout) == .failed)
    }
}
