/// Where a file stops being UTF-8: input files are read as bytes and checked here, so that a
/// stray Latin-1 byte is reported at its line and column instead of the file seeming absent.
public struct UTF8Problem: Equatable, Sendable {
    /// 1-based line of the bad byte.
    public var line: Int
    /// 1-based column: characters (Unicode scalars) before it on its line, plus one.
    public var column: Int
    /// The first byte that is not valid UTF-8 (the start of a bad or cut-off sequence).
    public var byte: UInt8
    /// Its offset in the file.
    public var offset: Int

    /// "not valid UTF-8 (byte 0xE9 at column 7)"
    public var message: String {
        "not valid UTF-8 (byte 0x\(byte < 0x10 ? "0" : "")\(String(byte, radix: 16, uppercase: true)) at column \(column))"
    }

    public static let fix = "save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8 FILE`), or write the character as a \\u escape"

    /// The first problem in `bytes`, or nil if they are valid UTF-8. One pass, no allocation.
    public static func find(in bytes: [UInt8]) -> UTF8Problem? {
        bytes.withUnsafeBufferPointer { find(in: $0) }
    }

    public static func find(in b: UnsafeBufferPointer<UInt8>) -> UTF8Problem? {
        guard let bad = firstInvalid(b) else { return nil }
        var line = 1, column = 1
        for k in 0..<bad {
            if b[k] == 0x0A { line += 1; column = 1 } else if b[k] & 0xC0 != 0x80 { column += 1 }
        }
        return UTF8Problem(line: line, column: column, byte: b[bad], offset: bad)
    }

    /// The offset of the first byte that does not start a well-formed sequence (Unicode 15, table 3-7:
    /// no overlong forms, no surrogates, nothing above U+10FFFF).
    static func firstInvalid(_ b: UnsafeBufferPointer<UInt8>) -> Int? {
        var i = 0
        let n = b.count
        while i < n {
            let c = b[i]
            if c < 0x80 { i += 1; continue }
            let length: Int
            var low: UInt8 = 0x80, high: UInt8 = 0xBF  // the allowed range of the second byte
            switch c {
            case 0xC2...0xDF: length = 2
            case 0xE0: length = 3; low = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: length = 3
            case 0xED: length = 3; high = 0x9F
            case 0xF0: length = 4; low = 0x90
            case 0xF1...0xF3: length = 4
            case 0xF4: length = 4; high = 0x8F
            default: return i
            }
            guard i + length <= n, (low...high).contains(b[i + 1]) else { return i }
            for k in 2..<length where b[i + k] & 0xC0 != 0x80 { return i }
            i += length
        }
        return nil
    }
}
