/// The record of one boot: everything reports and statistics are computed from.
public struct RunRecord: Sendable, Codable, Equatable {
    public var lane: String
    public var laneFile: String
    public var kernel: String
    public var argv: [String]
    public var kernelCommandLine: String
    public var runDirectory: String
    public var serialLog: String
    /// Wall-clock start, ISO 8601.
    public var startedAt: String
    /// Seconds from starting QEMU to the verdict.
    public var duration: Double
    public var verdict: Verdict
    public var end: ProcessEnd?
    /// Markers seen, in console order.
    public var markers: [MarkerHit]
    public var requiredCount: Int
    public var consoleBytes: Int
    /// When os3ctl stopped the guest itself (forbidden marker, timeout): seconds from the verdict
    /// to the guest being gone.
    public var stopLatency: Double?
    /// What booted it: "qemu", or "libvirt URI" (nil in records written before backends existed).
    public var backend: String?
    /// The libvirt domain's name (its XML is `domain.xml` in the run directory; `argv` is then empty).
    public var domain: String?
    /// How libvirt saw the guest end (libvirt backends only).
    public var lifecycle: GuestLifecycle?
    /// Why this record's `result.json` could not be written (nil when it was). The verdict stands;
    /// commands report this loudly and exit 5 (docs/VERDICTS.md).
    public var recordError: String?
    /// A KTAP lane's plan and results (nil for other lanes); each result is a test case in JUnit.
    public var ktap: KTAPReport?

    public init(lane: String, laneFile: String, kernel: String, argv: [String], kernelCommandLine: String,
                runDirectory: String, serialLog: String, startedAt: String, duration: Double, verdict: Verdict,
                end: ProcessEnd?, markers: [MarkerHit], requiredCount: Int, consoleBytes: Int, stopLatency: Double? = nil,
                backend: String? = nil, domain: String? = nil, lifecycle: GuestLifecycle? = nil) {
        self.lane = lane
        self.laneFile = laneFile
        self.kernel = kernel
        self.argv = argv
        self.kernelCommandLine = kernelCommandLine
        self.runDirectory = runDirectory
        self.serialLog = serialLog
        self.startedAt = startedAt
        self.duration = duration
        self.verdict = verdict
        self.end = end
        self.markers = markers
        self.requiredCount = requiredCount
        self.consoleBytes = consoleBytes
        self.stopLatency = stopLatency
        self.backend = backend
        self.domain = domain
        self.lifecycle = lifecycle
    }

    /// The record of a boot os3ctl could not carry out (its run directory or pipes could not be
    /// made): an `infra-error` row, so one lane's I/O error costs no other lane its verdict.
    public static func infraError(lane: Lane, markers: MarkerSet, kernel: String, backend: String?, startedAt: String,
                                  detail: String) -> RunRecord {
        let missing = markers.required.map(\.id)
        return RunRecord(lane: lane.name, laneFile: lane.file, kernel: kernel, argv: [], kernelCommandLine: "", runDirectory: "",
                         serialLog: "", startedAt: startedAt, duration: 0,
                         verdict: Verdict(kind: .infraError, detail: "os3ctl could not boot this lane: \(detail)", missing: missing,
                                          evidence: .startFailure),
                         end: nil, markers: [], requiredCount: missing.count, consoleBytes: 0, backend: backend)
    }

    /// Required markers seen (forbidden ones are never in `markers`).
    public var seenCount: Int { requiredCount - verdict.missing.count }
}

/// Several runs judged together (`gate`): the worst verdict decides the exit code.
public struct GateOutcome: Sendable {
    public var records: [RunRecord]
    public var allowSkipped: Bool

    public init(records: [RunRecord], allowSkipped: Bool) {
        self.records = records
        self.allowSkipped = allowSkipped
    }

    public var worst: VerdictKind {
        records.map(\.verdict.kind).filter { !(allowSkipped && $0 == .skipped) }.max() ?? .pass
    }

    public var exitCode: Int32 { worst.exitCode }
    public var passed: Bool { worst == .pass }
}
