/// The search of `os3ctl bisect`, as pure logic: which commit to test next, what a step's outcome
/// does to the search, and what the search may conclude. Nothing here boots or runs git.
///
/// The commits are the first-parent chain from `--good` (exclusive) to `--bad` (inclusive), oldest
/// first; index -1 stands for `--good`. The search keeps `lo`, the newest commit decided not flaky
/// (-1: good), and `hi`, the oldest decided flaky (the last index: bad). The first flaky commit is in
/// lo+1...hi; a commit that could not be built (skipped) or whose step stayed undecided gives no
/// decision, and the search goes around it as `git bisect skip` does.
public struct Bisection: Sendable, Equatable {
    /// What one step concluded about one commit.
    public enum Mark: String, Sendable, Codable, Equatable {
        /// The sequential test decided "rate ≥ p1".
        case flaky
        /// The sequential test decided "rate ≤ p0".
        case notFlaky = "not-flaky"
        /// The commit could not be built or tested (its build failed, its lane or markers are missing or invalid).
        case skipped
        /// The sequential test reached its cap without deciding: no decision, treated as a skip.
        case undecided
    }

    /// What the search concluded (or that it goes on).
    public enum Outcome: Sendable, Equatable {
        /// Another commit is to be tested: `next`.
        case searching(next: Int)
        /// The first flaky commit, decided on both sides (its parent on the chain not flaky).
        case found(Int)
        /// Only skipped or undecided commits separate the last not-flaky commit from the first flaky
        /// one: the first flaky commit is one of these (oldest first; the last one was decided flaky).
        case ambiguous([Int])
    }

    public let count: Int
    public private(set) var lo = -1
    public private(set) var hi: Int
    public private(set) var marks: [Int: Mark] = [:]

    /// `count` commits after `--good`, the last being `--bad` (already decided flaky).
    public init(count: Int) {
        precondition(count > 0, "a bisection needs at least the bad commit")
        self.count = count
        self.hi = count - 1
        self.marks[count - 1] = .flaky
    }

    /// Records a step's outcome at `index` (a commit between lo and hi, as `next` chose).
    public mutating func mark(_ index: Int, _ mark: Mark) {
        precondition(index > lo && index < hi, "only a commit between the last not-flaky and the first flaky one is tested")
        marks[index] = mark
        switch mark {
        case .flaky: hi = index
        case .notFlaky: lo = index
        case .skipped, .undecided: break
        }
    }

    /// The untested commit that best halves the candidates lo+1...hi: testing i leaves i - lo
    /// candidates if it is flaky and hi - i if not, so the smallest worst case, the older on a tie.
    /// nil when every commit between lo and hi has been tried.
    public var next: Int? {
        var best: Int?
        var bestCost = Int.max
        for i in (lo + 1)..<hi where marks[i] == nil {
            let cost = max(i - lo, hi - i)
            if cost < bestCost { best = i; bestCost = cost }
        }
        return best
    }

    public var outcome: Outcome {
        if let next { return .searching(next: next) }
        if hi == lo + 1 { return .found(hi) }
        return .ambiguous(Array((lo + 1)...hi))
    }

    /// The most decisions a search over `count` commits takes without skips or undecided steps:
    /// the two confirmations and ⌈log2 count⌉ halvings.
    public static func decisionsWithoutSkips(count: Int) -> Int {
        var steps = 0, span = count
        while span > 1 { span = (span + 1) / 2; steps += 1 }
        return 2 + steps
    }
}

/// How far the search's answer can be trusted: every decision of a sequential test between
/// "rate ≤ p0" and "rate ≥ p1" is wrong with probability at most Wald's bounds, α/(1−β) for a
/// commit at rate ≤ p0 and β/(1−α) for one at ≥ p1 (α, β the nominal error rates). The answer
/// is wrong only if some decision was, so by the union bound its error is at most the sum of the
/// decisions' bounds, whatever their dependence (the same seeds are used at every commit).
/// Skipped and undecided steps decide nothing, so add nothing; they can only widen the answer.
/// A commit whose rate lies between p0 and p1 may be decided either way: no bound covers it.
public struct BisectErrorBound: Sendable, Codable, Equatable {
    public var alpha: Double
    public var beta: Double
    /// The decisions the search took (confirmations included).
    public var decisions: Int
    /// max(α/(1−β), β/(1−α)): one decision's bound, whichever side the truth is on.
    public var perDecision: Double
    /// min(1, decisions × perDecision).
    public var total: Double

    public init(alpha: Double, beta: Double, decisions: Int) {
        self.alpha = alpha
        self.beta = beta
        self.decisions = decisions
        self.perDecision = Self.perDecision(alpha: alpha, beta: beta)
        self.total = min(1, Double(decisions) * perDecision)
    }

    public static func perDecision(alpha: Double, beta: Double) -> Double {
        max(alpha / (1 - beta), beta / (1 - alpha))
    }
}

/// One step's sequential test, fed in run order (so one seed gives one decision at any `--jobs`):
/// run i counts only once every earlier run is in. Runs that are no evidence about the kernel (an
/// infrastructure error, a skipped or interrupted boot) are never counted as failures: they are
/// left out and retried with the next run index, up to `maxExcluded` of them. The step ends when
/// the test decides, after `maxRuns` counted runs, or after `maxExcluded` excluded ones.
public struct BisectStepTest: Sendable, Equatable {
    public enum Outcome: Sendable, Equatable { case passed, failed, excluded }

    public enum End: String, Sendable, Codable, Equatable {
        case decided
        /// `maxRuns` counted runs without a decision.
        case cap
        /// Too many runs were no evidence (infrastructure errors, skipped boots).
        case excludedCap = "excluded-cap"
    }

    public private(set) var test: SPRT
    public let maxRuns: Int
    public let maxExcluded: Int
    /// Runs 0..<consumed have been taken in order (counted or excluded).
    public private(set) var consumed = 0
    public private(set) var excluded = 0
    /// Runs that finished after the step had ended: real boots, not used by the test.
    public private(set) var afterEnd = 0
    private var pending: [Int: Outcome] = [:]

    public init(_ test: SPRT, maxRuns: Int, maxExcluded: Int) {
        precondition(maxRuns > 0 && maxExcluded >= 0)
        self.test = test
        self.maxRuns = maxRuns
        self.maxExcluded = maxExcluded
    }

    public var end: End? {
        if test.decision != .undecided { return .decided }
        if test.runs >= maxRuns { return .cap }
        if excluded > maxExcluded { return .excludedCap }
        return nil
    }

    /// Whether another run is worth starting.
    public var wantsMore: Bool { end == nil }

    public mutating func add(index: Int, _ outcome: Outcome) {
        guard end == nil, index >= consumed else { afterEnd += 1; return }
        pending[index] = outcome
        while end == nil, let next = pending.removeValue(forKey: consumed) {
            consumed += 1
            if next == .excluded { excluded += 1 } else { test.record(failed: next == .failed) }
        }
        if end != nil {
            afterEnd += pending.count
            pending.removeAll()
        }
    }

    /// The step's mark for the search: the test's decision, or undecided.
    public var mark: Bisection.Mark {
        switch test.decision {
        case .atLeastP1: .flaky
        case .atMostP0: .notFlaky
        case .undecided: .undecided
        }
    }
}
