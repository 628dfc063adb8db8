import Synchronization

/// Compiled regular expressions by pattern. Compiling a Swift Regex costs around a millisecond;
/// marker files are validated at load and matched later, so each pattern is compiled once.
final class RegexCache: Sendable {
    static let shared = RegexCache()

    private struct Entry: @unchecked Sendable { let regex: Regex<AnyRegexOutput> }
    private let entries = Mutex<[String: Entry]>([:])

    func regex(_ pattern: String) throws -> Regex<AnyRegexOutput> {
        if let hit = entries.withLock({ $0[pattern] }) { return hit.regex }
        let compiled = try Regex(pattern)
        entries.withLock { $0[pattern] = Entry(regex: compiled) }
        return compiled
    }
}
