/// A TOML 1.0 parser that keeps the line of every key, table header and array element, so a bad
/// lane or marker file is reported at the exact line.
///
/// Why not a TOML package: the one available here (TOMLKit) imports Foundation's `Calendar` and
/// `Date`, which links all of Foundation and ICU into os3ctl (+52 MB) and costs about 2 ms at
/// every start — on the critical path of every `boot` (issue 2: os3ctl adds at most 5% to QEMU
/// by hand). Dates and times are validated and kept as their text; os3ctl never reads one.
public indirect enum TOMLValue: Equatable {
    case string(String)
    case integer(Int)
    case float(Double)
    case boolean(Bool)
    /// An offset or local date-time, date or time, as written (validated).
    case datetime(String)
    case array([TOMLValue])
    case table(TOMLTable)

    public var string: String? { if case .string(let s) = self { s } else { nil } }
    public var int: Int? { if case .integer(let i) = self { i } else { nil } }
    public var double: Double? { if case .float(let d) = self { d } else { nil } }
    public var bool: Bool? { if case .boolean(let b) = self { b } else { nil } }
    public var array: [TOMLValue]? { if case .array(let a) = self { a } else { nil } }
    public var table: TOMLTable? { if case .table(let t) = self { t } else { nil } }

    public static func == (a: TOMLValue, b: TOMLValue) -> Bool {
        switch (a, b) {
        case (.string(let x), .string(let y)): x == y
        case (.integer(let x), .integer(let y)): x == y
        case (.float(let x), .float(let y)): x == y || (x.isNaN && y.isNaN)
        case (.boolean(let x), .boolean(let y)): x == y
        case (.datetime(let x), .datetime(let y)): x == y
        case (.array(let x), .array(let y)): x == y
        case (.table(let x), .table(let y)): x.keys == y.keys && x.keys.allSatisfy { x[$0] == y[$0] }
        default: false
        }
    }
}

/// A TOML table: keys in the order written, each with the line it was written on.
public final class TOMLTable {
    /// How the table came to be, which decides how it may be extended (TOML 1.0's rules).
    enum Origin { case implicit, header, dotted, inline, root }

    public private(set) var keys: [String] = []
    private var values: [String: TOMLValue] = [:]
    private var lines: [String: Int] = [:]
    /// The line of the table's `[header]` (or where it was first implied); nil for the root.
    public internal(set) var line: Int?
    var origin: Origin
    /// Keys holding arrays made by `[[header]]` (only those may be appended to by a header).
    var tableArrays: Set<String> = []

    init(origin: Origin, line: Int?) {
        self.origin = origin
        self.line = line
    }

    public subscript(key: String) -> TOMLValue? { values[key] }

    /// The line `key` was written on (for an array of tables: its first `[[header]]`).
    public func line(of key: String) -> Int? { lines[key] }

    func set(_ key: String, _ value: TOMLValue, line: Int) {
        if values[key] == nil { keys.append(key); lines[key] = line }
        values[key] = value
    }

    /// Parses a whole document. Errors carry the 1-based line.
    public static func parse(_ text: String) throws(TOMLError) -> TOMLTable {
        try parse(bytes: Array(text.utf8))
    }

    /// Parses a file's bytes (invalid UTF-8 is an error, not silently replaced).
    public static func parse(bytes: [UInt8]) throws(TOMLError) -> TOMLTable {
        // Through a buffer pointer: reading an array field byte by byte retains and releases it
        // each time in a debug build (the tests' build), ~1 µs a byte.
        try bytes.withUnsafeBufferPointer { (buffer) throws(TOMLError) -> TOMLTable in
            var parser = TOMLParser(buffer)
            return try parser.document()
        }
    }

    /// How deep values may nest: header and dotted-key parts, arrays and inline tables together.
    /// Parsing (and freeing) nested values recurses, so without a bound a line like `a=[[[[…`
    /// 40,000 deep overflowed the stack; no lane or marker file needs more than a few levels.
    public static let maxDepth = 64

    /// Appends a `[[header]]`'s table to its array in place: taken out of the dictionary first, the
    /// array is uniquely referenced and not copied (copying made n `[[marker]]` entries cost n²).
    func append(_ element: TOMLValue, toArrayAt key: String) {
        guard case .array(var items)? = values.removeValue(forKey: key) else { return }
        items.append(element)
        values[key] = .array(items)
    }
}

public struct TOMLError: Error, Equatable, CustomStringConvertible {
    public var line: Int
    public var message: String
    /// A fix more specific than "correct the syntax" (the file's encoding, its nesting).
    public var fix: String? = nil
    public var description: String { "line \(line): \(message)" }
}

/// Valid only while the buffer it reads is (see `TOMLTable.parse(bytes:)`).
struct TOMLParser {
    private let s: UnsafeBufferPointer<UInt8>
    private var i = 0
    private var line = 1
    private let root = TOMLTable(origin: .root, line: nil)

    init(_ bytes: UnsafeBufferPointer<UInt8>) { s = bytes }

    // MARK: Document structure

    mutating func document() throws(TOMLError) -> TOMLTable {
        if s.starts(with: [0xEF, 0xBB, 0xBF]) { i = 3 }  // a UTF-8 byte order mark
        if let bad = UTF8Problem.find(in: s) { throw TOMLError(line: bad.line, message: bad.message, fix: UTF8Problem.fix) }
        var current = root
        var depth = 0  // of `current`: the number of parts of its header
        while true {
            skipBlank()
            guard let c = peek() else { return root }
            if c == ch("[") {
                (current, depth) = try header()
            } else {
                try keyValue(into: current, depth: depth)
            }
            try endOfLine()
        }
    }

    /// `[a.b]` or `[[a.b]]`: the table the following key/values go into, and its depth.
    private mutating func header() throws(TOMLError) -> (TOMLTable, Int) {
        let headerLine = line
        i += 1
        let isArray = peek() == ch("[")
        if isArray { i += 1 }
        skipSpaces()
        let path = try key(depth: 0)
        skipSpaces()
        guard peek() == ch("]") else { throw fail("expected ']' to close the table header") }
        i += 1
        if isArray {
            guard peek() == ch("]") else { throw fail("expected ']]' to close the array-of-tables header") }
            i += 1
        }
        var table = root
        for part in path.dropLast() {
            table = try descend(table, into: part, line: headerLine)
        }
        let last = path.last!
        var name: String { excerpt(path.joined(separator: ".")) }  // for errors only
        if isArray {
            let element = TOMLTable(origin: .header, line: headerLine)
            if table.tableArrays.contains(last) {
                // Not inside a `switch table[last]`: the switched-on copy would keep the array shared.
                table.append(.table(element), toArrayAt: last)
            } else if table[last] == nil {
                table.set(last, .array([.table(element)]), line: headerLine)
                table.tableArrays.insert(last)
            } else {
                throw fail("[[\(name)]] appends to an array of tables, but '\(name)' is already defined as something else", line: headerLine)
            }
            return (element, path.count)
        }
        switch table[last] {
        case nil:
            let t = TOMLTable(origin: .header, line: headerLine)
            table.set(last, .table(t), line: headerLine)
            return (t, path.count)
        case .table(let t) where t.origin == .implicit:
            t.origin = .header
            t.line = headerLine
            return (t, path.count)
        default:
            throw fail("table [\(name)] is defined more than once", line: headerLine)
        }
    }

    /// The sub-table `part` of `table` on a header's path, created implicitly if missing.
    private mutating func descend(_ table: TOMLTable, into part: String, line: Int) throws(TOMLError) -> TOMLTable {
        switch table[part] {
        case nil:
            let t = TOMLTable(origin: .implicit, line: line)
            table.set(part, .table(t), line: line)
            return t
        case .table(let t) where t.origin != .inline:
            return t
        case .array(let items) where table.tableArrays.contains(part):
            if case .table(let t) = items.last! { return t }
            throw fail("'\(excerpt(part))' is not an array of tables", line: line)
        default:
            throw fail("'\(excerpt(part))' is already a value (or an inline table), so it cannot have sub-tables here", line: line)
        }
    }

    /// `key = value` (the key may be dotted) into `table`, which is nested `depth` levels deep.
    private mutating func keyValue(into table: TOMLTable, depth: Int) throws(TOMLError) {
        let keyLine = line
        let path = try key(depth: depth)
        skipSpaces()
        guard peek() == ch("=") else { throw fail("expected '=' after the key '\(excerpt(path.joined(separator: ".")))'") }
        i += 1
        skipSpaces()
        let v = try value(depth: depth + path.count)
        try assign(path, v, in: table, line: keyLine)
    }

    private mutating func assign(_ path: [String], _ v: TOMLValue, in table: TOMLTable, line: Int) throws(TOMLError) {
        var t = table
        for part in path.dropLast() {
            switch t[part] {
            case nil:
                let sub = TOMLTable(origin: .dotted, line: line)
                t.set(part, .table(sub), line: line)
                t = sub
            case .table(let sub) where sub.origin == .dotted:
                t = sub
            default:
                throw fail("'\(excerpt(path.joined(separator: ".")))' extends '\(excerpt(part))', which is already defined elsewhere", line: line)
            }
        }
        let last = path.last!
        guard t[last] == nil else { throw fail("key '\(excerpt(path.joined(separator: ".")))' is defined more than once", line: line) }
        t.set(last, v, line: line)
    }

    /// A possibly dotted key: bare, "basic" or 'literal' parts, in a table `depth` levels deep.
    private mutating func key(depth: Int) throws(TOMLError) -> [String] {
        var parts: [String] = []
        while true {
            guard depth + parts.count < TOMLTable.maxDepth else { throw tooDeep() }
            skipSpaces()
            guard let c = peek() else { throw fail("expected a key") }
            if c == ch("\"") {
                guard peek(1) != ch("\"") || peek(2) != ch("\"") else { throw fail("a key cannot be a multi-line string") }
                parts.append(try basicString())
            } else if c == ch("'") {
                guard peek(1) != ch("'") || peek(2) != ch("'") else { throw fail("a key cannot be a multi-line string") }
                parts.append(try literalString())
            } else {
                let start = i
                while let b = peek(), isBareKey(b) { i += 1 }
                guard i > start else {
                    throw fail("expected a key (letters, digits, '_' and '-', or a quoted string), found \(describe(c))")
                }
                parts.append(String(decoding: s[start..<i], as: UTF8.self))
            }
            skipSpaces()
            guard peek() == ch(".") else { return parts }
            i += 1
        }
    }

    // MARK: Values

    /// A value `depth` levels deep (a top-level key's value is at depth 1).
    private mutating func value(depth: Int) throws(TOMLError) -> TOMLValue {
        guard depth <= TOMLTable.maxDepth else { throw tooDeep() }
        guard let c = peek() else { throw fail("expected a value") }
        switch c {
        case ch("\""):
            if peek(1) == ch("\""), peek(2) == ch("\"") { return .string(try multilineString(quote: c)) }
            return .string(try basicString())
        case ch("'"):
            if peek(1) == ch("'"), peek(2) == ch("'") { return .string(try multilineString(quote: c)) }
            return .string(try literalString())
        case ch("["): return try arrayValue(depth: depth)
        case ch("{"): return try inlineTable(depth: depth)
        default: return try scalar()
        }
    }

    private mutating func arrayValue(depth: Int) throws(TOMLError) -> TOMLValue {
        let openLine = line
        i += 1
        var items: [TOMLValue] = []
        while true {
            skipBlank()
            guard let c = peek() else { throw fail("this array is not closed with ']'", line: openLine) }
            if c == ch("]") { i += 1; return .array(items) }
            items.append(try value(depth: depth + 1))
            skipBlank()
            if peek() == ch(",") { i += 1; continue }
            guard peek() == ch("]") else {
                throw fail("expected ',' or ']' in the array opened on line \(openLine), found \(describe(peek()))")
            }
        }
    }

    private mutating func inlineTable(depth: Int) throws(TOMLError) -> TOMLValue {
        let openLine = line
        i += 1
        let table = TOMLTable(origin: .dotted, line: openLine)
        skipSpaces()
        if peek() == ch("}") { i += 1; table.origin = .inline; return .table(table) }
        while true {
            skipSpaces()
            try keyValue(into: table, depth: depth)
            skipSpaces()
            guard let c = peek() else { throw fail("this inline table is not closed with '}'", line: openLine) }
            if c == ch(",") {
                i += 1
                skipSpaces()
                if peek() == ch("}") { throw fail("an inline table cannot end with a trailing comma") }
                continue
            }
            if c == ch("}") { i += 1; break }
            throw fail("expected ',' or '}' in the inline table (inline tables stay on one line), found \(describe(c))")
        }
        seal(table)
        return .table(table)
    }

    /// Inline tables, and tables dotted keys made inside them, are closed to later additions.
    private func seal(_ table: TOMLTable) {
        table.origin = .inline
        for key in table.keys { if case .table(let t) = table[key]! { seal(t) } }
    }

    /// A number, boolean or date/time: a run of value characters, then classified.
    private mutating func scalar() throws(TOMLError) -> TOMLValue {
        let start = i
        while let b = peek(), isScalarByte(b) { i += 1 }
        // A date and a time may be separated by one space: "1979-05-27 07:32:00".
        if i - start == 10, peek() == ch(" "), let a = peek(1), let b = peek(2), isDigit(a), isDigit(b), peek(3) == ch(":"),
           s[start + 4] == ch("-") {
            i += 1
            while let b = peek(), isScalarByte(b) { i += 1 }
        }
        guard i > start else { throw fail("expected a value, found \(describe(peek()))") }
        if let v = Self.smallInteger(s[start..<i]) { return .integer(v) }  // most numbers, without making a String
        guard i - start <= Self.maxScalarLength else {
            throw fail("'\(excerpt(String(decoding: s[start..<start + 100], as: UTF8.self)))' is not a valid value: \(i - start) characters is longer than any number, boolean or date")
        }
        let text = String(decoding: s[start..<i], as: UTF8.self)
        if text == "true" { return .boolean(true) }
        if text == "false" { return .boolean(false) }
        if let v = Self.integer(text) { return .integer(v) }
        if let v = Self.float(text) { return .float(v) }
        if Self.isDateTime(text) { return .datetime(text) }
        if Self.integerShaped(text) { throw fail("the integer \(excerpt(text)) does not fit in 64 bits") }
        throw fail("'\(excerpt(text))' is not a valid value (strings need quotes; numbers, true/false and dates are written bare)")
    }

    /// Longer runs are not classified (the classification works on Characters, slowly): no
    /// number, boolean or date is anywhere near this long.
    static let maxScalarLength = 1_000

    /// A plain decimal integer of at most 18 digits (so it fits), read from the bytes directly.
    static func smallInteger(_ b: Slice<UnsafeBufferPointer<UInt8>>) -> Int? {
        var digits = b
        var negative = false
        if let f = digits.first, f == ch("+") || f == ch("-") { negative = f == ch("-"); digits = digits.dropFirst() }
        guard (1...18).contains(digits.count), digits.first != ch("0") || digits.count == 1 else { return nil }
        var v = 0
        for d in digits {
            guard isDigit(d) else { return nil }
            v = v * 10 + Int(d - 48)
        }
        return negative ? -v : v
    }

    /// A well-formed decimal integer (that `integer` rejected only for its size).
    static func integerShaped(_ t: String) -> Bool {
        let body = t.hasPrefix("+") || t.hasPrefix("-") ? t.dropFirst() : Substring(t)
        guard let digits = digitsWithUnderscores(body, radix: 10) else { return false }
        return digits.count == 1 || digits.first != "0"
    }

    static func integer(_ t: String) -> Int? {
        var body = Substring(t)
        var negative = false
        var radix = 10
        for p in ["0x", "0o", "0b"] where body.hasPrefix(p) {
            radix = p == "0x" ? 16 : p == "0o" ? 8 : 2
            body = body.dropFirst(2)
        }
        if radix == 10, let f = body.first, f == "+" || f == "-" { negative = f == "-"; body = body.dropFirst() }
        guard let digits = digitsWithUnderscores(body, radix: radix) else { return nil }
        if radix == 10, digits.count > 1, digits.first == "0" { return nil }  // no leading zeros
        guard let magnitude = UInt64(digits, radix: radix) else { return nil }
        if negative { return magnitude <= UInt64(Int.max) + 1 ? Int(truncatingIfNeeded: 0 &- magnitude) : nil }
        return magnitude <= UInt64(Int.max) ? Int(magnitude) : nil
    }

    /// The digits with single underscores between them removed; nil if empty or misplaced.
    static func digitsWithUnderscores(_ body: Substring, radix: Int) -> String? {
        guard let first = body.first, let last = body.last, first != "_", last != "_", !body.contains("__") else { return nil }
        let digits = body.filter { $0 != "_" }
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.hexDigitValue.map { $0 < radix } == true }) else { return nil }
        return String(digits)
    }

    static func float(_ t: String) -> Double? {
        var body = Substring(t)
        var sign = 1.0
        if let f = body.first, f == "+" || f == "-" { sign = f == "-" ? -1 : 1; body = body.dropFirst() }
        if body == "inf" { return sign * .infinity }
        if body == "nan" { return .nan }
        // int-part, then .frac and/or e-exponent: each a run of digits with single underscores.
        var mantissa = body
        var exponent: Substring?
        if let e = body.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            mantissa = body[..<e]
            exponent = body[body.index(after: e)...]
        }
        var intPart = mantissa
        var frac: Substring?
        if let dot = mantissa.firstIndex(of: ".") {
            intPart = mantissa[..<dot]
            frac = mantissa[mantissa.index(after: dot)...]
        }
        guard frac != nil || exponent != nil else { return nil }
        guard let intDigits = digitsWithUnderscores(intPart, radix: 10), intDigits.count == 1 || intDigits.first != "0" else { return nil }
        var text = intDigits
        if let frac {
            guard let d = digitsWithUnderscores(frac, radix: 10) else { return nil }
            text += "." + d
        }
        if var exp = exponent {
            var expSign = ""
            if let f = exp.first, f == "+" || f == "-" { expSign = String(f); exp = exp.dropFirst() }
            guard let d = digitsWithUnderscores(exp, radix: 10) else { return nil }
            text += "e" + expSign + d
        }
        return Double(text).map { sign * $0 }
    }

    /// RFC 3339 as TOML allows it: date-time (offset or local), date, or time.
    static func isDateTime(_ t: String) -> Bool {
        let b = Array(t.utf8)
        func digits(_ from: Int, _ n: Int) -> Int? {
            guard from + n <= b.count else { return nil }
            var v = 0
            for k in from..<from + n { guard b[k] >= 48 && b[k] <= 57 else { return nil }; v = v * 10 + Int(b[k] - 48) }
            return v
        }
        /// A time at `at`: HH:MM:SS(.fraction)?, returns where it ends.
        func time(_ at: Int) -> Int? {
            guard let h = digits(at, 2), at + 2 < b.count, b[at + 2] == 58, let m = digits(at + 3, 2),
                  at + 5 < b.count, b[at + 5] == 58, let sec = digits(at + 6, 2), h < 24, m < 60, sec <= 60 else { return nil }
            var end = at + 8
            if end < b.count, b[end] == 46 {
                end += 1
                let fracStart = end
                while end < b.count, b[end] >= 48 && b[end] <= 57 { end += 1 }
                guard end > fracStart else { return nil }
            }
            return end
        }
        if b.count >= 8, b[2] == 58 { return time(0) == b.count }
        guard let y = digits(0, 4), b.count >= 10, b[4] == 45, let mo = digits(5, 2), b[7] == 45, let d = digits(8, 2) else { return false }
        let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        guard (1...12).contains(mo), d >= 1, d <= days[mo - 1] else { return false }
        if b.count == 10 { return true }
        guard [84, 116, 32].contains(b[10]), var end = time(11) else { return false }  // T, t or space
        if end == b.count { return true }
        if b[end] == 90 || b[end] == 122 { end += 1 }  // Z, z
        else if b[end] == 43 || b[end] == 45, let oh = digits(end + 1, 2), end + 3 < b.count, b[end + 3] == 58,
                let om = digits(end + 4, 2), oh < 24, om < 60 { end += 6 }
        return end == b.count
    }

    // MARK: Strings

    private mutating func basicString() throws(TOMLError) -> String {
        i += 1
        var out: [UInt8] = []
        while true {
            guard let c = peek(), c != ch("\n") else { throw fail("the string is not closed with '\"' on this line") }
            i += 1
            if c == ch("\"") { return String(decoding: out, as: UTF8.self) }
            if c == ch("\\") { try escape(into: &out); continue }
            try checkControl(c)
            out.append(c)
        }
    }

    /// `"""…"""` (escapes, line-ending backslashes) or `'''…'''` (as written): the first newline
    /// is dropped, CRLF becomes LF, and up to two quotes may stand right before the closing three.
    private mutating func multilineString(quote: UInt8) throws(TOMLError) -> String {
        let basic = quote == ch("\"")
        let openLine = line
        i += 3
        if peek() == ch("\n") { newline() } else if peek() == ch("\r"), peek(1) == ch("\n") { i += 1; newline() }
        var out: [UInt8] = []
        while true {
            guard let c = peek() else {
                throw fail("this multi-line string is not closed with \(basic ? "'\"\"\"'" : "\"'''\"")", line: openLine)
            }
            if c == quote, peek(1) == quote, peek(2) == quote {
                var extra = 0
                while extra < 2, peek(3 + extra) == quote { extra += 1 }
                out += Array(repeating: quote, count: extra)
                i += 3 + extra
                return String(decoding: out, as: UTF8.self)
            }
            if basic && c == ch("\\") {
                // A backslash ending a line swallows the newline and the whitespace after it.
                var j = i + 1
                while j < s.count, s[j] == ch(" ") || s[j] == ch("\t") { j += 1 }
                if j < s.count, s[j] == ch("\n") || (s[j] == ch("\r") && j + 1 < s.count && s[j + 1] == ch("\n")) {
                    i = j
                    while let w = peek(), w == ch(" ") || w == ch("\t") || w == ch("\n") || w == ch("\r") {
                        if w == ch("\r") { guard peek(1) == ch("\n") else { break } }
                        i += 1
                        if w == ch("\n") { line += 1 }
                    }
                    continue
                }
                i += 1
                try escape(into: &out)
                continue
            }
            if c == ch("\n") { newline(); out.append(c); continue }
            if c == ch("\r"), peek(1) == ch("\n") { i += 1; newline(); out.append(ch("\n")); continue }
            i += 1
            try checkControl(c)
            out.append(c)
        }
    }

    private mutating func literalString() throws(TOMLError) -> String {
        i += 1
        let start = i
        while true {
            guard let c = peek(), c != ch("\n") else { throw fail("the string is not closed with \"'\" on this line") }
            if c == ch("'") { i += 1; return String(decoding: s[start..<i - 1], as: UTF8.self) }
            try checkControl(c)
            i += 1
        }
    }

    /// After a backslash: one escape sequence.
    private mutating func escape(into out: inout [UInt8]) throws(TOMLError) {
        guard let e = peek() else { throw fail("the string ends in the middle of an escape") }
        i += 1
        switch e {
        case ch("b"): out.append(0x08)
        case ch("t"): out.append(0x09)
        case ch("n"): out.append(0x0A)
        case ch("f"): out.append(0x0C)
        case ch("r"): out.append(0x0D)
        case ch("\""): out.append(ch("\""))
        case ch("\\"): out.append(ch("\\"))
        case ch("u"), ch("U"):
            let n = e == ch("u") ? 4 : 8
            guard i + n <= s.count, let v = UInt32(String(decoding: s[i..<i + n], as: UTF8.self), radix: 16),
                  s[i..<i + n].allSatisfy({ isHex($0) }), let scalar = Unicode.Scalar(v) else {
                throw fail("\\\(e == ch("u") ? "u" : "U") must be followed by \(n) hex digits of a Unicode scalar value")
            }
            i += n
            out += Array(String(Character(scalar)).utf8)
        default:
            throw fail("unknown escape '\\\(String(decoding: [e], as: UTF8.self))' (allowed: \\b \\t \\n \\f \\r \\\" \\\\ \\uXXXX \\UXXXXXXXX; use a 'literal string' for backslashes)")
        }
    }

    private func checkControl(_ c: UInt8) throws(TOMLError) {
        if (c < 0x20 && c != 0x09) || c == 0x7F { throw fail("control character \(describe(c)) in a string (write it as an escape)") }
    }

    // MARK: Whitespace, comments, lines

    private func peek(_ ahead: Int = 0) -> UInt8? { i + ahead < s.count ? s[i + ahead] : nil }

    private mutating func newline() { i += 1; line += 1 }

    private mutating func skipSpaces() { while let c = peek(), c == ch(" ") || c == ch("\t") { i += 1 } }

    /// Spaces, comments and newlines (between statements and inside arrays).
    private mutating func skipBlank() {
        while let c = peek() {
            if c == ch(" ") || c == ch("\t") { i += 1 }
            else if c == ch("\n") { newline() }
            else if c == ch("\r"), peek(1) == ch("\n") { i += 1 }
            else if c == ch("#") { skipComment() }
            else { return }
        }
    }

    private mutating func skipComment() {
        while let c = peek(), c != ch("\n") { i += 1 }
    }

    /// After a statement: optional spaces and comment, then a newline or the end.
    private mutating func endOfLine() throws(TOMLError) {
        skipSpaces()
        if peek() == ch("#") {
            let start = i
            skipComment()
            if let bad = s[start..<i].first(where: { ($0 < 0x20 && $0 != 0x09 && $0 != ch("\r")) || $0 == 0x7F }) {
                throw fail("control character \(describe(bad)) in a comment")
            }
        }
        if peek() == ch("\r"), peek(1) == ch("\n") { i += 1 }
        guard let c = peek() else { return }
        guard c == ch("\n") else { throw fail("expected the end of the line after the value, found \(describe(c)) (one key = value per line)") }
        newline()
    }

    private func describe(_ c: UInt8?) -> String {
        guard let c else { return "the end of the file" }
        if c == 0x0A { return "the end of the line" }
        if c >= 0x20 && c < 0x7F { return "'\(String(decoding: [c], as: UTF8.self))'" }
        return "byte 0x\(String(c, radix: 16, uppercase: true))"
    }

    private func fail(_ message: String, line: Int? = nil) -> TOMLError {
        TOMLError(line: line ?? self.line, message: message)
    }

    private func tooDeep() -> TOMLError {
        TOMLError(line: line, message: "values nest more than \(TOMLTable.maxDepth) levels deep (table header and dotted key parts, arrays and inline tables all count)",
                  fix: "flatten the structure: no lane or marker file needs more than a few levels")
    }
}

// MARK: Characters
// Free functions, not methods: a method call copies the parser (retain/release) in a debug build.

private func ch(_ c: Unicode.Scalar) -> UInt8 { UInt8(c.value) }
private func isDigit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }
private func isHex(_ c: UInt8) -> Bool { isDigit(c) || (c | 0x20 >= 97 && c | 0x20 <= 102) }
private func isBareKey(_ c: UInt8) -> Bool {
    isDigit(c) || (c | 0x20 >= 97 && c | 0x20 <= 122) || c == ch("_") || c == ch("-")
}
private func isScalarByte(_ c: UInt8) -> Bool {
    isBareKey(c) || c == ch("+") || c == ch(".") || c == ch(":")
}
