// NumberFormatting.swift — decimal and hex digits without allocation.
// The kernel console feeds each byte to the serial port; tests collect them.

/// Emits the decimal digits of `value`, most significant first.
public func forEachDecimalDigit(of value: UInt64, _ emit: (UInt8) -> Void) {
    var divisor: UInt64 = 1
    while value / divisor >= 10 { divisor &*= 10 }
    var rest = value
    while true {
        emit(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: rest / divisor))
        rest %= divisor
        if divisor == 1 { break }
        divisor /= 10
    }
}

/// Emits lowercase hex digits of `value` without leading zeros (at least
/// `minimumDigits`, at most 16), most significant first, no "0x" prefix.
public func forEachHexDigit(of value: UInt64, minimumDigits: Int = 1, _ emit: (UInt8) -> Void) {
    var digits = 1
    while digits < 16 && (value >> UInt64(digits &* 4)) != 0 { digits &+= 1 }
    if digits < minimumDigits { digits = min(minimumDigits, 16) }
    var shift = digits &* 4
    while shift > 0 {
        shift &-= 4
        let nibble = UInt8(truncatingIfNeeded: (value >> UInt64(shift)) & 0xF)
        emit(nibble < 10 ? UInt8(ascii: "0") &+ nibble : UInt8(ascii: "a") &+ (nibble &- 10))
    }
}

/// Writes the decimal digits of `value` to `out` (room for 20), returns how
/// many. One pass, no closures: the kernel console's fast path.
public func formatDecimal(_ value: UInt64, into out: UnsafeMutablePointer<UInt8>) -> Int {
    var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes of scratch
    return withUnsafeMutableBytes(of: &digits) { scratch in
        var at = 24
        var rest = value
        repeat {
            at &-= 1
            scratch[at] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: rest % 10)
            rest /= 10
        } while rest != 0
        let count = 24 &- at
        out.update(from: scratch.baseAddress!.assumingMemoryBound(to: UInt8.self) + at, count: count)
        return count
    }
}

/// Writes lowercase hex digits of `value` (no leading zeros, no "0x") to
/// `out` (room for 16), returns how many.
public func formatHex(_ value: UInt64, into out: UnsafeMutablePointer<UInt8>) -> Int {
    var digits = 1
    while digits < 16 && (value >> UInt64(digits &* 4)) != 0 { digits &+= 1 }
    var i = 0
    var shift = digits &* 4
    while shift > 0 {
        shift &-= 4
        let nibble = UInt8(truncatingIfNeeded: (value >> UInt64(shift)) & 0xF)
        out[i] = nibble < 10 ? UInt8(ascii: "0") &+ nibble : UInt8(ascii: "a") &+ (nibble &- 10)
        i &+= 1
    }
    return digits
}
