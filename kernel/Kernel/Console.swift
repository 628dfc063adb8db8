// Console.swift — text output to the serial line without heap allocation.
// Lines of the boot protocol end with a bare "\n".

enum Console {
    static func write(_ text: StaticString) {
        text.withUTF8Buffer { buffer in
            for byte in buffer { Serial.write(byte) }
        }
    }

    static func write<Bytes: Sequence>(bytes: Bytes) where Bytes.Element == UInt8 {
        for byte in bytes { Serial.write(byte) }
    }

    static func writeDecimal(_ value: UInt64) {
        forEachDecimalDigit(of: value) { Serial.write($0) }
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
        write("0x")
        forEachHexDigit(of: value) { Serial.write($0) }
    }
}
