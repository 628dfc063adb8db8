/// The common subset of Swift Regex syntax, compiled in microseconds to a small automaton that
/// tells whether a line of plain ASCII contains a match.
///
/// Why: Swift's `Regex(String)` takes 0.1–0.25 ms to parse one pattern here, so a lane's 15–20
/// marker regexes cost ~3 ms of CPU while QEMU starts — time a TCG guest on two cores feels
/// directly (issue 2: `boot` may add at most 5% to QEMU by hand; docs/BENCHMARKS.md).
///
/// The subset: printable ASCII literals; `.`; `\d \D \w \W \s \S`; escaped punctuation;
/// classes `[...]` and `[^...]` with ranges and `\d \w \s`; groups `(...)` and `(?:...)`;
/// alternation; the greedy quantifiers `* + ? {n} {n,} {n,m}`; the anchors `^` and `$`. Only
/// *whether* a line matches is asked, so greedy or lazy and capture groups make no difference.
/// Anything else — a pattern outside the subset (`init` returns nil) or a line that is not plain
/// ASCII (`matches` returns nil) — is left to Swift Regex (see `MarkerRegex`). Within both, the
/// answers are Swift Regex's: Tests/OS3CoreTests/LineRegexTests compares the two on generated
/// patterns and lines.
struct LineRegex: Sendable {
    /// Bytes 0–127 as a bit set (a line has no other bytes by the time a set is tested).
    struct ByteSet: Sendable, Equatable {
        var low: UInt64 = 0, high: UInt64 = 0
        static let any = ByteSet(low: ~0, high: ~0).removing(0x0A)  // `.`: anything but a newline
        static let digit = ByteSet(range: 0x30...0x39)
        static let word = ByteSet(range: 0x30...0x39).union(ByteSet(range: 0x41...0x5A)).union(ByteSet(range: 0x61...0x7A)).adding(0x5F)
        static let space = ByteSet(range: 0x09...0x0D).adding(0x20)

        init(low: UInt64 = 0, high: UInt64 = 0) { self.low = low; self.high = high }
        init(range: ClosedRange<UInt8>) { for b in range { self = adding(b) } }
        func adding(_ b: UInt8) -> ByteSet {
            var s = self
            if b < 64 { s.low |= 1 << UInt64(b) } else { s.high |= 1 << UInt64(b - 64) }
            return s
        }
        func removing(_ b: UInt8) -> ByteSet { ByteSet(low: low & ~ByteSet().adding(b).low, high: high & ~ByteSet().adding(b).high) }
        func union(_ o: ByteSet) -> ByteSet { ByteSet(low: low | o.low, high: high | o.high) }
        var inverted: ByteSet { ByteSet(low: ~low, high: ~high) }
        func contains(_ b: UInt8) -> Bool { b < 64 ? low & (1 << UInt64(b)) != 0 : high & (1 << UInt64(b - 64)) != 0 }
    }

    private enum Op: Sendable {
        case byte(ByteSet)
        case split(Int, Int)
        case jump(Int)
        case lineStart, lineEnd
        case match
    }

    private indirect enum Node {
        case set(ByteSet), start, end
        case concat([Node]), alternation([Node])
        case repetition(Node, min: Int, max: Int?)
    }

    private let program: [Op]

    /// Quantifier bounds and program size past which a pattern is left to Swift Regex.
    private static let maxCount = 100, maxProgram = 1000

    /// Punctuation that `\` makes literal, inside and outside classes.
    private static let escapable = Array(#"\.^$|()[]{}*+?-/"#.utf8)

    init?(_ pattern: String) {
        var parser = Parser(bytes: Array(pattern.utf8))
        guard let node = parser.alternation(), parser.at == parser.bytes.count else { return nil }
        var program: [Op] = []
        Self.emit(node, into: &program)
        program.append(.match)
        guard program.count <= Self.maxProgram else { return nil }
        self.program = program
    }

    // MARK: Parsing

    private struct Parser {
        let bytes: [UInt8]
        var at = 0

        var peek: UInt8? { at < bytes.count ? bytes[at] : nil }

        mutating func alternation() -> Node? {
            var branches: [Node] = []
            repeat {
                if !branches.isEmpty { at += 1 }  // the "|"
                guard let branch = concatenation() else { return nil }
                branches.append(branch)
            } while peek == UInt8(ascii: "|")
            return branches.count == 1 ? branches[0] : .alternation(branches)
        }

        /// One or more items; an empty branch or group is left to Swift Regex.
        mutating func concatenation() -> Node? {
            var items: [Node] = []
            while let b = peek, b != UInt8(ascii: "|"), b != UInt8(ascii: ")") {
                guard let atom = atom() else { return nil }
                guard let item = quantified(atom) else { return nil }
                items.append(item)
            }
            if items.isEmpty { return nil }
            return items.count == 1 ? items[0] : .concat(items)
        }

        mutating func atom() -> Node? {
            guard let b = peek else { return nil }
            at += 1
            switch b {
            case UInt8(ascii: "("):
                if peek == UInt8(ascii: "?") {
                    guard at + 1 < bytes.count, bytes[at + 1] == UInt8(ascii: ":") else { return nil }
                    at += 2
                }
                guard let inner = alternation(), peek == UInt8(ascii: ")") else { return nil }
                at += 1
                return inner
            case UInt8(ascii: "["): return characterClass().map { .set($0) }
            case UInt8(ascii: "."): return .set(.any)
            case UInt8(ascii: "^"): return .start
            case UInt8(ascii: "$"): return .end
            case UInt8(ascii: "\\"):
                guard let e = peek else { return nil }
                at += 1
                switch e {
                case UInt8(ascii: "d"): return .set(.digit)
                case UInt8(ascii: "D"): return .set(ByteSet.digit.inverted)
                case UInt8(ascii: "w"): return .set(.word)
                case UInt8(ascii: "W"): return .set(ByteSet.word.inverted)
                case UInt8(ascii: "s"): return .set(.space)
                case UInt8(ascii: "S"): return .set(ByteSet.space.inverted)
                default: return LineRegex.escapable.contains(e) ? .set(ByteSet().adding(e)) : nil
                }
            case UInt8(ascii: ")"), UInt8(ascii: "]"), UInt8(ascii: "{"), UInt8(ascii: "}"),
                 UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "?"):
                return nil
            default:
                return (0x20...0x7E).contains(b) ? .set(ByteSet().adding(b)) : nil
            }
        }

        /// `atom` with its quantifier, if any. Anchors take none; lazy (`*?`) and possessive
        /// (`*+`) forms, and a quantifier on a quantifier, are left to Swift Regex.
        mutating func quantified(_ atom: Node) -> Node? {
            guard let q = peek else { return atom }
            let bounds: (Int, Int?)
            switch q {
            case UInt8(ascii: "*"): at += 1; bounds = (0, nil)
            case UInt8(ascii: "+"): at += 1; bounds = (1, nil)
            case UInt8(ascii: "?"): at += 1; bounds = (0, 1)
            case UInt8(ascii: "{"):
                at += 1
                guard let low = number() else { return nil }
                var high: Int? = low
                if peek == UInt8(ascii: ",") {
                    at += 1
                    high = peek == UInt8(ascii: "}") ? nil : number()
                    if high == nil && peek != UInt8(ascii: "}") { return nil }
                }
                guard peek == UInt8(ascii: "}"), high.map({ $0 >= low }) ?? true else { return nil }
                at += 1
                bounds = (low, high)
            default: return atom
            }
            switch atom { case .start, .end: return nil; default: break }
            if let next = peek, Array("*+?{".utf8).contains(next) { return nil }
            return .repetition(atom, min: bounds.0, max: bounds.1)
        }

        mutating func number() -> Int? {
            var value = 0, digits = 0
            while let d = peek, (0x30...0x39).contains(d) {
                value = value * 10 + Int(d - 0x30)
                digits += 1
                at += 1
                if value > LineRegex.maxCount { return nil }
            }
            return digits > 0 ? value : nil
        }

        /// After "[": the class up to its "]". Nested classes, set operations (`&&`, `--`, `~~`),
        /// `]` first, and an empty class are left to Swift Regex.
        mutating func characterClass() -> ByteSet? {
            var set = ByteSet()
            let negated = peek == UInt8(ascii: "^")
            if negated { at += 1 }
            var first = true
            while true {
                guard let b = peek else { return nil }
                if b == UInt8(ascii: "]") && !first { at += 1; break }
                first = false
                if b == UInt8(ascii: "[") || b == UInt8(ascii: "]") { return nil }
                if at + 1 < bytes.count, bytes[at + 1] == b, Array("&-~".utf8).contains(b) { return nil }
                guard let low = classMember() else { return nil }
                switch low {
                case .set(let s): set = set.union(s)
                case .byte(let lo):
                    // "a-z"; a "-" just before "]" is literal.
                    if peek == UInt8(ascii: "-"), at + 1 < bytes.count, bytes[at + 1] != UInt8(ascii: "]") {
                        at += 1
                        guard case .byte(let hi)? = classMember(), lo <= hi else { return nil }
                        set = set.union(ByteSet(range: lo...hi))
                    } else {
                        set = set.adding(lo)
                    }
                }
            }
            return negated ? set.inverted : set
        }

        private enum Member { case byte(UInt8), set(ByteSet) }

        private mutating func classMember() -> Member? {
            guard let b = peek else { return nil }
            at += 1
            if b == UInt8(ascii: "\\") {
                guard let e = peek else { return nil }
                at += 1
                switch e {
                case UInt8(ascii: "d"): return .set(.digit)
                case UInt8(ascii: "w"): return .set(.word)
                case UInt8(ascii: "s"): return .set(.space)
                default: return LineRegex.escapable.contains(e) ? .byte(e) : nil
                }
            }
            if b == UInt8(ascii: "[") || b == UInt8(ascii: "]") { return nil }
            return (0x20...0x7E).contains(b) ? .byte(b) : nil
        }
    }

    // MARK: Compiling

    private static func emit(_ node: Node, into p: inout [Op]) {
        switch node {
        case .set(let s): p.append(.byte(s))
        case .start: p.append(.lineStart)
        case .end: p.append(.lineEnd)
        case .concat(let items): for item in items { emit(item, into: &p) }
        case .alternation(let branches):
            var jumps: [Int] = []
            for (k, branch) in branches.enumerated() {
                if k == branches.count - 1 { emit(branch, into: &p); break }
                let split = p.count
                p.append(.split(split + 1, 0))
                emit(branch, into: &p)
                jumps.append(p.count)
                p.append(.jump(0))
                p[split] = .split(split + 1, p.count)
            }
            for j in jumps { p[j] = .jump(p.count) }
        case .repetition(let inner, let min, let max):
            for _ in 0..<min { emit(inner, into: &p); if p.count > maxProgram { return } }
            if let max {
                var splits: [Int] = []
                for _ in min..<max {
                    splits.append(p.count)
                    p.append(.split(p.count + 1, 0))
                    emit(inner, into: &p)
                    if p.count > maxProgram { return }
                }
                for s in splits { p[s] = .split(s + 1, p.count) }
            } else {
                let loop = p.count
                p.append(.split(loop + 1, 0))
                emit(inner, into: &p)
                p.append(.jump(loop))
                p[loop] = .split(loop + 1, p.count)
            }
        }
    }

    // MARK: Matching

    /// Whether some part of `line` matches; nil when the line is not plain ASCII (printable or tab),
    /// where Swift Regex's Unicode rules would differ from these byte sets.
    func matches(_ line: UnsafeBufferPointer<UInt8>) -> Bool? {
        for b in line where !(b == 0x09 || (0x20...0x7E).contains(b)) { return nil }
        // A Pike VM without captures: every thread advances in step, so the cost is linear in the
        // line (no backtracking blow-up), and a new thread starts at each position (a search).
        var current: [Int] = [], next: [Int] = []
        current.reserveCapacity(program.count)
        next.reserveCapacity(program.count)
        var mark = [Int](repeating: -1, count: program.count)
        let n = line.count
        /// Adds `pc` and what it reaches without consuming a byte, at position `pos`; true on a match.
        func add(_ pc: Int, _ pos: Int, to list: inout [Int]) -> Bool {
            if mark[pc] == pos { return false }
            mark[pc] = pos
            switch program[pc] {
            case .byte: list.append(pc); return false
            case .match: return true
            case .jump(let t): return add(t, pos, to: &list)
            case .split(let a, let b): return add(a, pos, to: &list) || add(b, pos, to: &list)
            case .lineStart: return pos == 0 && add(pc + 1, pos, to: &list)
            case .lineEnd: return pos == n && add(pc + 1, pos, to: &list)
            }
        }
        if add(0, 0, to: &current) { return true }
        for pos in 0..<n {
            let b = line[pos]
            next.removeAll(keepingCapacity: true)
            for pc in current {
                if case .byte(let s) = program[pc], s.contains(b), add(pc + 1, pos + 1, to: &next) { return true }
            }
            if add(0, pos + 1, to: &next) { return true }
            swap(&current, &next)
        }
        return false
    }
}
