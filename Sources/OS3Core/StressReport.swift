/// One boot of a stress experiment.
public struct StressRun: Sendable, Codable, Equatable {
    public var index: Int
    public var seed: UInt64
    /// Seconds from the start of the experiment to the start of this boot.
    public var offset: Double
    /// False for the idle comparison runs of `--compare-idle`.
    public var underLoad: Bool
    /// Which hypervisor ran it (backend name / URI).
    public var host: String
    public var record: RunRecord
    /// A command that boots the same lane with the same seed.
    public var replay: String

    public init(index: Int, seed: UInt64, offset: Double, underLoad: Bool, host: String, record: RunRecord, replay: String) {
        self.index = index
        self.seed = seed
        self.offset = offset
        self.underLoad = underLoad
        self.host = host
        self.record = record
        self.replay = replay
    }

    public var failed: Bool { record.verdict.kind != .pass }
    public var infra: Bool { [.infraError, .interrupted, .skipped].contains(record.verdict.kind) }
}

/// The host load actually achieved while the runs went.
public struct LoadRecord: Sendable, Codable, Equatable {
    public var hogs: Int
    /// "cpu" for os3ctl's own busy loops, or the stress-ng arguments used.
    public var recipe: String
    public var loadAverageBefore: Double
    public var loadAverageAfter: Double
    /// CPU seconds all load processes got, and the wall time they ran.
    public var cpuSeconds: Double
    public var wallSeconds: Double
    public var cores: Int

    public init(hogs: Int, recipe: String, loadAverageBefore: Double, loadAverageAfter: Double, cpuSeconds: Double, wallSeconds: Double, cores: Int) {
        self.hogs = hogs
        self.recipe = recipe
        self.loadAverageBefore = loadAverageBefore
        self.loadAverageAfter = loadAverageAfter
        self.cpuSeconds = cpuSeconds
        self.wallSeconds = wallSeconds
        self.cores = cores
    }

    /// Two stretches of the same load (the loaded phases of an interleaved experiment) as one record.
    public func merged(with later: LoadRecord) -> LoadRecord {
        LoadRecord(hogs: hogs, recipe: recipe, loadAverageBefore: loadAverageBefore, loadAverageAfter: later.loadAverageAfter,
                   cpuSeconds: cpuSeconds + later.cpuSeconds, wallSeconds: wallSeconds + later.wallSeconds, cores: cores)
    }

    /// Average number of cores the load kept busy.
    public var busyCores: Double { wallSeconds > 0 ? cpuSeconds / wallSeconds : 0 }
}

/// What a stress experiment found, computed from its runs alone.
public struct StressSummary: Sendable, Codable, Equatable {
    public struct Sequential: Sendable, Codable, Equatable {
        public var p0: Double
        public var p1: Double
        public var alpha: Double
        public var beta: Double
        public var decision: SPRT.Decision
        /// Runs the test used (infrastructure errors skipped) and their failures.
        public var runs: Int
        public var failures: Int
        /// Runs, in run order, up to and including the deciding one.
        public var runOrder: Int
        /// Runs that finished after the decision (in flight with --jobs > 1): kept in the rate, not in the test.
        public var afterDecision: Int
        public var cap: Int

        public init(_ t: RunOrderSequentialTest) {
            p0 = t.test.p0
            p1 = t.test.p1
            alpha = t.test.alpha
            beta = t.test.beta
            decision = t.decision
            runs = t.test.runs
            failures = t.test.failures
            runOrder = t.consumed
            afterDecision = t.afterDecision
            cap = t.cap
        }
    }

    public struct IdleComparison: Sendable, Codable, Equatable {
        public var runs: Int
        public var failures: Int
        /// Two-sided Fisher exact p for "the failure rate differs under load".
        public var fisherP: Double
    }

    public struct Slow: Sendable, Codable, Equatable {
        public var index: Int
        public var seed: UInt64
        public var duration: Double
        public var verdict: VerdictKind
    }

    public var lane: String
    /// Busy processes loading the host (0: the runs were not under load, and are not called so).
    public var hogs: Int
    /// The level of every test in the summary.
    public var alpha: Double
    /// Runs under load that reached a kernel verdict (infrastructure errors excluded).
    public var runs: Int
    public var failures: Int
    public var infraErrors: Int
    public var failureRate: Double
    public var wilson: Stats.Interval
    public var clopperPearson: Stats.Interval
    /// One-sided 95% upper bound on the rate.
    public var upperBound: Double
    public var baseline: Stats.BaselineTest?
    public var idle: IdleComparison?
    public var sequential: Sequential?
    /// Runs needed to bound the rate below `targetRate` at 95% (one-sided): with no failure at all
    /// when none failed, else in all with no more than `failures` failures.
    public var targetRate: Double
    public var runsForTarget: Int
    public var byVerdict: [String: Int]
    public var byMissingMarker: [String: Int]
    /// Runs and failures per hypervisor (several only with a libvirt pool).
    public var runsByHost: [String: Int]
    public var failuresByHost: [String: Int]
    /// With several hypervisors: the exact test that they share one rate (nil with one host, or when
    /// the test has too many tables to enumerate).
    public var hostsEqualRateP: Double?
    public var timeToVerdict: Stats.Spread?
    public var markerLatency: [String: Stats.Spread]
    public var slowest: [Slow]

    public static func make(lane: String, runs all: [StressRun], baselineRate: Double?, alternative: Stats.Alternative = .twoSided,
                            alpha: Double = 0.05, hogs: Int = 0, sequential: Sequential?, targetRate: Double) -> StressSummary {
        let loaded = all.filter(\.underLoad)
        let judged = loaded.filter { !$0.infra }
        let failures = judged.filter(\.failed).count
        let n = judged.count
        var byVerdict: [String: Int] = [:]
        var byMissing: [String: Int] = [:]
        for r in loaded where r.failed {
            byVerdict[r.record.verdict.kind.rawValue, default: 0] += 1
            for m in r.record.verdict.missing { byMissing[m, default: 0] += 1 }
        }
        var latencies: [String: [Double]] = [:]
        for r in judged { for hit in r.record.markers { latencies[hit.id, default: []].append(hit.time) } }
        let idleRuns = all.filter { !$0.underLoad && !$0.infra }
        let idle = idleRuns.isEmpty ? nil : IdleComparison(
            runs: idleRuns.count, failures: idleRuns.filter(\.failed).count,
            fisherP: Stats.fisherExact(failures, n - failures, idleRuns.filter(\.failed).count, idleRuns.filter { !$0.failed }.count))
        let runsByHost = judged.reduce(into: [String: Int]()) { $0[$1.host, default: 0] += 1 }
        let failuresByHost = judged.filter(\.failed).reduce(into: [String: Int]()) { $0[$1.host, default: 0] += 1 }
        let hostNames = runsByHost.keys.sorted()
        let hostsEqualRateP = hostNames.count > 1
            ? Stats.equalRates(failures: hostNames.map { failuresByHost[$0] ?? 0 }, runs: hostNames.map { runsByHost[$0]! }) : nil
        let slowest = judged.sorted { $0.record.duration > $1.record.duration }.prefix(5).map {
            Slow(index: $0.index, seed: $0.seed, duration: $0.record.duration, verdict: $0.record.verdict.kind)
        }
        return StressSummary(
            lane: lane, hogs: hogs, alpha: alpha, runs: n, failures: failures, infraErrors: loaded.count - n,
            failureRate: n > 0 ? Double(failures) / Double(n) : 0,
            wilson: Stats.wilson(failures: failures, runs: n), clopperPearson: Stats.clopperPearson(failures: failures, runs: n),
            upperBound: Stats.upperBound(failures: failures, runs: n),
            baseline: baselineRate.map { Stats.baseline(failures: failures, runs: n, rate: $0, alternative: alternative, alpha: alpha) },
            idle: idle, sequential: sequential, targetRate: targetRate, runsForTarget: Stats.runsToBound(rate: targetRate, failures: failures),
            byVerdict: byVerdict, byMissingMarker: byMissing,
            runsByHost: runsByHost,
            failuresByHost: failuresByHost, hostsEqualRateP: hostsEqualRateP,
            timeToVerdict: Stats.spread(judged.map(\.record.duration)),
            markerLatency: latencies.compactMapValues { Stats.spread($0) }, slowest: Array(slowest))
    }

    /// The human summary printed on stdout.
    public func text(runs all: [StressRun], load: LoadRecord?) -> String {
        var out: [String] = []
        func pct(_ x: Double) -> String { String(format1(x * 100)) + "%" }
        out.append("stress: lane \(lane): \(failures) of \(runs) runs failed\(hogs > 0 ? " under load" : "") (rate \(pct(failureRate)))")
        if infraErrors > 0 { out.append("  WARNING: \(infraErrors) run(s) ended in infrastructure errors and are excluded from the rate") }
        out.append("  two-sided 95% interval: Wilson \(pct(wilson.lower))–\(pct(wilson.upper)), exact Clopper–Pearson \(pct(clopperPearson.lower))–\(pct(clopperPearson.upper))")
        if failures == 0 && runs > 0 {
            out.append("  no failures: the rate is below \(pct(upperBound)) with 95% confidence (one-sided exact bound)")
        }
        if failures == 0 {
            out.append("  bounding the rate below \(pct(targetRate)) at 95% (one-sided) takes \(runsForTarget) runs with no failure at all (this experiment: \(runs))")
        } else {
            out.append("  bounding the rate below \(pct(targetRate)) at 95% (one-sided) would take at least \(runsForTarget) runs in all with no more than \(failures) failure(s)")
        }
        if let b = baseline {
            out.append("  " + b.sentence)
        }
        if let i = idle {
            let level = fixedTrim(alpha)
            let verdict = i.fisherP <= alpha
                ? "the failure rates under load and idle differ (p ≤ \(level))"
                : "no significant difference between the rates under load and idle at level \(level) (which does not show they are equal)"
            out.append("  idle comparison: \(i.failures) of \(i.runs) failed without load; Fisher's exact test, two-sided: p = \(format4(i.fisherP)) — \(verdict)")
        }
        if let s = sequential {
            let head = "  sequential test (Wald's SPRT in run order, H0 rate ≤ \(pct(s.p0)) vs H1 rate ≥ \(pct(s.p1)), α \(fixedTrim(s.alpha)), β \(fixedTrim(s.beta)))"
            if s.decision == .undecided {
                out.append(head + ": undecided after \(s.runs) runs (cap \(s.cap))")
            } else {
                out.append(head + ": decided \(s.decision.rawValue) after \(s.runs) runs (\(s.failures) failed; runs #0–#\(s.runOrder - 1) in run order)")
                if s.afterDecision > 0 {
                    out.append("    \(s.afterDecision) run(s) finished after the decision: counted in the rate, not in the test")
                }
                out.append("    the test stopped early, so the intervals above (fixed-sample) are approximate")
            }
        }
        if let l = load {
            out.append("  load: \(l.hogs) × \(l.recipe); load average \(format1(l.loadAverageBefore)) → \(format1(l.loadAverageAfter)); the load got \(format1(l.cpuSeconds)) CPU-s in \(format1(l.wallSeconds)) s (\(format1(l.busyCores)) of \(l.cores) cores busy)")
        }
        if runsByHost.count > 1 {
            // Each host's own rate first: a pool of hosts is one population only if they agree.
            out.append("  by hypervisor: " + runsByHost.sorted { $0.key < $1.key }.map { host, n in
                let k = failuresByHost[host] ?? 0, cp = Stats.clopperPearson(failures: k, runs: n)
                return "\(host) \(k)/\(n) failed (\(pct(Double(k) / Double(n))), 95% exact \(pct(cp.lower))–\(pct(cp.upper)))"
            }.joined(separator: "; "))
            if let p = hostsEqualRateP {
                out.append("  do the hosts share one rate? exact test (Fisher–Freeman–Halton), level \(fixedTrim(alpha)): p = \(format4(p)) — "
                           + (p <= alpha ? "the hosts' rates differ: the pooled rate above mixes them; read each host's own"
                                         : "no significant difference between hosts, so the pooled rate above is a fair summary"))
            } else {
                out.append("  do the hosts share one rate? not tested (too many tables for the exact test): read each host's own rate")
            }
        }
        if !byVerdict.isEmpty {
            out.append("  failures by verdict: " + byVerdict.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        }
        if !byMissingMarker.isEmpty {
            out.append("  failures by missing marker: " + byMissingMarker.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        }
        if let t = timeToVerdict {
            out.append("  time to verdict: min \(Reports.seconds(t.min)), median \(Reports.seconds(t.median)), p95 \(Reports.seconds(t.p95)), max \(Reports.seconds(t.max))")
        }
        if !markerLatency.isEmpty {
            out.append("  time from start to each marker (min / median / p95 / max):")
            for (id, s) in markerLatency.sorted(by: { $0.value.median < $1.value.median }) {
                out.append("    \(id.padding(to: 14)) \(Reports.seconds(s.min)) / \(Reports.seconds(s.median)) / \(Reports.seconds(s.p95)) / \(Reports.seconds(s.max))  (\(s.count) runs)")
            }
        }
        if !slowest.isEmpty {
            out.append("  slowest runs: " + slowest.map { "#\($0.index) \(Reports.seconds($0.duration)) \($0.verdict.rawValue)" }.joined(separator: ", "))
        }
        let failed = all.filter(\.failed)
        if !failed.isEmpty {
            out.append("  failing runs (serial log, replay):")
            for r in failed.prefix(20) {
                out.append("    #\(r.index)\(r.underLoad ? "" : " (idle)") seed \(r.seed) \(r.record.verdict.kind.rawValue): \(r.record.verdict.detail)")
                if !r.record.serialLog.isEmpty { out.append("      log: \(r.record.serialLog)") }
                out.append("      replay: \(r.replay)")
            }
            if failed.count > 20 { out.append("    … and \(failed.count - 20) more (see --json)") }
        }
        return out.joined(separator: "\n")
    }
}

extension Stats.BaselineTest {
    /// Which test ran, at which level, and what its p-value does (and does not) show.
    public var sentence: String {
        let r = fixed(rate * 100, 1) + "%"
        let sided = alternative == .twoSided ? "two-sided" : "one-sided"
        let claim: String
        if significant {
            switch alternative {
            case .less: claim = "evidence that the rate is below \(r) (p = \(format4(pValue)) ≤ \(fixedTrim(alpha)))"
            case .greater: claim = "evidence that the rate is above \(r) (p = \(format4(pValue)) ≤ \(fixedTrim(alpha)))"
            case .twoSided: claim = "evidence against a rate of \(r) (p = \(format4(pValue)) ≤ \(fixedTrim(alpha)))"
            }
        } else {
            claim = "not evidence against a rate of \(r) at this level (p = \(format4(pValue)) > \(fixedTrim(alpha)))"
        }
        return "baseline \(r): exact binomial test, \(sided) (H1: \(alternative.hypothesis(r))), level \(fixedTrim(alpha)), \(failures) of \(runs) failed: \(claim)"
    }
}

/// A level such as 0.05 or 0.01 without trailing zeros.
func fixedTrim(_ x: Double) -> String {
    var s = fixed(x, 6)
    while s.hasSuffix("0") { s.removeLast() }
    if s.hasSuffix(".") { s.removeLast() }
    return s
}

func format1(_ x: Double) -> String { fixed(x, 1) }
func format4(_ x: Double) -> String { x < 0.0001 && x > 0 ? "<0.0001" : fixed(x, 4) }

/// Fixed-point formatting without Foundation.
func fixed(_ x: Double, _ digits: Int) -> String {
    guard x.isFinite else { return String(x) }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let v = (abs(x) * scale).rounded()
    let whole = Int(v / scale)
    let frac = Int(v - Double(whole) * scale)
    let sign = x < 0 && v != 0 ? "-" : ""
    return digits == 0 ? "\(sign)\(whole)" : "\(sign)\(whole).\(String(frac).leftPadded(to: digits, with: "0"))"
}
