import Synchronization

/// Compiled regular expressions by pattern. Compiling a Swift Regex costs 0.1–1 ms; marker files
/// are validated at load and matched later, so each pattern is compiled once. Compiled on the
/// calling thread: a single `boot` loads its markers while QEMU starts, and compiling on every core
/// at once (as this once did) took CPU from QEMU's start-up on a two-core host.
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
