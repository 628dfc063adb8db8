/// SplitMix64: a tiny, well-known PRNG. Used for per-run kernel seeds (so any run can be replayed
/// from its seed) and for simulations in tests.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public private(set) var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    public mutating func nextDouble() -> Double { Double(next() >> 11) * 0x1.0p-53 }
}

extension SplitMix64 {
    /// SplitMix64's output function alone: a bijective 64-bit mixer (nearby inputs, unrelated outputs).
    public static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Run i's kernel seed in a stress experiment: a hash of (base, i). The earlier SplitMix64(base + i)
    /// made `--seed B` and `--seed B+1` share N−1 of their N runs; hashed, neighbouring bases share none.
    public static func runSeed(base: UInt64, index: Int) -> UInt64 {
        mix(mix(base) ^ mix(UInt64(index) &+ 0x9E37_79B9_7F4A_7C15))
    }
}

/// One stretch of a stress experiment: consecutive run indices, all under load or all idle.
public struct StressPhase: Sendable, Equatable {
    public var underLoad: Bool
    public var indices: Range<Int>

    public init(underLoad: Bool, indices: Range<Int>) {
        self.underLoad = underLoad
        self.indices = indices
    }
}

public enum StressSchedule {
    /// `runs` idle and `runs` loaded runs interleaved in randomised blocks: each block is one idle and
    /// one loaded phase of up to `block` runs, in an order drawn from `seed`. Drift in time (the host,
    /// the other tenants) then falls on both arms alike instead of passing for an effect of load.
    /// Indices follow time order.
    public static func interleaved(runs: Int, block: Int, seed: UInt64) -> [StressPhase] {
        precondition(runs >= 0 && block >= 1)
        // A stream of its own, apart from the runs' seeds.
        var rng = SplitMix64(seed: SplitMix64.mix(seed ^ 0x5354_5245_5353_4944)) // "STRESSID"
        var phases: [StressPhase] = []
        var next = 0, left = runs
        while left > 0 {
            let size = min(block, left)
            let loadedFirst = rng.next() & 1 == 1
            for underLoad in [loadedFirst, !loadedFirst] {
                phases.append(StressPhase(underLoad: underLoad, indices: next..<(next + size)))
                next += size
            }
            left -= size
        }
        return phases
    }
}
