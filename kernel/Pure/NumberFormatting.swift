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
