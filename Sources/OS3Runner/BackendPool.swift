import FoundationEssentials
import Glibc
import OS3Core

/// Several backends (e.g. libvirt on several hypervisors) as one: each boot goes to the member with
/// the fewest boots in flight that can run the lane (ties in turn), so `gate --jobs N` or a stress
/// run spreads its boots over every hypervisor. Each record names the member that booted it.
public final class BackendPool: BootBackend, @unchecked Sendable {
    public let members: [any BootBackend]
    private let lock = Lock()
    private var active: [Int]
    private var turn = 0

    public init(_ members: [any BootBackend]) {
        precondition(!members.isEmpty, "a backend pool needs at least one backend")
        self.members = members
        self.active = Array(repeating: 0, count: members.count)
    }

    public var name: String { "pool(\(members.map(\.name).joined(separator: ", ")))" }

    /// Skipped only when no member can run the lane.
    public func skipReason(for lane: Lane) -> String? {
        let reasons = members.map { $0.skipReason(for: lane) }
        guard reasons.allSatisfy({ $0 != nil }) else { return nil }
        return zip(members, reasons).map { "\($0.name): \($1!)" }.joined(separator: "; ")
    }

    /// Boots in flight per member (for reports and tests).
    public var inFlight: [Int] {
        lock.lock(); defer { lock.unlock() }
        return active
    }

    public func boot(_ invocation: QemuInvocation, markers: MarkerSet, state: StateDirectory,
                     onEvent: @Sendable (BootEvent) -> Void) throws -> RunRecord {
        let able = members.indices.filter { members[$0].skipReason(for: invocation.lane) == nil }
        let candidates = able.isEmpty ? Array(members.indices) : able
        lock.lock()
        let fewest = candidates.map { active[$0] }.min()!
        let tied = candidates.filter { active[$0] == fewest }
        let chosen = tied[turn % tied.count]
        turn += 1
        active[chosen] += 1
        lock.unlock()
        defer {
            lock.lock(); active[chosen] -= 1; lock.unlock()
        }
        var record = try members[chosen].boot(invocation, markers: markers, state: state, onEvent: onEvent)
        if record.backend == nil { record.backend = members[chosen].name }
        return record
    }
}
