/// A marker's regular expression: parsed by `RegexParser` (which alone decides validity, when the
/// marker file is read) and compiled to a small program run by a Pike VM over the line's characters.
///
/// Why an engine of our own: a console line is guest output, so matching must take bounded time on
/// any input. A Pike VM advances every thread in step, without backtracking: the cost of one line is
/// at most O(characters × program size), and the program is at most `maxProgram` steps. It compiles in
/// microseconds (Swift's `Regex(String)` took 0.1–0.25 ms a pattern; docs/BENCHMARKS.md).
///
/// A line is bytes, decoded here as UTF-8 into Unicode scalars; a byte that is not part of valid
/// UTF-8 is one character of its own, which only `.` and negated sets (`[^…]`, `\D`, `\W`, `\S`)
/// match. Only *whether* some part of the line matches is asked, so greedy or lazy and capture
/// groups make no difference.
struct MarkerRegex: Sendable {
    let pattern: String
    /// Text every match contains (in its UTF-8 bytes, so it can be searched in the raw line), or nil.
    let requiredLiteral: String?

    private enum Op: Sendable {
        case scalar(UInt32)
        /// A set: ASCII as bits (tested inline), anything else in `sets[rest]`.
        case set(low: UInt64, high: UInt64, rest: Int)
        case split(Int, Int)
        case jump(Int)
        case assert(RegexNode.Assertion)
        case match
    }

    private let program: [Op]
    private let sets: [CharSet]
    /// The pattern can only match at the start of the line: no thread needs starting later.
    private let anchored: Bool

    /// Most steps a program may have (quantifier counts are copies of their operand).
    static let maxProgram = 1000
    /// Characters at or above this are bytes that are not valid UTF-8 (`invalidBase + byte`).
    static let invalidBase: UInt32 = 0x11_0000

    init(_ pattern: String) throws(RegexSyntaxError) {
        let node = try RegexParser.parse(pattern)
        var compiler = Compiler()
        compiler.emit(node)
        compiler.program.append(.match)
        guard compiler.program.count <= Self.maxProgram else {
            throw RegexSyntaxError(column: 1, reason: "pattern too large: its counts expand it past \(Self.maxProgram) steps",
                                   fix: "use smaller counts in `{n,m}`, or `+` / `*`")
        }
        self.pattern = pattern
        program = compiler.program
        sets = compiler.sets
        requiredLiteral = Self.requiredLiteral(node)
        if case .concat(let items) = node, items.first == .assertion(.lineStart) {
            anchored = true
        } else {
            anchored = node == .assertion(.lineStart)
        }
    }

    // MARK: Compiling

    private struct Compiler {
        var program: [Op] = []
        var sets: [CharSet] = []

        /// Stops adding once the program is too large (the caller then refuses it), so a pattern
        /// like `((a{100}){100}){100}` costs no more than `maxProgram` steps to reject.
        mutating func emit(_ node: RegexNode) {
            guard program.count <= MarkerRegex.maxProgram else { return }
            switch node {
            case .char(let c): program.append(.scalar(c))
            case .set(let s):
                if let c = s.single {
                    program.append(.scalar(c))
                } else {
                    let k = sets.firstIndex(of: s) ?? { sets.append(s); return sets.count - 1 }()
                    program.append(.set(low: s.low, high: s.high, rest: k))
                }
            case .assertion(let a): program.append(.assert(a))
            case .concat(let items): for item in items { emit(item) }
            case .alternation(let branches):
                var jumps: [Int] = []
                for (k, branch) in branches.enumerated() {
                    if k == branches.count - 1 { emit(branch); break }
                    let split = program.count
                    program.append(.split(split + 1, 0))
                    emit(branch)
                    jumps.append(program.count)
                    program.append(.jump(0))
                    program[split] = .split(split + 1, program.count)
                }
                for j in jumps { program[j] = .jump(program.count) }
            case .repetition(let inner, let min, let max):
                for _ in 0..<min { emit(inner) }
                if let max {
                    var splits: [Int] = []
                    for _ in min..<max where program.count <= MarkerRegex.maxProgram {
                        splits.append(program.count)
                        program.append(.split(program.count + 1, 0))
                        emit(inner)
                    }
                    for s in splits { program[s] = .split(s + 1, program.count) }
                } else {
                    let loop = program.count
                    program.append(.split(loop + 1, 0))
                    emit(inner)
                    program.append(.jump(loop))
                    program[loop] = .split(loop + 1, program.count)
                }
            }
        }
    }

    // MARK: The required literal

    /// The longest run of single characters in the pattern's top-level sequence, at least 3 bytes
    /// once surrounding spaces are trimmed (a space would make the prefilter stop at every space);
    /// nil for a top-level alternation. Computed from the parsed pattern, so an escape such as
    /// `\x20` is the character it stands for.
    private static func requiredLiteral(_ node: RegexNode) -> String? {
        let items: [RegexNode]
        switch node {
        case .concat(let xs): items = xs
        case .char: items = [node]
        default: return nil
        }
        var best: [Unicode.Scalar] = [], run: [Unicode.Scalar] = []
        func endRun() {
            if run.count > best.count { best = run }
            run = []
        }
        for item in items {
            if case .char(let c) = item, let scalar = Unicode.Scalar(c) { run.append(scalar) } else { endRun() }
        }
        endRun()
        while best.first == " " { best.removeFirst() }
        while best.last == " " { best.removeLast() }
        var text = ""
        text.unicodeScalars.append(contentsOf: best)
        return text.utf8.count >= 3 ? text : nil
    }

    // MARK: Matching

    /// The character starting at `i` and its length in bytes: a scalar of well-formed UTF-8, or
    /// `invalidBase + byte` for a byte that does not start one.
    @inline(__always)
    private static func decode(_ line: UnsafeBufferPointer<UInt8>, _ i: Int) -> (UInt32, Int) {
        let b0 = UInt32(line[i])
        if b0 < 0x80 { return (b0, 1) }
        let n = line.count
        @inline(__always) func cont(_ k: Int) -> UInt32? {
            guard i + k < n else { return nil }
            let b = UInt32(line[i + k])
            return b & 0xC0 == 0x80 ? b & 0x3F : nil
        }
        switch b0 {
        case 0xC2...0xDF:
            if let c1 = cont(1) { return ((b0 & 0x1F) << 6 | c1, 2) }
        case 0xE0...0xEF:
            if let c1 = cont(1), let c2 = cont(2) {
                let v = (b0 & 0x0F) << 12 | c1 << 6 | c2
                if v >= 0x800 && !(0xD800...0xDFFF).contains(v) { return (v, 3) }
            }
        case 0xF0...0xF4:
            if let c1 = cont(1), let c2 = cont(2), let c3 = cont(3) {
                let v = (b0 & 0x07) << 18 | c1 << 12 | c2 << 6 | c3
                if v >= 0x1_0000 && v <= 0x10_FFFF { return (v, 4) }
            }
        default: break
        }
        return (invalidBase + b0, 1)
    }

    /// ASCII `\w` (`[A-Za-z0-9_]`); nil (a line end) is not a word character.
    @inline(__always)
    private static func isWord(_ c: UInt32?) -> Bool {
        guard let c else { return false }
        let folded = c | 0x20
        return (c >= 0x30 && c <= 0x39) || (folded >= 0x61 && folded <= 0x7A) || c == 0x5F
    }

    /// Whether some part of `line` matches (`^` and `$` are the line's start and end).
    func matches(_ line: UnsafeBufferPointer<UInt8>) -> Bool {
        // A Pike VM without captures: every thread advances in step over the characters, so the
        // cost is linear in the line (no backtracking blow-up), and a new thread starts at each
        // position (a search). Epsilon moves are followed with an explicit stack, not recursion.
        let size = program.count
        return program.withUnsafeBufferPointer { program in
            // mark, current, next: `size` each; the stack: at most 2 pushes per step followed, +1.
            withUnsafeTemporaryAllocation(of: Int32.self, capacity: 5 * size + 1) { buffer in
                let mark = buffer.baseAddress!
                mark.initialize(repeating: -1, count: size)
                var current = mark + size, next = mark + 2 * size
                let stack = mark + 3 * size
                var currentCount = 0, nextCount = 0

                /// Adds `start` and what it reaches without consuming a character at `step`,
                /// between characters `prev` and `cur` (nil at the line's ends); true on a match.
                func add(_ start: Int, _ step: Int32, _ prev: UInt32?, _ cur: UInt32?, to list: UnsafeMutablePointer<Int32>, _ count: inout Int) -> Bool {
                    var depth = 1
                    stack[0] = Int32(start)
                    while depth > 0 {
                        depth -= 1
                        let pc = Int(stack[depth])
                        if mark[pc] == step { continue }
                        mark[pc] = step
                        switch program[pc] {
                        case .scalar, .set: list[count] = Int32(pc); count += 1
                        case .match: return true
                        case .jump(let t): stack[depth] = Int32(t); depth += 1
                        case .split(let a, let b): stack[depth] = Int32(b); stack[depth + 1] = Int32(a); depth += 2
                        case .assert(let a):
                            let holds: Bool
                            switch a {
                            case .lineStart: holds = prev == nil
                            case .lineEnd: holds = cur == nil
                            case .wordBoundary: holds = Self.isWord(prev) != Self.isWord(cur)
                            case .notWordBoundary: holds = Self.isWord(prev) == Self.isWord(cur)
                            }
                            if holds { stack[depth] = Int32(pc + 1); depth += 1 }
                        }
                    }
                    return false
                }

                let n = line.count
                var i = 0
                var step: Int32 = 0
                var cur: (UInt32, Int)? = n > 0 ? Self.decode(line, 0) : nil
                if add(0, step, nil, cur?.0, to: current, &currentCount) { return true }
                while let (c, length) = cur {
                    if currentCount == 0 && anchored { return false }
                    i += length
                    step += 1
                    let following: (UInt32, Int)? = i < n ? Self.decode(line, i) : nil
                    nextCount = 0
                    for k in 0..<currentCount {
                        let pc = Int(current[k])
                        let hit: Bool
                        switch program[pc] {
                        case .scalar(let s): hit = s == c
                        case .set(let low, let high, let rest):
                            hit = c < 64 ? low & (1 << UInt64(c)) != 0 : c < 128 ? high & (1 << UInt64(c - 64)) != 0 : sets[rest].contains(c)
                        default: hit = false
                        }
                        if hit && add(pc + 1, step, c, following?.0, to: next, &nextCount) { return true }
                    }
                    if !anchored && add(0, step, c, following?.0, to: next, &nextCount) { return true }
                    swap(&current, &next)
                    currentCount = nextCount
                    cur = following
                }
                return false
            }
        }
    }

    /// Whether the empty line matches (a marker that would match every line).
    var matchesEmptyLine: Bool { matches(UnsafeBufferPointer(start: nil, count: 0)) }
}
