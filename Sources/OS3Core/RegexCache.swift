import Synchronization

/// A marker's regular expression (Swift Regex syntax). Patterns in the common subset run on
/// `LineRegex` (compiled in microseconds); the rest, and any line that is not plain ASCII, on Swift
/// Regex, which is parsed only when first needed (0.1–0.25 ms a pattern here).
final class MarkerRegex: Sendable {
    let pattern: String
    private let fast: LineRegex?
    private struct Compiled: @unchecked Sendable { let regex: Regex<AnyRegexOutput> }
    private let swift: Mutex<Compiled?>

    /// Throws Swift Regex's own error for a pattern it rejects.
    init(_ pattern: String) throws {
        self.pattern = pattern
        fast = LineRegex(pattern)
        // Outside the subset: parsed now, so a bad pattern is reported when its file is read.
        swift = Mutex(fast == nil ? Compiled(regex: try Regex(pattern)) : nil)
    }

    private var regex: Regex<AnyRegexOutput> {
        swift.withLock { compiled in
            if let compiled { return compiled.regex }
            // In the subset, so Swift Regex accepts it too (LineRegexTests).
            let regex = try! Regex(pattern)
            compiled = Compiled(regex: regex)
            return regex
        }
    }

    /// Whether some part of the line matches. `line` is its bytes (no newline); `string` the same
    /// decoded, asked for only if Swift Regex has to answer.
    func matches(_ line: UnsafeBufferPointer<UInt8>, string: () -> String) -> Bool {
        if let fast, let answer = fast.matches(line) { return answer }
        return (try? regex.firstMatch(in: string())) != nil
    }

    /// Whether the empty line matches (a marker that would match every line).
    var matchesEmptyLine: Bool {
        if let fast, let answer = fast.matches(UnsafeBufferPointer(start: nil, count: 0)) { return answer }
        return (try? regex.wholeMatch(in: "")) != nil
    }
}

/// Marker regexes by pattern: marker files are validated at load and matched later, and `gate`
/// and `stress` match many boots with the same markers, so each pattern is compiled once.
final class RegexCache: Sendable {
    static let shared = RegexCache()

    private let entries = Mutex<[String: MarkerRegex]>([:])

    func regex(_ pattern: String) throws -> MarkerRegex {
        if let hit = entries.withLock({ $0[pattern] }) { return hit }
        let compiled = try MarkerRegex(pattern)
        entries.withLock { $0[pattern] = compiled }
        return compiled
    }
}
