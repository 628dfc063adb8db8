/// What `os3ctl bisect` measured and concluded, and how it reads (stdout, bisect.json, --report).
/// Pure: built by the command from its steps, rendered here.

/// One boot of a step.
public struct BisectBoot: Sendable, Codable, Equatable {
    public var index: Int
    /// The seed as a string (JSON numbers lose 64-bit precision).
    public var seed: String
    public var verdict: String
    public var detail: String
    public var duration: Double
    public var serialLog: String
    /// Whether the test counted it as a pass or a failure, or left it out as no evidence.
    public var counts: Counts

    public init(index: Int, seed: UInt64, record: RunRecord) {
        self.index = index
        self.seed = String(seed)
        self.verdict = record.verdict.kind.rawValue
        self.detail = record.verdict.detail
        self.duration = record.duration
        self.serialLog = record.serialLog
        self.counts = Self.outcome(record.verdict.kind)
    }

    public enum Counts: String, Sendable, Codable, Equatable { case passed, failed, excluded }

    /// A boot is evidence only when the kernel was really booted and judged: an infrastructure
    /// error, a skipped or an interrupted boot says nothing about the commit.
    public static func outcome(_ kind: VerdictKind) -> Counts {
        switch kind {
        case .pass: .passed
        case .infraError, .skipped, .interrupted: .excluded
        default: .failed
        }
    }
}

/// One commit tested (or skipped) by the search.
public struct BisectStep: Sendable, Codable, Equatable {
    public enum Role: String, Sendable, Codable { case confirmBad = "confirm-bad", confirmGood = "confirm-good", search }

    public var role: Role
    public var commit: String
    public var subject: String
    public var mark: Bisection.Mark
    /// Counted runs (fed to the test) and failures among them.
    public var runs: Int
    public var failures: Int
    /// Runs left out of the test (infrastructure errors, skipped boots), each retried.
    public var excluded: Int
    /// Runs that finished after the test had decided (real boots, not used by it).
    public var afterDecision: Int
    /// Why the step ended: decided, cap, excluded-cap; nil when the commit was not booted.
    public var end: BisectStepTest.End?
    /// Why the commit was skipped, or what the search did with an undecided step.
    public var note: String?
    public var buildSeconds: Double?
    public var boots: [BisectBoot]

    public init(role: Role, commit: String, subject: String, mark: Bisection.Mark, runs: Int = 0, failures: Int = 0, excluded: Int = 0,
                afterDecision: Int = 0, end: BisectStepTest.End? = nil, note: String? = nil, buildSeconds: Double? = nil, boots: [BisectBoot] = []) {
        self.role = role
        self.commit = commit
        self.subject = subject
        self.mark = mark
        self.runs = runs
        self.failures = failures
        self.excluded = excluded
        self.afterDecision = afterDecision
        self.end = end
        self.note = note
        self.buildSeconds = buildSeconds
        self.boots = boots
    }

    public var decided: Bool { mark == .flaky || mark == .notFlaky }

    private enum CodingKeys: String, CodingKey {
        case role, commit, subject, mark, runs, failures, excluded, afterDecision, end, note, buildSeconds, boots
    }

    /// Every key always present, `null` where it does not apply (docs/JSON.md).
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(role, forKey: .role)
        try c.encode(commit, forKey: .commit)
        try c.encode(subject, forKey: .subject)
        try c.encode(mark, forKey: .mark)
        try c.encode(runs, forKey: .runs)
        try c.encode(failures, forKey: .failures)
        try c.encode(excluded, forKey: .excluded)
        try c.encode(afterDecision, forKey: .afterDecision)
        try c.encodeOrNull(end, forKey: .end)
        try c.encodeOrNull(note, forKey: .note)
        try c.encodeOrNull(buildSeconds, forKey: .buildSeconds)
        try c.encode(boots, forKey: .boots)
    }
}

/// How the search ended.
public struct BisectConclusion: Sendable, Codable, Equatable {
    public enum Status: String, Sendable, Codable {
        /// `firstFlaky` is the first flaky commit.
        case found
        /// Only skipped or undecided commits separate good from flaky: `candidates`.
        case ambiguous
        /// `--bad` was not shown flaky (decided not flaky, undecided, or could not be built).
        case badNotFlaky = "bad-not-flaky"
        /// `--good` was not shown not flaky (decided flaky: the flake is older; undecided; or not built).
        case goodNotClean = "good-not-clean"
        /// Interrupted: what was measured is reported, nothing concluded.
        case interrupted
    }

    public var status: Status
    public var firstFlaky: String?
    public var candidates: [String]
    public var message: String

    public init(status: Status, firstFlaky: String? = nil, candidates: [String] = [], message: String) {
        self.status = status
        self.firstFlaky = firstFlaky
        self.candidates = candidates
        self.message = message
    }

    private enum CodingKeys: String, CodingKey { case status, firstFlaky, candidates, message }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(status, forKey: .status)
        try c.encodeOrNull(firstFlaky, forKey: .firstFlaky)
        try c.encode(candidates, forKey: .candidates)
        try c.encode(message, forKey: .message)
    }
}

/// The whole search: its parameters, every step, the conclusion and the error bound.
public struct BisectSummary: Sendable, Codable, Equatable {
    public var lane: String
    public var good: String
    public var bad: String
    /// Commits after good up to bad on the first-parent chain.
    public var commits: Int
    public var p0: Double
    public var p1: Double
    public var alpha: Double
    public var beta: Double
    public var maxRuns: Int
    public var baseSeed: String
    public var steps: [BisectStep]
    public var conclusion: BisectConclusion
    public var errorBound: BisectErrorBound

    public init(lane: String, good: String, bad: String, commits: Int, p0: Double, p1: Double, alpha: Double, beta: Double, maxRuns: Int,
                baseSeed: UInt64, steps: [BisectStep], conclusion: BisectConclusion) {
        self.lane = lane
        self.good = good
        self.bad = bad
        self.commits = commits
        self.p0 = p0
        self.p1 = p1
        self.alpha = alpha
        self.beta = beta
        self.maxRuns = maxRuns
        self.baseSeed = String(baseSeed)
        self.steps = steps
        self.conclusion = conclusion
        self.errorBound = BisectErrorBound(alpha: alpha, beta: beta, decisions: steps.filter(\.decided).count)
    }

    /// The steps as a table: role, commit, decision, runs, failures, retries, note.
    public func stepLines() -> [String] {
        steps.enumerated().map { n, s in
            let role = switch s.role {
            case .confirmBad: "--bad "
            case .confirmGood: "--good"
            case .search: "step \(n - 1)"
            }
            let counts = s.end == nil ? "not booted" : "\(s.runs) runs, \(s.failures) failed\(s.excluded > 0 ? ", \(s.excluded) retried (no evidence)" : "")"
            let build = s.buildSeconds.map { ", build \(Reports.seconds($0))" } ?? ""
            return "  \(role.padding(7)) \(String(s.commit.prefix(12))) \(s.mark.rawValue.padding(10)) \(counts)\(build)  \(s.subject)"
                + (s.note.map { "\n      \($0)" } ?? "")
        }
    }

    /// The honest statement of what the answer is worth.
    public var errorStatement: String {
        let b = errorBound
        let each = "each wrong with probability ≤ \(pct(b.perDecision)) (Wald's bound max(α/(1−β), β/(1−α)), α = \(alpha), β = \(beta))"
        let skipped = steps.filter { $0.mark == .skipped }.count, undecided = steps.filter { $0.mark == .undecided }.count
        var text = "error bound: \(b.decisions) decision(s), \(each) for a commit whose rate is ≤ p0 = \(pct(p0)) or ≥ p1 = \(pct(p1)); "
        text += conclusion.status == .found
            ? "the answer is wrong with probability ≤ \(pct(b.total)) (union bound over the decisions taken)."
            : "any decision above is wrong with probability ≤ \(pct(b.total)) (union bound)."
        if skipped + undecided > 0 {
            text += "\n  \(skipped) skipped and \(undecided) undecided step(s) decided nothing and add no error; they can only leave several candidates."
        }
        text += "\n  A commit whose rate lies between p0 and p1 may be decided either way, and the search assumes the flake, once in, stays."
        return text
    }

    /// stdout: the first flaky commit's full hash alone on the first line and its subject on the
    /// second (so `| head -1` is the hash), then the steps and the error bound. Without an answer,
    /// the message first.
    public func text() -> String {
        var lines: [String] = []
        if conclusion.status == .found, let commit = conclusion.firstFlaky, let step = steps.first(where: { $0.commit == commit }) {
            lines += [commit, step.subject]
        }
        lines.append("bisect: \(conclusion.message)")
        lines.append("  lane \(lane), \(commits) commit(s) after --good \(String(good.prefix(12))) up to --bad \(String(bad.prefix(12))); "
            + "each step: Wald's sequential test, rate ≤ \(pct(p0)) (not flaky) against ≥ \(pct(p1)) (flaky), at most \(maxRuns) counted runs; base seed \(baseSeed)")
        lines += stepLines()
        lines.append("  " + errorStatement)
        return lines.joined(separator: "\n")
    }
}

private extension String {
    func padding(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
}

/// "5.3%": one decimal, as the stress summary prints rates.
private func pct(_ x: Double) -> String { format1(x * 100) + "%" }
