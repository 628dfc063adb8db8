import Glibc
import OS3Core

extension BootEvent {
    /// A matcher event, as progress.
    public init(_ event: MatchEvent) {
        switch event {
        case .seen(let hit): self = .marker(hit)
        case .forbidden(let hit): self = .forbidden(hit)
        }
    }
}

/// The end of a boot, the same for every backend: the console's last line is judged, the verdict
/// reached from the matcher's state, and the record written. One place, so no backend can drop
/// what `MarkerMatcher.finish(at:)` finds (a forbidden marker in a last line without a newline
/// once made a PASS), lose the evidence unnoticed, or lose the record silently.
public enum BootEnd {
    /// Judges the console's unterminated last line (its events go to `onEvent`, forbidden ones
    /// included) and returns what the verdict is computed from. `console` is an open descriptor of
    /// the serial log (or -1): a log deleted during the boot makes the evidence lost.
    public static func observe(_ matcher: inout MarkerMatcher, at time: Double, end: ProcessEnd?, stopReason: StopReason?,
                               stderrTail: String = "", lifecycle: GuestLifecycle? = nil, console: Int32, runDirectory: String,
                               ktapLog: String? = nil, onEvent: @Sendable (BootEvent) -> Void) -> BootObservation {
        for event in matcher.finish(at: time) { onEvent(BootEvent(event)) }
        var observation = BootObservation(end: end, stopReason: stopReason, matcher: matcher, stderrTail: stderrTail, lifecycle: lifecycle,
                                          evidenceLost: evidenceLost(console: console, runDirectory: runDirectory))
        // A KTAP lane's results are read from the whole log once the guest is gone.
        if let ktapLog { observation.ktap = KTAPLog.read(ktapLog) }
        return observation
    }

    /// Why the console evidence is gone, or nil: the serial log's inode has no name left
    /// (st_nlink 0 on the descriptor os3ctl reads it through), e.g. its run directory was removed.
    public static func evidenceLost(console fd: Int32, runDirectory: String) -> String? {
        guard fd >= 0 else { return nil }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_nlink == 0 else { return nil }
        return Path.exists(runDirectory)
            ? "serial.log in the run directory \(runDirectory) was deleted during the boot"
            : "the run directory \(runDirectory) disappeared during the boot (serial.log with it)"
    }

    /// Writes the record's `result.json` (atomically) and points `runs/latest` at it; a failure is kept in `recordError` for the
    /// command to report loudly — the verdict is never changed by it. A run directory that
    /// disappeared is not written into: the verdict already says it is gone.
    public static func save(_ record: RunRecord, evidenceLost: Bool, ktap: KTAPReport? = nil) -> RunRecord {
        var record = record
        record.ktap = ktap
        guard !record.runDirectory.isEmpty, !(evidenceLost && !Path.exists(record.runDirectory)) else { return record }
        do {
            try writeFile("\(record.runDirectory)/result.json", encodeJSON(record) + "\n")
            // runs/latest: this run, now that its record is there to read.
            try RunStore.pointLatest(at: record.runDirectory)
        } catch let error as OS3Error {
            record.recordError = error.message + (error.fix.map { " (fix: \($0))" } ?? "")
        } catch {
            record.recordError = "\(error)"
        }
        return record
    }
}
