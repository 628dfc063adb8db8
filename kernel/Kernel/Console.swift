// Console.swift — text output to the serial line without heap allocation.
// Lines of the boot protocol end with a bare "\n". Strings are copied into
// the serial line buffer whole, numbers formatted in one pass (every ring-0
// instruction is emulated in the kvm lanes). Once other CPUs or interrupt
// handlers print, whole lines are written under `Console.lock` (see
// `Console.line`).

enum Console {
    static func write(_ text: StaticString) {
        Serial.write(text.utf8Start, text.utf8CodeUnitCount)
    }

    static func write(bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        Serial.write(base.assumingMemoryBound(to: UInt8.self), bytes.count)
    }

    static func write<Bytes: Sequence>(bytes: Bytes) where Bytes.Element == UInt8 {
        for byte in bytes { Serial.write(byte) }
    }

    static func writeDecimal(_ value: UInt64) {
        var scratch: (UInt64, UInt64, UInt64) = (0, 0, 0)
        withUnsafeMutableBytes(of: &scratch) { raw in
            let out = raw.baseAddress!.assumingMemoryBound(to: UInt8.self)
            Serial.write(out, formatDecimal(value, into: out))
        }
    }

    static func writeDecimal(_ value: Int) {
        if value < 0 {
            Serial.write(UInt8(ascii: "-"))
            writeDecimal(UInt64(0 &- UInt64(bitPattern: Int64(value))))
        } else {
            writeDecimal(UInt64(value))
        }
    }

    /// "0x" followed by lowercase hex digits, no leading zeros.
    static func writeHex(_ value: UInt64) {
        var scratch: (UInt64, UInt64, UInt64) = (0x7830, 0, 0)  // "0x"
        withUnsafeMutableBytes(of: &scratch) { raw in
            let out = raw.baseAddress!.assumingMemoryBound(to: UInt8.self)
            Serial.write(out, 2 &+ formatHex(value, into: out + 2))
        }
    }
}
