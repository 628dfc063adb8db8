import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import OS3Core

/// Reference values computed independently with SciPy (scipy.stats.beta.ppf, binom, fisher_exact).
@Suite("Flake statistics")
struct StatisticsTests {
    static func close(_ a: Double, _ b: Double, _ tolerance: Double = 1e-6) -> Bool { abs(a - b) <= tolerance }

    @Test("Wilson intervals match published values",
          arguments: [(5, 20, 0.111861701, 0.468700878), (0, 16, 0.0, 0.193607681), (3, 16, 0.065915991, 0.430088810),
                      (16, 16, 0.806392319, 1.0), (1, 10, 0.017876213, 0.404150027)])
    func wilson(_ k: Int, _ n: Int, _ lo: Double, _ hi: Double) {
        let i = Stats.wilson(failures: k, runs: n)
        #expect(Self.close(i.lower, lo), "\(i.lower)")
        #expect(Self.close(i.upper, hi), "\(i.upper)")
    }

    @Test("exact Clopper–Pearson intervals match the beta quantiles",
          arguments: [(5, 20, 0.086571469, 0.491045872), (0, 16, 0.0, 0.205907214), (3, 16, 0.040473734, 0.456456546),
                      (16, 16, 0.794092786, 1.0), (1, 10, 0.002528579, 0.445016117)])
    func clopperPearson(_ k: Int, _ n: Int, _ lo: Double, _ hi: Double) {
        let i = Stats.clopperPearson(failures: k, runs: n)
        #expect(Self.close(i.lower, lo), "\(i.lower)")
        #expect(Self.close(i.upper, hi), "\(i.upper)")
    }

    @Test("16 passes out of 16 against a 1-in-5 rate: one-sided (less) p = 0.8^16 ≈ 0.028, two-sided p ≈ 0.055")
    func os3Claim() {
        let less = Stats.baseline(failures: 0, runs: 16, rate: 0.2, alternative: .less)
        #expect(Self.close(less.pValue, 0.028147497671065624, 1e-12))
        #expect(less.significant)
        // Two-sided: every outcome no more likely than 0 failures — 0 itself and 7 or more.
        let two = Stats.baseline(failures: 0, runs: 16, rate: 0.2, alternative: .twoSided)
        #expect(Self.close(two.pValue, Stats.binomialPMF(0, 16, 0.2) + Stats.binomialUpperTail(7, 16, 0.2), 1e-12))
        #expect(Self.close(two.pValue, 0.0548, 1e-4))
        #expect(!two.significant)
        // "greater" asks the opposite question: 0 failures are no evidence of a higher rate.
        #expect(Stats.baseline(failures: 0, runs: 16, rate: 0.2, alternative: .greater).pValue == 1)
    }

    @Test("the alternative is the one asked for, whatever side the data fall on")
    func baselineUpperTail() {
        let greater = Stats.baseline(failures: 6, runs: 20, rate: 0.1, alternative: .greater)
        #expect(Self.close(greater.pValue, 0.011253134164509005, 1e-12))
        let less = Stats.baseline(failures: 6, runs: 20, rate: 0.1, alternative: .less)
        #expect(Self.close(less.pValue, Stats.binomialCDF(6, 20, 0.1), 1e-15))
        #expect(!less.significant)
        #expect(Self.close(Stats.binomialCDF(2, 20, 0.3), 0.03548313229846864, 1e-12))
    }

    /// The old rule (the tail on the side where k fell, compared with 5%) had an exact size of 8.3%
    /// at rate 0.3, N = 20; every fixed alternative stays within 5%.
    @Test("choosing the tail after seeing the data exceeds the stated 5%; a fixed alternative does not (rate 0.3, N = 20, exact)")
    func postHocDirection() {
        let n = 20, p = 0.3
        let postHoc = (0...n).reduce(0.0) { sum, k in
            let fewer = Double(k) <= Double(n) * p
            let pValue = fewer ? Stats.binomialCDF(k, n, p) : Stats.binomialUpperTail(k, n, p)
            return pValue < 0.05 ? sum + Stats.binomialPMF(k, n, p) : sum
        }
        #expect(postHoc > 0.08, "\(postHoc)")
        for alternative in Stats.Alternative.allCases {
            let size = (0...n).reduce(0.0) { sum, k in
                Stats.baseline(failures: k, runs: n, rate: p, alternative: alternative).significant ? sum + Stats.binomialPMF(k, n, p) : sum
            }
            #expect(size <= 0.05, "\(alternative): \(size)")
        }
    }

    @Test("Fisher's exact test (two-sided) matches SciPy",
          arguments: [((5, 11, 0, 16), 0.04338153503893215), ((3, 13, 1, 15), 0.599555061179088), ((8, 2, 1, 5), 0.034965034965034975)])
    func fisher(_ table: (Int, Int, Int, Int), _ expected: Double) {
        #expect(Self.close(Stats.fisherExact(table.0, table.1, table.2, table.3), expected, 1e-9))
    }

    @Test("the one-sided upper bound after 16/16 passes is 1 - 0.05^(1/16) ≈ 17.1%")
    func upperBound() {
        #expect(Self.close(Stats.upperBound(failures: 0, runs: 16), 0.17074972298248092))
        #expect(Self.close(Stats.upperBound(failures: 3, runs: 16), 0.4165722807061528))
    }

    @Test("bounding the rate below 5% at 95% takes 59 consecutive passes; below 20% takes 14")
    func runsToBound() {
        #expect(Stats.runsToBound(rate: 0.05) == 59)
        #expect(Stats.runsToBound(rate: 0.2) == 14)
    }

    @Test("after k failures the runs needed are the fewest n whose one-sided bound with k failures is below the target", arguments: [1, 2, 5])
    func runsToBoundAfterFailures(_ k: Int) {
        let n = Stats.runsToBound(rate: 0.05, failures: k)
        #expect(Stats.binomialCDF(k, n, 0.05) <= 0.05)
        #expect(Stats.binomialCDF(k, n - 1, 0.05) > 0.05)
        #expect(Stats.upperBound(failures: k, runs: n) <= 0.05 + 1e-12)
        #expect(n > Stats.runsToBound(rate: 0.05))
    }

    @Test("quantiles interpolate linearly between ranks")
    func quantiles() throws {
        let s = try #require(Stats.spread([5, 1, 4, 2, 3]))
        #expect(s.min == 1 && s.max == 5 && s.median == 3)
        #expect(Self.close(s.p95, 4.8))
        #expect(Stats.spread([]) == nil)
    }

    @Test("the SPRT accepts 'rate <= p0' after a run of passes and 'rate >= p1' after failures")
    func sprt() {
        var good = SPRT(p0: 0.01, p1: 0.2)
        while good.decision == .undecided && good.runs < 1000 { good.record(failed: false) }
        #expect(good.decision == .atMostP0)
        // ln(0.05/0.95) / ln(0.8/0.99) = 13.8: the 14th pass decides.
        #expect(good.runs == 14)
        var bad = SPRT(p0: 0.01, p1: 0.2)
        bad.record(failed: true)
        bad.record(failed: true)
        #expect(bad.decision == .atLeastP1)
    }

    @Test("the SPRT decides correctly on simulated data with known rates", arguments: [0.0, 0.02, 0.4, 0.6])
    func sprtSimulation(_ rate: Double) {
        var rng = SplitMix64(seed: 42)
        var correct = 0
        for _ in 0..<200 {
            var t = SPRT(p0: 0.05, p1: 0.25)
            while t.decision == .undecided && t.runs < 500 { t.record(failed: rng.nextDouble() < rate) }
            if (rate <= 0.05 && t.decision == .atMostP0) || (rate >= 0.25 && t.decision == .atLeastP1) { correct += 1 }
        }
        // alpha = beta = 5%: at least 90% of decisions right, with a wide margin for chance.
        #expect(correct >= 180)
    }

    /// Boots with `jobs` in flight finishing in a random order (seeded), fed to the run-order test
    /// as they finish; the runs' outcomes are fixed by their index, as a seed fixes a boot's.
    static func completeOutOfOrder(_ outcomes: [RunOrderSequentialTest.Outcome], jobs: Int, cap: Int,
                                   rng: inout SplitMix64) -> (RunOrderSequentialTest, [Int]) {
        var test = RunOrderSequentialTest(SPRT(p0: 0.05, p1: 0.25), cap: cap)
        var inFlight: [Int] = [], next = 0, finished: [Int] = []
        while true {
            while inFlight.count < jobs && next < outcomes.count && test.wants(next) { inFlight.append(next); next += 1 }
            if inFlight.isEmpty { return (test, finished) }
            let done = inFlight.remove(at: Int(rng.next() % UInt64(inFlight.count)))
            finished.append(done)
            test.add(index: done, outcomes[done])
        }
    }

    @Test("the sequential test decides on runs in run order: 3,000 sequences finishing out of order (2, 3 and 8 jobs) decide exactly as in order")
    func sequentialRunOrder() {
        var rng = SplitMix64(seed: 16)
        var completionOrderDiffers = 0, outOfOrder = 0
        for sequence in 0..<1000 {
            let rate = [0.02, 0.1, 0.15, 0.3][sequence % 4]
            let outcomes: [RunOrderSequentialTest.Outcome] = (0..<120).map { _ in
                let u = rng.nextDouble()
                return u < 0.03 ? .excluded : (u < 0.03 + rate ? .failed : .passed)
            }
            var inOrder = RunOrderSequentialTest(SPRT(p0: 0.05, p1: 0.25), cap: 100)
            for (i, o) in outcomes.enumerated() where inOrder.wants(i) { inOrder.add(index: i, o) }
            for jobs in [2, 3, 8] {
                let (t, finished) = Self.completeOutOfOrder(outcomes, jobs: jobs, cap: 100, rng: &rng)
                if finished != finished.sorted() { outOfOrder += 1 }
                #expect(t.decision == inOrder.decision, "sequence \(sequence), \(jobs) jobs")
                #expect(t.test.runs == inOrder.test.runs && t.test.failures == inOrder.test.failures && t.consumed == inOrder.consumed)
                #expect(t.consumed + t.afterDecision == finished.count)
                // What the old code did: feed every run as it finished.
                var naive = SPRT(p0: 0.05, p1: 0.25)
                for i in finished where naive.decision == .undecided && outcomes[i] != .excluded { naive.record(failed: outcomes[i] == .failed) }
                if naive.decision != inOrder.decision || naive.runs != inOrder.test.runs { completionOrderDiffers += 1 }
            }
        }
        // The check can fail: completion order was really shuffled, and feeding it as it came changed decisions.
        #expect(outOfOrder > 1000)
        #expect(completionOrderDiffers > 0)
    }

    @Test("run seeds are a hash of (base, i): 100 neighbouring bases × 200 runs give 20,000 distinct seeds (the old base + i shared 199 of 200)")
    func runSeeds() {
        var seen = Set<UInt64>()
        for base in UInt64(1000)..<1100 { for i in 0..<200 { seen.insert(SplitMix64.runSeed(base: base, index: i)) } }
        #expect(seen.count == 20_000)
        // The old derivation, for contrast: bases B and B+1 shared all but one run.
        let old = { (b: UInt64) in Set((0..<200).map { i -> UInt64 in var r = SplitMix64(seed: b &+ UInt64(i)); return r.next() }) }
        #expect(old(1000).intersection(old(1001)).count == 199)
        // Replays depend on it: the same (base, i) gives the same seed.
        #expect(SplitMix64.runSeed(base: 7, index: 3) == SplitMix64.runSeed(base: 7, index: 3))
        #expect(SplitMix64.runSeed(base: 7, index: 3) != SplitMix64.runSeed(base: 3, index: 7))
    }

    @Test("--compare-idle interleaves idle and loaded phases in randomised blocks: equal arms, every index once, both orders drawn")
    func interleavedSchedule() {
        var orders = Set<Bool>()
        for seed in UInt64(0)..<50 {
            let phases = StressSchedule.interleaved(runs: 22, block: 4, seed: seed)
            #expect(phases.count == 12)
            #expect(phases.filter(\.underLoad).map(\.indices.count).reduce(0, +) == 22)
            #expect(phases.filter { !$0.underLoad }.map(\.indices.count).reduce(0, +) == 22)
            #expect(phases.flatMap { Array($0.indices) } == Array(0..<44))
            for pair in stride(from: 0, to: phases.count, by: 2) {
                #expect(phases[pair].underLoad != phases[pair + 1].underLoad)
                #expect(phases[pair].indices.count == phases[pair + 1].indices.count)
                orders.insert(phases[pair].underLoad)
            }
            #expect(phases == StressSchedule.interleaved(runs: 22, block: 4, seed: seed))
        }
        #expect(orders == [true, false])
    }

    @Test("the hosts' equal-rate test: two hosts give Fisher's two-sided p; three hosts match the exact sum over every table",
          arguments: [([5, 0], [16, 16]), ([3, 1], [16, 16]), ([8, 1], [10, 6]), ([0, 0], [10, 12])])
    func equalRatesTwoHosts(_ failures: [Int], _ runs: [Int]) throws {
        let p = try #require(Stats.equalRates(failures: failures, runs: runs))
        let fisher = Stats.fisherExact(failures[0], runs[0] - failures[0], failures[1], runs[1] - failures[1])
        #expect(Self.close(p, fisher, 1e-9), "\(p) vs \(fisher)")
    }

    @Test("three hosts: the exact test sums every table no more likely than the observed one (brute force over all tables)")
    func equalRatesThreeHosts() throws {
        let runs = [8, 6, 7], failures = [4, 0, 1]
        let total = failures.reduce(0, +), n = runs.reduce(0, +)
        func choose(_ n: Int, _ k: Int) -> Double { k < 0 || k > n ? 0 : (0..<k).reduce(1.0) { $0 * Double(n - $1) / Double($1 + 1) } }
        func prob(_ x: [Int]) -> Double { zip(runs, x).reduce(1.0) { $0 * choose($1.0, $1.1) } / choose(n, total) }
        let observed = prob(failures)
        var expected = 0.0, tables = 0
        for a in 0...runs[0] { for b in 0...runs[1] { let c = total - a - b; guard c >= 0 && c <= runs[2] else { continue }
            tables += 1; let q = prob([a, b, c]); if q <= observed * (1 + 1e-7) { expected += q } } }
        #expect(tables > 20)
        let p = try #require(Stats.equalRates(failures: failures, runs: runs))
        #expect(Self.close(p, expected, 1e-12), "\(p) vs \(expected)")
        #expect(Stats.equalRates(failures: failures, runs: runs, maxTables: 3) == nil)
    }
}

/// The statistics proved by exact computation, without boots: every figure below is a finite sum
/// over all outcomes, so each check is exact up to floating-point rounding (slack 1e-12).
@Suite("Flake statistics, proved exactly")
struct StatisticsProofs {
    static let slack = 1e-12
    static let rates = [0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 0.99]

    @Test("the binomial test's size is at most α for every alternative: every N from 1 to 50, 9 rates, α 0.05 and 0.01 (2,700 exact sums over all k)")
    func binomialTestSize() {
        var largest: [Stats.Alternative: Double] = [:]
        for alpha in [0.05, 0.01] {
            for n in 1...50 {
                for p in Self.rates {
                    for alternative in Stats.Alternative.allCases {
                        // Size: the probability, when the true rate is exactly p, of calling it significant.
                        let size = (0...n).reduce(0.0) { sum, k in
                            Stats.baseline(failures: k, runs: n, rate: p, alternative: alternative, alpha: alpha).significant
                                ? sum + Stats.binomialPMF(k, n, p) : sum
                        }
                        #expect(size <= alpha + Self.slack, "N \(n), p \(p), \(alternative), α \(alpha): size \(size)")
                        if alpha == 0.05 { largest[alternative] = max(largest[alternative] ?? 0, size) }
                    }
                }
            }
        }
        // Not vacuous: each test does reject, with a size near α somewhere on the grid.
        for alternative in Stats.Alternative.allCases { #expect(largest[alternative]! > 0.03, "\(alternative): \(largest[alternative]!)") }
    }

    static let sizes = [1, 2, 3, 5, 8, 10, 16, 20, 30, 50]

    @Test("Clopper–Pearson covers every p of a 199-point grid (0.005 … 0.995) with probability ≥ 95%, and so does the one-sided bound, for N in 1, 2, 3, 5, 8, 10, 16, 20, 30, 50")
    func clopperPearsonCoverage() {
        var wilsonMin = 1.0
        for n in Self.sizes {
            let cp = (0...n).map { Stats.clopperPearson(failures: $0, runs: n) }
            let bound = (0...n).map { Stats.upperBound(failures: $0, runs: n) }
            let wilson = (0...n).map { Stats.wilson(failures: $0, runs: n) }
            for step in 1...199 {
                let p = Double(step) * 0.005
                var two = 0.0, one = 0.0, w = 0.0
                for k in 0...n {
                    let q = Stats.binomialPMF(k, n, p)
                    if cp[k].contains(p) { two += q }
                    if p <= bound[k] { one += q }
                    if wilson[k].contains(p) { w += q }
                }
                #expect(two >= 0.95 - Self.slack, "CP, N \(n), p \(p): coverage \(two)")
                #expect(one >= 0.95 - Self.slack, "one-sided bound, N \(n), p \(p): coverage \(one)")
                wilsonMin = min(wilsonMin, w)
            }
        }
        // The same check fails for an interval that is not exact: Wilson dips below 95% on this grid.
        #expect(wilsonMin < 0.95, "\(wilsonMin)")
    }

    /// The SPRT's operating characteristics by dynamic programming over (runs, failures): the
    /// probability mass of every undecided state, moved one run at a time and absorbed at Wald's
    /// boundaries (or at the cap).
    struct Exact {
        var acceptH1 = 0.0, acceptH0 = 0.0, undecided = 0.0, expectedRuns = 0.0, expectedRunsSquared = 0.0
        /// For each n, the decision at (n, f): written independently of the implementation.
        var boundary: [[SPRT.Decision]] = []
    }

    static func exact(p0: Double, p1: Double, alpha: Double, beta: Double, p: Double, cap: Int) -> Exact {
        let upper = log((1 - beta) / alpha), lower = log(beta / (1 - alpha))
        func decide(_ f: Int, _ n: Int) -> SPRT.Decision {
            let llr = Double(f) * log(p1 / p0) + Double(n - f) * log((1 - p1) / (1 - p0))
            return llr >= upper ? .atLeastP1 : (llr <= lower ? .atMostP0 : .undecided)
        }
        var e = Exact()
        e.boundary = (0...cap).map { n in (0...n).map { decide($0, n) } }
        var mass = [1.0] // mass[f] after n runs, undecided states only
        for n in 1...cap {
            var next = [Double](repeating: 0, count: n + 1)
            for (f, m) in mass.enumerated() where m > 0 {
                next[f + 1] += m * p
                next[f] += m * (1 - p)
            }
            for f in 0...n where next[f] > 0 {
                switch e.boundary[n][f] {
                case .atLeastP1: e.acceptH1 += next[f]
                case .atMostP0: e.acceptH0 += next[f]
                case .undecided: continue
                }
                e.expectedRuns += Double(n) * next[f]
                e.expectedRunsSquared += Double(n * n) * next[f]
                next[f] = 0
            }
            mass = next
        }
        e.undecided = mass.reduce(0, +)
        e.expectedRuns += Double(cap) * e.undecided
        e.expectedRunsSquared += Double(cap * cap) * e.undecided
        return e
    }

    @Test("the SPRT's error rates and expected runs, computed exactly, meet Wald's bounds and agree with the implementation on 3,000 simulated sequences per case (seed 6, cap 300)",
          arguments: [(0.05, 0.25, 0.05, 0.05), (0.02, 0.2, 0.05, 0.05), (0.1, 0.3, 0.01, 0.1)])
    func sprtExact(_ p0: Double, _ p1: Double, _ alpha: Double, _ beta: Double) {
        let cap = 300, sequences = 3000
        for p in [p0, (p0 + p1) / 2, p1] {
            let e = Self.exact(p0: p0, p1: p1, alpha: alpha, beta: beta, p: p, cap: cap)
            #expect(abs(e.acceptH1 + e.acceptH0 + e.undecided - 1) < 1e-9)
            // Wald: the true error rates are at most α/(1−β) and β/(1−α), and their sum at most α + β.
            if p == p0 { #expect(e.acceptH1 <= alpha / (1 - beta), "P(H1 | p0) = \(e.acceptH1)") }
            if p == p1 { #expect(e.acceptH0 <= beta / (1 - alpha), "P(H0 | p1) = \(e.acceptH0)") }
            // The implementation on simulated sequences: each decision and stopping run is exactly the
            // boundary's, and the frequencies match the exact probabilities within 4.5 standard errors.
            var rng = SplitMix64(seed: 6)
            var h1 = 0, h0 = 0, totalRuns = 0
            for _ in 0..<sequences {
                var test = RunOrderSequentialTest(SPRT(p0: p0, p1: p1, alpha: alpha, beta: beta), cap: cap)
                var f = 0, n = 0, expected = SPRT.Decision.undecided
                while test.wants(n) {
                    let failed = rng.nextDouble() < p
                    test.add(index: n, failed ? .failed : .passed)
                    n += 1
                    if failed { f += 1 }
                    if expected == .undecided { expected = e.boundary[n][f] }
                    if expected != .undecided { break }
                }
                #expect(test.decision == expected && test.test.runs == n, "p \(p): \(test.decision) after \(test.test.runs), boundary \(expected) after \(n)")
                if test.decision == .atLeastP1 { h1 += 1 }
                if test.decision == .atMostP0 { h0 += 1 }
                totalRuns += test.test.runs
            }
            let m = Double(sequences)
            func agrees(_ count: Int, _ q: Double) -> Bool { abs(Double(count) / m - q) <= 4.5 * (q * (1 - q) / m).squareRoot() + 1 / m }
            #expect(agrees(h1, e.acceptH1), "p \(p): H1 \(h1)/\(sequences), exact \(e.acceptH1)")
            #expect(agrees(h0, e.acceptH0), "p \(p): H0 \(h0)/\(sequences), exact \(e.acceptH0)")
            let sd = (e.expectedRunsSquared - e.expectedRuns * e.expectedRuns).squareRoot()
            #expect(abs(Double(totalRuns) / m - e.expectedRuns) <= 4.5 * sd / m.squareRoot(), "p \(p): mean runs \(Double(totalRuns) / m), exact \(e.expectedRuns)")
        }
    }
}
