/// KTAP (the Kernel Test Anything Protocol that Linux KUnit and kselftest print) read from a
/// console, line by line, and judged: the plan says how many results must appear, a `not ok`
/// without a SKIP or TODO directive fails, and results the plan promised but the console never
/// showed fail like missing markers. Pure: lines in, a report out.
///
/// Accepted: `KTAP version 1` and `TAP version 13|14` headers, plans `1..N`, results
/// `ok|not ok N [- ]name [# DIRECTIVE text]`, subtests indented by 4 spaces (or 2, as kselftest
/// wraps them) with their own header and plan, `# Subtest: name` and other diagnostics (ignored).
/// A console adds things KTAP does not know about: a printk timestamp `[    1.234567] ` and
/// whatever the kernel prints between results; only lines that parse as KTAP count.
public struct KTAPResult: Sendable, Equatable, Codable {
    public enum Status: String, Sendable, Codable { case ok, notOk = "not-ok", skip, todo }

    /// 1-based number within its parent's plan.
    public var number: Int
    /// The result's own name (empty if the line gave none).
    public var name: String
    /// Names of the enclosing tests, outermost first, then this one, joined by "." — a stable id
    /// for JUnit and JSON.
    public var path: String
    public var depth: Int
    public var status: Status
    /// The directive's text (`# SKIP reason` gives "reason").
    public var directive: String
    /// Console line of the result (1-based).
    public var line: Int

    public var failed: Bool { status == .notOk }
}

public struct KTAPReport: Sendable, Equatable, Codable {
    /// Top-level plan (`1..N`), nil until seen.
    public var plan: Int?
    public var results: [KTAPResult] = []
    /// Expected top-level numbers that never appeared (the first 1,000 of them), set by `finish()`.
    public var missing: [Int] = []
    /// How many expected top-level numbers never appeared.
    public var missingCount = 0
    /// Whether a KTAP or TAP header was seen at all.
    public var headerSeen = false
    /// Parse-level problems (a result numbered out of order, a second top-level plan…), as text.
    public var problems: [String] = []

    public init() {}

    private enum CodingKeys: String, CodingKey { case plan, results, missing, missingCount, headerSeen, problems }

    /// `plan` is `null` when none was seen: the keys of a record never depend on the outcome.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeOrNull(plan, forKey: .plan)
        try c.encode(results, forKey: .results)
        try c.encode(missing, forKey: .missing)
        try c.encode(missingCount, forKey: .missingCount)
        try c.encode(headerSeen, forKey: .headerSeen)
        try c.encode(problems, forKey: .problems)
    }

    public var failures: [KTAPResult] { results.filter(\.failed) }

    /// The judgement for the verdict: nil when the KTAP output proves every planned result ran
    /// and none failed; otherwise a sentence saying what is wrong.
    public var shortfall: String? {
        guard headerSeen else { return "no KTAP output (no \"KTAP version 1\" or \"TAP version\" line)" }
        guard let plan else { return "no KTAP plan line (1..N): the number of results is unknown" }
        if missingCount > 0 {
            let shown = missing.prefix(5).map(String.init).joined(separator: ", ")
            return "\(missingCount) of \(plan) planned KTAP results missing (\(shown)\(missingCount > 5 ? ", …" : ""))"
        }
        if let first = failures.first {
            return "\(failures.count) KTAP result\(failures.count == 1 ? "" : "s") not ok, first '\(first.path)' at console line \(first.line)"
        }
        return nil
    }
}

public struct KTAPParser: Sendable {
    private struct Level: Sendable {
        var indent: Int
        var plan: Int?
        var lastNumber = 0
        var seen: Set<Int> = []
        /// The name of the test this level's results belong to (from `# Subtest:`), if known.
        var name: String?
    }

    public private(set) var report = KTAPReport()
    private var levels: [Level] = []
    private var pendingSubtestName: String?
    private var lineNumber = 0

    /// Deepest nesting followed; deeper subtests are still counted by their parent's result line.
    static let maxDepth = 16

    public init() {}

    /// Feeds one console line (without its newline).
    public mutating func feed(line raw: Substring) {
        lineNumber += 1
        var text = raw
        if text.last == "\r" { text = text.dropLast() }
        text = Self.droppingTimestamp(text)
        let indent = text.prefix { $0 == " " || $0 == "\t" }.reduce(0) { $0 + ($1 == "\t" ? 8 : 1) }
        let body = text.drop { $0 == " " || $0 == "\t" }

        if body.hasPrefix("KTAP version ") || body.hasPrefix("TAP version ") {
            report.headerSeen = true
            if levels.isEmpty {
                levels = [Level(indent: indent)]
            } else if indent > levels[levels.count - 1].indent, levels.count < Self.maxDepth {
                levels.append(Level(indent: indent, name: pendingSubtestName))
                pendingSubtestName = nil
            }
            return
        }
        guard !levels.isEmpty else { return }
        if body.hasPrefix("# Subtest:") {
            let name = body.dropFirst("# Subtest:".count).trimmingSpaces()
            // KUnit prints the nested header first, then the name: name the level just opened.
            if levels.count > 1, levels[levels.count - 1].indent == indent, levels[levels.count - 1].name == nil,
               levels[levels.count - 1].lastNumber == 0 {
                levels[levels.count - 1].name = name
            } else {
                pendingSubtestName = name
            }
            return
        }
        if let plan = Self.plan(body) {
            // A plan deeper than the current level opens a subtest whose header was left out
            // (kselftest prints "# 1..N" style plans inside wrappers only with a header, but KUnit
            // may omit the nested header).
            let level = levelIndex(for: indent, opening: true)
            if levels[level].plan == nil {
                levels[level].plan = plan
                if level == 0 { report.plan = plan }
            } else if level == 0 {
                report.problems.append("line \(lineNumber): a second top-level plan 1..\(plan) (ignored)")
            }
            return
        }
        guard let result = Self.result(body) else { return }
        let level = levelIndex(for: indent, opening: false)
        // Results of a deeper level close it: its plan is then checked by the result's own line.
        closeLevels(deeperThan: level)
        var names = levels[1..<(level + 1)].compactMap(\.name)
        names.append(result.name.isEmpty ? "#\(result.number)" : result.name)
        if result.number != levels[level].lastNumber + 1 {
            report.problems.append("line \(lineNumber): result \(result.number) follows \(levels[level].lastNumber)")
        }
        levels[level].lastNumber = result.number
        levels[level].seen.insert(result.number)
        report.results.append(KTAPResult(number: result.number, name: result.name, path: names.joined(separator: "."),
                                         depth: level, status: result.status, directive: result.directive, line: lineNumber))
    }

    /// Ends the stream and works out what the plan promised but never came.
    public mutating func finish() {
        updateMissing()
    }

    /// The level a line of this indentation belongs to; an indentation deeper than any open
    /// level opens one (a nested plan or result without its header).
    private mutating func levelIndex(for indent: Int, opening: Bool) -> Int {
        if let i = levels.lastIndex(where: { $0.indent == indent }) { return i }
        if indent > levels[levels.count - 1].indent {
            if levels.count < Self.maxDepth {
                levels.append(Level(indent: indent, name: pendingSubtestName))
                pendingSubtestName = nil
            }
            return levels.count - 1
        }
        // Less indented than the current level but matching none: the nearest shallower level.
        return levels.lastIndex(where: { $0.indent < indent }) ?? 0
    }

    private mutating func closeLevels(deeperThan level: Int) {
        if levels.count > level + 1 { levels.removeSubrange((level + 1)...) }
    }

    private mutating func updateMissing() {
        guard let top = levels.first, let plan = top.plan else { return }
        let present = top.seen.filter { (1...max(plan, 1)).contains($0) }.count
        report.missingCount = plan - present
        var missing: [Int] = []
        var n = 1
        while n <= plan, missing.count < 1000 {
            if !top.seen.contains(n) { missing.append(n) }
            n += 1
        }
        report.missing = missing
    }

    // MARK: Line grammar

    /// `[  123.456789] ` (printk time) at the start of a console line.
    static func droppingTimestamp(_ s: Substring) -> Substring {
        guard s.first == "[", let close = s.firstIndex(of: "]") else { return s }
        let inside = s[s.index(after: s.startIndex)..<close]
        guard !inside.isEmpty, inside.allSatisfy({ $0 == " " || $0 == "." || $0.isASCIIDigit }) else { return s }
        var rest = s[s.index(after: close)...]
        if rest.first == " " { rest = rest.dropFirst() }
        return rest
    }

    /// `1..N` (optionally followed by a comment).
    static func plan(_ s: Substring) -> Int? {
        guard s.hasPrefix("1..") else { return nil }
        let digits = s.dropFirst(3).prefix { $0.isASCIIDigit }
        guard !digits.isEmpty, digits.count <= 9 else { return nil }
        let rest = s.dropFirst(3 + digits.count)
        guard rest.isEmpty || rest.first == " " || rest.first == "#" else { return nil }
        return Int(digits)
    }

    /// `ok N name # DIRECTIVE text` / `not ok N - name`.
    static func result(_ s: Substring) -> (number: Int, name: String, status: KTAPResult.Status, directive: String)? {
        var rest: Substring
        var ok: Bool
        if s.hasPrefix("ok ") { ok = true; rest = s.dropFirst(3) } else if s.hasPrefix("not ok ") { ok = false; rest = s.dropFirst(7) } else { return nil }
        let digits = rest.prefix { $0.isASCIIDigit }
        guard !digits.isEmpty, digits.count <= 9, let number = Int(digits) else { return nil }
        rest = rest.dropFirst(digits.count)
        guard rest.isEmpty || rest.first == " " else { return nil }
        var name = rest
        var directive: Substring = ""
        var status: KTAPResult.Status = ok ? .ok : .notOk
        if let hash = rest.firstIndex(of: "#") {
            name = rest[..<hash]
            let d = rest[rest.index(after: hash)...].drop { $0 == " " }
            let word = d.prefix { !$0.isWhitespace }.uppercased()
            if word == "SKIP" || word == "SKIPPED" {
                status = .skip
                directive = d.dropFirst(word.count).drop { $0 == " " }
            } else if word == "TODO" {
                status = ok ? .ok : .todo
                directive = d.dropFirst(word.count).drop { $0 == " " }
            } else {
                // A `#` that starts no directive belongs to the name.
                name = rest
            }
        }
        var trimmed = name.trimmingSpaces()
        if trimmed.hasPrefix("- ") { trimmed = String(trimmed.dropFirst(2)) }
        return (number, trimmed, status, String(directive.trimmingSpaces()))
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { asciiValue.map { (0x30...0x39).contains($0) } ?? false }
}

extension KTAPReport {
    /// Judges a whole console text at once (for `scan` and tests).
    public static func parse(_ text: String) -> KTAPReport {
        var parser = KTAPParser()
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) { parser.feed(line: line) }
        parser.finish()
        return parser.report
    }
}

/// KTAP read from console bytes as they come (any chunking): splits lines and feeds `KTAPParser`.
/// A line longer than the matcher keeps is cut the same way (KTAP lines are short).
public struct KTAPConsole: Sendable {
    private var parser = KTAPParser()
    private var pending: [UInt8] = []

    public init() {}

    public mutating func feed(_ chunk: UnsafeRawBufferPointer) {
        var start = 0
        for i in 0..<chunk.count where chunk[i] == 0x0A {
            if pending.isEmpty {
                line(chunk[start..<i])
            } else {
                pending += chunk[start..<i]
                let whole = pending
                pending.removeAll(keepingCapacity: true)
                line(whole[...])
            }
            start = i + 1
        }
        if start < chunk.count, pending.count < MarkerMatcher.maxLine {
            pending += chunk[start..<min(chunk.count, start + MarkerMatcher.maxLine - pending.count)]
        }
    }

    /// The report, the last unterminated line included.
    public mutating func finish() -> KTAPReport {
        if !pending.isEmpty { let whole = pending; pending = []; line(whole[...]) }
        parser.finish()
        return parser.report
    }

    private mutating func line<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        parser.feed(line: Substring(String(decoding: bytes.prefix(MarkerMatcher.maxLine), as: UTF8.self)))
    }
}
