import Testing
@testable import KernelPure

@Suite("Seeded fault injection")
struct FaultInjectionTests {
    func ppm(_ text: String) -> UInt32? { parseProbabilityPPM(Array(text.utf8)) }

    @Test("probabilities parse as parts per million")
    func parsing() {
        #expect(ppm("0.3") == 300_000)
        #expect(ppm("0.25") == 250_000)
        #expect(ppm(".5") == 500_000)
        #expect(ppm("1") == 1_000_000)
        #expect(ppm("1.0") == 1_000_000)
        #expect(ppm("0") == 0)
        #expect(ppm("0.000001") == 1)
        #expect(ppm("0.30000000") == 300_000)
        for bad in ["", ".", "1.5", "2", "0.0000001", "-0.1", "0.3.1", "a", "0,3", "10"] {
            #expect(ppm(bad) == nil, "\(bad)")
        }
    }

    @Test("the same seed always gives the same outcome; the rate matches P")
    func replayAndRate() {
        var seeds = SplitMix64(seed: 2026)
        for p: UInt32 in [0, 100_000, 300_000, 500_000, 1_000_000] {
            var failures = 0
            let n = 20_000
            for _ in 0..<n {
                let seed = seeds.next()
                let fails = FaultInjection.flakeFails(seed: seed, ppm: p)
                #expect(fails == FaultInjection.flakeFails(seed: seed, ppm: p))
                if fails { failures += 1 }
            }
            let rate = Double(failures) / Double(n)
            #expect(abs(rate - Double(p) / 1e6) < 0.015, "p=\(p) rate=\(rate)")
        }
    }
}
