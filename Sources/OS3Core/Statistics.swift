#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Exact and approximate statistics for flake rates: a run either fails or passes, so the number
/// of failures in n runs is binomial. Everything here is a pure function, checked against
/// published values in the tests.
public enum Stats {
    /// z for a two-sided 95% interval.
    public static let z95 = 1.959963984540054

    public struct Interval: Sendable, Codable, Equatable {
        public var lower: Double
        public var upper: Double
        public init(_ lower: Double, _ upper: Double) { self.lower = lower; self.upper = upper }
        public func contains(_ p: Double) -> Bool { lower <= p && p <= upper }
    }

    /// Wilson score interval (two-sided, confidence from z).
    public static func wilson(failures k: Int, runs n: Int, z: Double = z95) -> Interval {
        guard n > 0 else { return Interval(0, 1) }
        let n = Double(n), p = Double(k) / n, z2 = z * z
        let denominator = 1 + z2 / n
        let centre = (p + z2 / (2 * n)) / denominator
        let half = z / denominator * (p * (1 - p) / n + z2 / (4 * n * n)).squareRoot()
        return Interval(max(0, centre - half), min(1, centre + half))
    }

    /// Exact Clopper–Pearson interval (two-sided, 1 - alpha), by inverting the binomial tails.
    public static func clopperPearson(failures k: Int, runs n: Int, alpha: Double = 0.05) -> Interval {
        guard n > 0 else { return Interval(0, 1) }
        // lower: P(X >= k | p) = alpha/2; upper: P(X <= k | p) = alpha/2.
        let lower = k == 0 ? 0 : bisect { p in binomialUpperTail(k, n, p) - alpha / 2 }
        let upper = k == n ? 1 : bisect { p in alpha / 2 - binomialCDF(k, n, p) }
        return Interval(lower, upper)
    }

    /// Finds p in [0, 1] where an increasing f crosses zero.
    static func bisect(_ f: (Double) -> Double) -> Double {
        var lo = 0.0, hi = 1.0
        for _ in 0..<200 {
            let mid = (lo + hi) / 2
            if f(mid) < 0 { lo = mid } else { hi = mid }
        }
        return (lo + hi) / 2
    }

    static func logChoose(_ n: Int, _ k: Int) -> Double {
        lgamma(Double(n) + 1) - lgamma(Double(k) + 1) - lgamma(Double(n - k) + 1)
    }

    /// P(X = k) for X ~ Binomial(n, p).
    public static func binomialPMF(_ k: Int, _ n: Int, _ p: Double) -> Double {
        guard k >= 0, k <= n else { return 0 }
        if p <= 0 { return k == 0 ? 1 : 0 }
        if p >= 1 { return k == n ? 1 : 0 }
        return exp(logChoose(n, k) + Double(k) * log(p) + Double(n - k) * log1p(-p))
    }

    /// P(X <= k).
    public static func binomialCDF(_ k: Int, _ n: Int, _ p: Double) -> Double {
        guard k >= 0 else { return 0 }
        guard k < n else { return 1 }
        return min(1, (0...k).reduce(0.0) { $0 + binomialPMF($1, n, p) })
    }

    /// P(X >= k).
    public static func binomialUpperTail(_ k: Int, _ n: Int, _ p: Double) -> Double {
        guard k > 0 else { return 1 }
        guard k <= n else { return 0 }
        return min(1, (k...n).reduce(0.0) { $0 + binomialPMF($1, n, p) })
    }

    /// The alternative hypothesis of a test against a baseline rate, chosen before the data are
    /// seen (choosing the tail on the side where k fell doubles the error rate of a one-sided test).
    public enum Alternative: String, Sendable, Codable, CaseIterable {
        /// H1: the rate is below the baseline ("did the fix lower the rate?").
        case less
        /// H1: the rate is above the baseline.
        case greater
        /// H1: the rate differs from the baseline, either way.
        case twoSided = "two-sided"

        /// How the hypothesis reads, e.g. "rate < 20.0%".
        public func hypothesis(_ rate: String) -> String {
            switch self {
            case .less: "rate < \(rate)"
            case .greater: "rate > \(rate)"
            case .twoSided: "rate ≠ \(rate)"
            }
        }
    }

    /// An exact binomial test of the observed failures against a baseline rate, with the
    /// alternative fixed in advance and its level stated.
    public struct BaselineTest: Sendable, Codable, Equatable {
        public var rate: Double
        public var failures: Int
        public var runs: Int
        public var alternative: Alternative
        /// The level the p-value is compared with.
        public var alpha: Double
        public var pValue: Double
        /// True when p ≤ α: the data are evidence against the baseline in the alternative's direction.
        public var significant: Bool { pValue <= alpha }
    }

    /// The exact binomial test (as scipy.stats.binomtest): `less` is P(X ≤ k), `greater` P(X ≥ k),
    /// `two-sided` the total probability of every outcome no more likely than k. "16 passes of 16
    /// against a 1-in-5 rate" is p = 0.8^16 = 0.028 one-sided (less), 0.055 two-sided.
    public static func baseline(failures k: Int, runs n: Int, rate p: Double, alternative: Alternative = .twoSided,
                                alpha: Double = 0.05) -> BaselineTest {
        let pValue: Double
        switch alternative {
        case .less: pValue = binomialCDF(k, n, p)
        case .greater: pValue = binomialUpperTail(k, n, p)
        case .twoSided:
            // Relative tolerance as SciPy's, so outcomes exactly as likely as k are not lost to rounding.
            let observed = binomialPMF(k, n, p) * (1 + 1e-7)
            pValue = min(1, (0...max(n, 0)).reduce(0.0) { sum, i in
                let q = binomialPMF(i, n, p)
                return q <= observed ? sum + q : sum
            })
        }
        return BaselineTest(rate: p, failures: k, runs: n, alternative: alternative, alpha: alpha, pValue: pValue)
    }

    /// Fisher's exact test, two-sided, for failures/passes under load (a, b) versus idle (c, d).
    public static func fisherExact(_ a: Int, _ b: Int, _ c: Int, _ d: Int) -> Double {
        let row1 = a + b, row2 = c + d, col1 = a + c, n = a + b + c + d
        guard n > 0 else { return 1 }
        func p(_ x: Int) -> Double {
            exp(logChoose(row1, x) + logChoose(row2, col1 - x) - logChoose(n, col1))
        }
        let observed = p(a)
        let lo = max(0, col1 - row2), hi = min(row1, col1)
        var total = 0.0
        for x in lo...hi {
            let px = p(x)
            if px <= observed * (1 + 1e-7) { total += px }
        }
        return min(1, total)
    }

    /// Whether several groups (hosts) share one failure rate: the exact conditional test (Fisher's,
    /// extended to k groups — Freeman–Halton). Given the total failures, the tables are multivariate
    /// hypergeometric; p is the total probability of every table no more likely than the observed
    /// one. Two groups give Fisher's two-sided p. Nil when there are more than `maxTables` tables.
    public static func equalRates(failures: [Int], runs: [Int], maxTables: Int = 2_000_000) -> Double? {
        precondition(failures.count == runs.count)
        let total = failures.reduce(0, +), n = runs.reduce(0, +)
        guard runs.count > 1, n > 0 else { return 1 }
        let logDenominator = logChoose(n, total)
        func logP(_ x: [Int]) -> Double { zip(runs, x).reduce(-logDenominator) { $0 + logChoose($1.0, $1.1) } }
        let observed = logP(failures) + log1p(1e-7)
        // Capacity of the groups after each one, to bound each count.
        var after = [Int](repeating: 0, count: runs.count + 1)
        for i in stride(from: runs.count - 1, through: 0, by: -1) { after[i] = after[i + 1] + runs[i] }
        var sum = 0.0, tables = 0, tooMany = false
        func visit(_ i: Int, _ left: Int, _ partial: Double) {
            guard !tooMany else { return }
            if i == runs.count - 1 {
                tables += 1
                if tables > maxTables { tooMany = true; return }
                let l = partial + logChoose(runs[i], left)
                if l <= observed { sum += exp(l) }
                return
            }
            for x in max(0, left - after[i + 1])...min(runs[i], left) { visit(i + 1, left - x, partial + logChoose(runs[i], x)) }
        }
        visit(0, total, -logDenominator)
        return tooMany ? nil : min(1, sum)
    }

    /// Runs needed, all passing, to bound the rate below `rate` with one-sided confidence
    /// 1 - alpha ((1 - rate)^n <= alpha).
    public static func runsToBound(rate: Double, alpha: Double = 0.05) -> Int {
        guard rate > 0, rate < 1 else { return rate >= 1 ? 1 : Int.max }
        return Int((log(alpha) / log1p(-rate)).rounded(.up))
    }

    /// The fewest runs n such that `failures` failures in n runs bound the rate below `rate`
    /// (one-sided exact bound, 1 - alpha): after k failures, how far there is still to go.
    public static func runsToBound(rate: Double, failures k: Int, alpha: Double = 0.05) -> Int {
        guard k > 0 else { return runsToBound(rate: rate, alpha: alpha) }
        guard rate > 0, rate < 1 else { return rate >= 1 ? k + 1 : Int.max }
        // P(X <= k | n, rate) falls as n grows: the first n where it is <= alpha, by doubling then bisection.
        func bounded(_ n: Int) -> Bool { binomialCDF(k, n, rate) <= alpha }
        var hi = max(k + 1, runsToBound(rate: rate, alpha: alpha))
        while !bounded(hi) { hi *= 2 }
        var lo = k
        while hi - lo > 1 {
            let mid = (lo + hi) / 2
            if bounded(mid) { hi = mid } else { lo = mid }
        }
        return hi
    }

    /// One-sided exact upper bound on the rate (1 - alpha), e.g. "below 17% at 95%" after 16/16.
    public static func upperBound(failures k: Int, runs n: Int, alpha: Double = 0.05) -> Double {
        guard n > 0 else { return 1 }
        return k == n ? 1 : bisect { p in alpha - binomialCDF(k, n, p) }
    }

    /// Linear-interpolation quantile (type 7) of sorted values.
    public static func quantile(_ sorted: [Double], _ q: Double) -> Double? {
        guard !sorted.isEmpty else { return nil }
        let h = Double(sorted.count - 1) * q
        let i = Int(h.rounded(.down))
        return i + 1 < sorted.count ? sorted[i] + (h - Double(i)) * (sorted[i + 1] - sorted[i]) : sorted[i]
    }

    public struct Spread: Sendable, Codable, Equatable {
        public var count: Int
        public var min: Double
        public var median: Double
        public var p95: Double
        public var max: Double
    }

    public static func spread(_ values: [Double]) -> Spread? {
        let s = values.sorted()
        guard let first = s.first, let last = s.last else { return nil }
        return Spread(count: s.count, min: first, median: quantile(s, 0.5)!, p95: quantile(s, 0.95)!, max: last)
    }
}

/// Wald's sequential probability ratio test between "flake rate <= p0" (H0) and ">= p1" (H1):
/// feed outcomes one at a time and stop as soon as the data decide.
public struct SPRT: Sendable, Codable, Equatable {
    public enum Decision: String, Sendable, Codable { case undecided, atMostP0 = "rate<=p0", atLeastP1 = "rate>=p1" }

    public let p0: Double
    public let p1: Double
    public let alpha: Double
    public let beta: Double
    public private(set) var runs = 0
    public private(set) var failures = 0

    public init(p0: Double, p1: Double, alpha: Double = 0.05, beta: Double = 0.05) {
        precondition(0 < p0 && p0 < p1 && p1 < 1, "need 0 < p0 < p1 < 1")
        precondition(alpha > 0 && beta > 0 && alpha + beta < 1, "need alpha, beta > 0 and alpha + beta < 1")
        self.p0 = p0
        self.p1 = p1
        self.alpha = alpha
        self.beta = beta
    }

    /// Wald's boundaries: decide H1 at log((1 - β)/α), H0 at log(β/(1 - α)).
    public var upperLimit: Double { log((1 - beta) / alpha) }
    public var lowerLimit: Double { log(beta / (1 - alpha)) }

    /// The log likelihood ratio of the outcomes so far, from the counts (no rounding drift from a
    /// running sum: the same counts always give the same decision).
    public var llr: Double { Self.llr(failures: failures, runs: runs, p0: p0, p1: p1) }

    public static func llr(failures f: Int, runs n: Int, p0: Double, p1: Double) -> Double {
        Double(f) * log(p1 / p0) + Double(n - f) * log((1 - p1) / (1 - p0))
    }

    public mutating func record(failed: Bool) {
        runs += 1
        if failed { failures += 1 }
    }

    public var decision: Decision {
        let l = llr
        if l >= upperLimit { return .atLeastP1 }
        if l <= lowerLimit { return .atMostP0 }
        return .undecided
    }
}

/// The SPRT fed in run order, whatever order the boots finish in: run i counts only once every
/// earlier run is in, and nothing after the decision counts. With `--jobs 2` the boots finish in an
/// order set by timing; this makes one seed give one decision at any `--jobs`.
public struct RunOrderSequentialTest: Sendable, Equatable {
    public enum Outcome: Sendable, Equatable {
        case passed, failed
        /// An infrastructure error: no evidence about the kernel, skipped by the test.
        case excluded
    }

    public private(set) var test: SPRT
    /// The most runs (by index) the test may use.
    public let cap: Int
    /// Runs 0..<consumed have been fed to the test, in order (or skipped as excluded).
    public private(set) var consumed = 0
    /// Runs finished at or after the decision's index: real runs, not used by the test.
    public private(set) var afterDecision = 0
    private var pending: [Int: Outcome] = [:]

    public init(_ test: SPRT, cap: Int) {
        self.test = test
        self.cap = cap
    }

    public var decision: SPRT.Decision { test.decision }

    /// Whether run `index` is still needed: not once the test has decided, nor past the cap.
    public func wants(_ index: Int) -> Bool { decision == .undecided && index < cap }

    public mutating func add(index: Int, _ outcome: Outcome) {
        guard decision == .undecided, index >= consumed, index < cap else { afterDecision += 1; return }
        pending[index] = outcome
        while decision == .undecided, let next = pending.removeValue(forKey: consumed) {
            consumed += 1
            if next != .excluded { test.record(failed: next == .failed) }
        }
        // Runs that were waiting for an earlier one and came after the decision do not count.
        if decision != .undecided {
            afterDecision += pending.count
            pending.removeAll()
        }
    }
}
