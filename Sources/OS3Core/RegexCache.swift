import Dispatch
import Synchronization

/// Compiled regular expressions by pattern. Compiling a Swift Regex costs around a millisecond;
/// marker files are validated at load and matched later, so each pattern is compiled once.
final class RegexCache: Sendable {
    static let shared = RegexCache()

    private struct Entry: @unchecked Sendable { let regex: Regex<AnyRegexOutput> }
    private let entries = Mutex<[String: Entry]>([:])

    /// Compiles patterns not compiled yet, spread over the cores (errors are left for `regex(_:)`
    /// to report where the pattern was written).
    func warm(_ patterns: [String]) {
        let todo = Array(Set(patterns).filter { p in entries.withLock { $0[p] == nil } })
        guard todo.count > 1 else { return }
        DispatchQueue.concurrentPerform(iterations: todo.count) { i in _ = try? regex(todo[i]) }
    }

    func regex(_ pattern: String) throws -> Regex<AnyRegexOutput> {
        if let hit = entries.withLock({ $0[pattern] }) { return hit.regex }
        let compiled = try Regex(pattern)
        entries.withLock { $0[pattern] = Entry(regex: compiled) }
        return compiled
    }
}
