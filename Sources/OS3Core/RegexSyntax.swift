/// Parsing of marker regular expressions (docs/FORMATS.md, "Regular expressions in marker files").
///
/// Why a parser of our own: the syntax accepted here is exactly what `MarkerRegex` can match in
/// time linear in the line, so validity is decided once, when the marker file is read. Constructs
/// that need backtracking (backreferences, lookaround, possessive quantifiers, atomic groups) are
/// refused with the reason and a fix. Nesting is depth-checked, so no pattern can exhaust the stack.

/// Why a pattern was refused: what, where (1-based column, in characters of the pattern) and how to
/// fix it.
public struct RegexSyntaxError: Error, Equatable, Sendable, CustomStringConvertible {
    public var column: Int
    public var reason: String
    public var fix: String

    public var description: String { "\(reason) at column \(column)" }
}

/// A set of characters. A line's characters are Unicode scalars, plus one "character" per byte
/// that is not valid UTF-8 (`MarkerRegex.invalidBase + byte`), which only negated sets contain.
struct CharSet: Sendable, Equatable {
    var low: UInt64 = 0, high: UInt64 = 0
    /// Sorted, disjoint, non-adjacent ranges of scalars ≥ 0x80.
    var ranges: [ClosedRange<UInt32>] = []
    var invalidBytes = false

    static let digit = CharSet(0x30...0x39)
    static let word = CharSet(0x30...0x39).union(CharSet(0x41...0x5A)).union(CharSet(0x61...0x7A)).union(CharSet(0x5F...0x5F))
    static let space = CharSet(0x09...0x0D).union(CharSet(0x20...0x20))
    static let all = CharSet().inverted

    init() {}

    init(_ range: ClosedRange<UInt32>) {
        if range.lowerBound < 0x80 {
            for c in range.lowerBound...min(range.upperBound, 0x7F) {
                if c < 64 { low |= 1 << UInt64(c) } else { high |= 1 << UInt64(c - 64) }
            }
        }
        if range.upperBound >= 0x80 { ranges = [max(range.lowerBound, 0x80)...range.upperBound] }
    }

    func contains(_ c: UInt32) -> Bool {
        if c < 64 { return low & (1 << UInt64(c)) != 0 }
        if c < 128 { return high & (1 << UInt64(c - 64)) != 0 }
        if c >= MarkerRegex.invalidBase { return invalidBytes }
        for r in ranges {
            if c < r.lowerBound { return false }
            if c <= r.upperBound { return true }
        }
        return false
    }

    func union(_ o: CharSet) -> CharSet {
        var s = CharSet()
        s.low = low | o.low
        s.high = high | o.high
        s.invalidBytes = invalidBytes || o.invalidBytes
        for r in (ranges + o.ranges).sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = s.ranges.last, r.lowerBound <= last.upperBound &+ 1 {
                s.ranges[s.ranges.count - 1] = last.lowerBound...max(last.upperBound, r.upperBound)
            } else {
                s.ranges.append(r)
            }
        }
        return s
    }

    var inverted: CharSet {
        var s = CharSet()
        s.low = ~low
        s.high = ~high
        s.invalidBytes = !invalidBytes
        var next: UInt32 = 0x80
        for r in ranges {
            if r.lowerBound > next { s.ranges.append(next...(r.lowerBound - 1)) }
            next = r.upperBound + 1
        }
        if next <= 0x10FFFF { s.ranges.append(next...0x10FFFF) }
        return s
    }

    /// The one scalar this set holds, if it holds exactly one.
    var single: UInt32? {
        guard !invalidBytes else { return nil }
        let count = low.nonzeroBitCount + high.nonzeroBitCount
        if count == 1 && ranges.isEmpty { return UInt32(low != 0 ? low.trailingZeroBitCount : 64 + high.trailingZeroBitCount) }
        if count == 0, ranges.count == 1, ranges[0].lowerBound == ranges[0].upperBound { return ranges[0].lowerBound }
        return nil
    }
}

/// A parsed pattern.
enum RegexNode: Sendable, Equatable {
    enum Assertion: Sendable, Equatable { case lineStart, lineEnd, wordBoundary, notWordBoundary }
    /// One character (a literal, or an escape that names one).
    case char(UInt32)
    case set(CharSet)
    case assertion(Assertion)
    case concat([RegexNode])
    case alternation([RegexNode])
    indirect case repetition(RegexNode, min: Int, max: Int?)
}

struct RegexParser {
    /// Largest count in `{n}`, `{n,}`, `{n,m}`.
    static let maxCount = 100
    /// Deepest nesting of groups; parsing recurses once per level, so this bounds the stack.
    static let maxDepth = 100

    private let chars: [Unicode.Scalar]
    private var at = 0
    private var depth = 0

    static func parse(_ pattern: String) throws(RegexSyntaxError) -> RegexNode {
        var p = RegexParser(chars: Array(pattern.unicodeScalars))
        let node = try p.alternation()
        if p.at < p.chars.count {
            // alternation() stops only at "|" (consumed) or ")" or the end.
            throw p.error(at: p.at, "unmatched `)`", fix: "remove it, or write `\\)` for a literal parenthesis")
        }
        return node
    }

    private init(chars: [Unicode.Scalar]) { self.chars = chars }

    private var peek: Unicode.Scalar? { at < chars.count ? chars[at] : nil }
    private func peek(_ offset: Int) -> Unicode.Scalar? { at + offset < chars.count ? chars[at + offset] : nil }

    private func error(at index: Int, _ reason: String, fix: String) -> RegexSyntaxError {
        RegexSyntaxError(column: index + 1, reason: reason, fix: fix)
    }

    private func text(_ from: Int, _ to: Int) -> String {
        var s = ""
        s.unicodeScalars.append(contentsOf: chars[from..<min(to, chars.count)])
        return s
    }

    private func unsupported(_ from: Int, _ to: Int, _ what: String, fix: String) -> RegexSyntaxError {
        error(at: from, "unsupported construct `\(text(from, to))` (\(what))", fix: fix)
    }

    // MARK: Structure

    private mutating func alternation() throws(RegexSyntaxError) -> RegexNode {
        var branches = [try concatenation()]
        while peek == "|" {
            at += 1
            branches.append(try concatenation())
        }
        return branches.count == 1 ? branches[0] : .alternation(branches)
    }

    /// Items up to "|", ")" or the end; may be empty (an empty branch matches the empty string).
    private mutating func concatenation() throws(RegexSyntaxError) -> RegexNode {
        var items: [RegexNode] = []
        while let c = peek, c != "|", c != ")" {
            let start = at
            let atom = try atom()
            let item = try quantified(atom, start: start)
            // A group without quantifier is just its items: keeps the run of literals visible.
            if case .concat(let inner) = item { items += inner } else { items.append(item) }
        }
        return items.count == 1 ? items[0] : .concat(items)
    }

    private mutating func atom() throws(RegexSyntaxError) -> RegexNode {
        let start = at
        let c = chars[at]
        at += 1
        switch c {
        case "(": return try group(start)
        case "[": return .set(try characterClass(start))
        case ".": return .set(.all)
        case "^": return .assertion(.lineStart)
        case "$": return .assertion(.lineEnd)
        case "\\": return try escape(start, inClass: false)
        case "*", "+", "?":
            throw error(at: start, "`\(c)` has nothing to repeat", fix: "write `\\\(c)` for the character itself")
        case "{":
            throw error(at: start, "`{` has nothing to repeat", fix: "write `\\{` for a literal brace")
        case "}", "]":
            throw error(at: start, "unmatched `\(c)`", fix: "write `\\\(c)` for the character itself")
        default:
            return .char(c.value)
        }
    }

    /// After "(": the group up to its ")".
    private mutating func group(_ start: Int) throws(RegexSyntaxError) -> RegexNode {
        depth += 1
        defer { depth -= 1 }
        if depth > Self.maxDepth {
            throw error(at: start, "groups nested more than \(Self.maxDepth) deep", fix: "flatten the pattern")
        }
        if peek == "?" { try groupKind(start) }
        let inner = try alternation()
        guard peek == ")" else {
            throw error(at: start, "missing `)` for the group opened here", fix: "close the group, or write `\\(` for a literal parenthesis")
        }
        at += 1
        return inner
    }

    /// After "(?": accepts `(?:` and named groups `(?<name>` `(?'name'` `(?P<name>`; refuses the rest.
    private mutating func groupKind(_ start: Int) throws(RegexSyntaxError) {
        let linear = "marker regexes must match in time linear in the line"
        switch (peek(1), peek(2)) {
        case (":", _): at += 2; return
        case ("<", "="), ("<", "!"):
            throw unsupported(start, at + 3, "lookbehind", fix: "\(linear): match the text itself, e.g. `ab` instead of `(?<=a)b`")
        case ("=", _), ("!", _):
            throw unsupported(start, at + 2, "lookahead", fix: "\(linear): match the text itself, or use a [[forbidden]] marker for what must not appear")
        case ("P", "="):
            throw unsupported(start, at + 3, "backreference", fix: "\(linear): write the repeated text out")
        case ("<", _), ("'", _), ("P", "<"):
            at += peek(1) == "P" ? 3 : 2
            let close: Unicode.Scalar = chars[at - 1] == "'" ? "'" : ">"
            let nameStart = at
            while let c = peek, CharSet.word.contains(c.value) { at += 1 }
            guard at > nameStart, peek == close, !(chars[nameStart].value >= 0x30 && chars[nameStart].value <= 0x39) else {
                throw error(at: start, "bad group name in `\(text(start, at + 1))`", fix: "write `(?<name>...)` with letters, digits and `_`, or `(?:...)`")
            }
            at += 1
            return
        case (">", _):
            throw unsupported(start, at + 2, "atomic group", fix: "\(linear): use a plain group `(?:...)`")
        case ("#", _):
            throw unsupported(start, at + 2, "comment group", fix: "put comments in the TOML file, after `#`")
        case ("(", _):
            throw unsupported(start, at + 2, "conditional", fix: "\(linear): use alternation `a|b`")
        default:
            var end = at + 1
            while end < chars.count, chars[end] != ")", chars[end] != ":" { end += 1 }
            throw unsupported(start, end + 1, "inline options", fix: "write the cases out, e.g. `[Pp]anic` instead of `(?i)panic`")
        }
    }

    /// `atom` with its quantifier, if any.
    private mutating func quantified(_ atom: RegexNode, start: Int) throws(RegexSyntaxError) -> RegexNode {
        guard let q = peek else { return atom }
        let qStart = at
        let bounds: (Int, Int?)
        switch q {
        case "*": at += 1; bounds = (0, nil)
        case "+": at += 1; bounds = (1, nil)
        case "?": at += 1; bounds = (0, 1)
        case "{":
            at += 1
            func bad() -> RegexSyntaxError {
                error(at: qStart, "`{` does not start a count like `{2}`, `{2,}` or `{1,3}`", fix: "write a count, or `\\{` for a literal brace")
            }
            guard let low = try number() else { throw bad() }
            var high: Int? = low
            if peek == "," {
                at += 1
                high = peek == "}" ? nil : try number()
                guard high != nil || peek == "}" else { throw bad() }
            }
            guard peek == "}" else { throw bad() }
            at += 1
            if let high, high < low {
                throw error(at: qStart, "count `\(text(qStart, at))` has its maximum below its minimum", fix: "write `{\(high),\(low)}`")
            }
            bounds = (low, high)
        default: return atom
        }
        // A bare anchor cannot be repeated (a group around one can: it is then harmless).
        if case .assertion = atom, chars[start] != "(" {
            throw error(at: qStart, "`\(text(start, at))`: an anchor or boundary cannot be repeated", fix: "remove the quantifier")
        }
        // Lazy and greedy find the same lines (only whether a line matches is asked).
        if peek == "?" {
            at += 1
        } else if peek == "+" {
            throw unsupported(qStart, at + 1, "possessive quantifier",
                              fix: "marker regexes must match in time linear in the line: drop the trailing `+`")
        }
        if let next = peek, next == "*" || next == "+" || next == "?" || next == "{" {
            throw error(at: at, "a quantifier follows a quantifier", fix: "put the repeated part in a group, e.g. `(?:a{2})*`")
        }
        return .repetition(atom, min: bounds.0, max: bounds.1)
    }

    private mutating func number() throws(RegexSyntaxError) -> Int? {
        let start = at
        var value = 0
        while let d = peek, d.value >= 0x30 && d.value <= 0x39 {
            value = min(value * 10 + Int(d.value - 0x30), Self.maxCount + 1)
            at += 1
        }
        if at == start { return nil }
        if value > Self.maxCount {
            throw error(at: start, "count \(text(start, at)) is more than \(Self.maxCount)", fix: "use `+` or `*`, or a count up to \(Self.maxCount)")
        }
        return value
    }

    // MARK: Classes and escapes

    /// After "[": the class up to its "]".
    private mutating func characterClass(_ start: Int) throws(RegexSyntaxError) -> CharSet {
        var set = CharSet()
        let negated = peek == "^"
        if negated { at += 1 }
        if peek == "]" {
            throw error(at: at, "`]` at the start of a class", fix: "write `\\]` for a literal bracket; an empty class matches nothing")
        }
        while true {
            guard let c = peek else {
                throw error(at: start, "missing `]` for the class opened here", fix: "close the class, or write `\\[` for a literal bracket")
            }
            if c == "]" { at += 1; break }
            if c == "[" {
                throw unsupported(at, at + 1, "nested class or POSIX class", fix: "write `\\[` for a literal bracket, or list the characters, e.g. `[a-z]` for `[[:lower:]]`")
            }
            if let n = peek(1), n == c, c == "&" || c == "-" || c == "~" {
                throw unsupported(at, at + 2, "class set operation", fix: "list the characters the class should hold; write `\\\(c)` for a literal")
            }
            let itemStart = at
            let item = try classMember()
            if peek == "-", let n = peek(1), n != "]" {
                at += 1
                let hi = try classMember()
                guard let lo = item.single, let hiValue = hi.single else {
                    throw error(at: itemStart, "range `\(text(itemStart, at))` needs a single character at each end",
                                fix: "put `-` first or last in the class, or write `\\-`")
                }
                guard lo <= hiValue else {
                    throw error(at: itemStart, "range `\(text(itemStart, at))` is out of order", fix: "write the smaller character first")
                }
                set = set.union(CharSet(lo...hiValue))
            } else {
                set = set.union(item)
            }
        }
        return negated ? set.inverted : set
    }

    private mutating func classMember() throws(RegexSyntaxError) -> CharSet {
        let start = at
        let c = chars[at]
        at += 1
        if c == "\\" {
            switch try escape(start, inClass: true) {
            case .char(let v): return CharSet(v...v)
            case .set(let s): return s
            default: fatalError("unreachable: escape() refuses assertions in a class")
            }
        }
        return CharSet(c.value...c.value)
    }

    /// After "\": one escape, outside or inside a class.
    private mutating func escape(_ start: Int, inClass: Bool) throws(RegexSyntaxError) -> RegexNode {
        guard let e = peek else {
            throw error(at: start, "`\\` at the end of the pattern", fix: "write `\\\\` for a literal backslash")
        }
        at += 1
        func char(_ v: UInt32) -> RegexNode { .char(v) }
        let linear = "marker regexes must match in time linear in the line"
        switch e {
        case "d": return .set(.digit)
        case "D": return .set(CharSet.digit.inverted)
        case "w": return .set(.word)
        case "W": return .set(CharSet.word.inverted)
        case "s": return .set(.space)
        case "S": return .set(CharSet.space.inverted)
        case "t": return char(0x09)
        case "n": return char(0x0A)
        case "r": return char(0x0D)
        case "f": return char(0x0C)
        case "a": return char(0x07)
        case "e": return char(0x1B)
        case "x", "u": return char(try hexEscape(start, e))
        case "b", "B", "A", "z", "Z":
            if inClass {
                throw error(at: start, "`\\\(e)` inside a class", fix: "use it outside the class; `\\x08` is a backspace")
            }
            switch e {
            case "b": return .assertion(.wordBoundary)
            case "B": return .assertion(.notWordBoundary)
            case "A": return .assertion(.lineStart)
            default: return .assertion(.lineEnd)
            }
        case "1", "2", "3", "4", "5", "6", "7", "8", "9", "k", "g":
            var end = at
            if e == "k" || e == "g", let open = peek, let close: Unicode.Scalar = open == "<" ? ">" : open == "'" ? "'" : open == "{" ? "}" : nil {
                while end < chars.count, chars[end] != close { end += 1 }
                end += 1
            }
            throw unsupported(start, end, "backreference", fix: "\(linear): write the repeated text out, or match it with a class such as `\\w+`")
        case "p", "P":
            var end = at
            if peek == "{" { while end < chars.count, chars[end] != "}" { end += 1 }; end += 1 } else { end += 1 }
            throw unsupported(start, end, "Unicode property", fix: "list the characters in a class, e.g. `[A-Za-z]`")
        case "Q":
            throw unsupported(start, at, "quoting", fix: "escape each special character with `\\` instead")
        default:
            if e.value >= 0x80 || !CharSet.word.contains(e.value) {
                return char(e.value)  // escaped punctuation (or any non-ASCII character) is itself
            }
            throw unsupported(start, at, "escape", fix: "see docs/FORMATS.md for the escapes marker regexes support; write `\\\\` for a literal backslash")
        }
    }

    /// After `\x` or `\u`: `\xHH`, `\uHHHH`, `\x{H…}` or `\u{H…}` (1–8 hex digits), a Unicode scalar.
    private mutating func hexEscape(_ start: Int, _ kind: Unicode.Scalar) throws(RegexSyntaxError) -> UInt32 {
        func hexDigit() -> UInt32? {
            guard let c = peek, c.properties.isASCIIHexDigit else { return nil }
            at += 1
            let v = c.value
            return v <= 0x39 ? v - 0x30 : (v | 0x20) - 0x61 + 10
        }
        var value: UInt32 = 0
        let form = kind == "x" ? "`\\xHH` or `\\x{HHHH}`" : "`\\uHHHH` or `\\u{HHHH}`"
        if peek == "{" {
            at += 1
            var digits = 0
            while let d = hexDigit() {
                digits += 1
                if digits > 8 { break }
                value = value << 4 | d
            }
            guard digits >= 1, digits <= 8, peek == "}" else {
                throw error(at: start, "bad escape `\(text(start, at + 1))`", fix: "write \(form) with hexadecimal digits")
            }
            at += 1
        } else {
            for _ in 0..<(kind == "x" ? 2 : 4) {
                guard let d = hexDigit() else {
                    throw error(at: start, "bad escape `\(text(start, at + 1))`", fix: "write \(form) with hexadecimal digits")
                }
                value = value << 4 | d
            }
        }
        guard Unicode.Scalar(value) != nil else {
            throw error(at: start, "`\(text(start, at))` is not a Unicode scalar", fix: "use a value up to 10FFFF, outside D800–DFFF")
        }
        return value
    }
}
