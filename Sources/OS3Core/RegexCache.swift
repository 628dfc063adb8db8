import Synchronization

/// Marker regexes by pattern: marker files are validated at load and matched later, and `gate`
/// and `stress` match many boots with the same markers, so each pattern is compiled once.
final class RegexCache: Sendable {
    static let shared = RegexCache()

    private let entries = Mutex<[String: MarkerRegex]>([:])

    /// Throws the parser's error (column, reason, fix) for a pattern it refuses.
    func regex(_ pattern: String) throws(RegexSyntaxError) -> MarkerRegex {
        if let hit = entries.withLock({ $0[pattern] }) { return hit }
        let compiled = try MarkerRegex(pattern)
        entries.withLock { $0[pattern] = compiled }
        return compiled
    }
}
