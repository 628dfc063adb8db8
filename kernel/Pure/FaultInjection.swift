// FaultInjection.swift — seeded randomness and injected flakes, as pure logic.
//
// `os3.seed=N` seeds the kernel's randomness; `inject.flake=P` makes the boot
// fail with probability P. The decision is a function of the seed alone, so
// replaying a seed replays the outcome: this is how `os3ctl stress` checks
// its statistics against a known true rate (docs/STRESS.md, docs/KERNEL.md).

/// A probability in parts per million, parsed from a decimal like "0.3",
/// "0.25", "1", "0", ".5" or "1.000". At most 6 fractional digits count
/// (more are allowed if they are zeros). Nil for anything else or above 1.
public func parseProbabilityPPM<Digits: Collection>(_ text: Digits) -> UInt32? where Digits.Element == UInt8 {
    var whole: UInt64 = 0
    var fraction: UInt64 = 0
    var fractionDigits = 0
    var seenDot = false
    var seenDigit = false
    for byte in text {
        if byte == UInt8(ascii: ".") {
            if seenDot { return nil }
            seenDot = true
            continue
        }
        guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") else { return nil }
        seenDigit = true
        let digit = UInt64(byte &- UInt8(ascii: "0"))
        if seenDot {
            if fractionDigits < 6 {
                fraction = fraction &* 10 &+ digit
                fractionDigits &+= 1
            } else if digit != 0 {
                return nil  // finer than one in a million
            }
        } else {
            whole = whole &* 10 &+ digit
            if whole > 1 { return nil }
        }
    }
    guard seenDigit else { return nil }
    while fractionDigits < 6 {
        fraction &*= 10
        fractionDigits &+= 1
    }
    let ppm = whole &* 1_000_000 &+ fraction
    guard ppm <= 1_000_000 else { return nil }
    return UInt32(ppm)
}

public enum FaultInjection {
    /// Salt so the flake draw is not the first value other users of the
    /// seed see.
    static let flakeSalt: UInt64 = 0xF1A6_E000_0053_EED5

    /// The seeded draw in 0 ..< 1_000_000 that decides an injected flake.
    public static func flakeDraw(seed: UInt64) -> UInt32 {
        var random = SplitMix64(seed: seed ^ flakeSalt)
        return UInt32(truncatingIfNeeded: random.next() % 1_000_000)
    }

    /// Whether a boot with this seed fails when flakes are injected at `ppm`.
    public static func flakeFails(seed: UInt64, ppm: UInt32) -> Bool {
        flakeDraw(seed: seed) < ppm
    }
}
