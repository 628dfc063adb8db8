/// How a boot ended, each with its own os3ctl exit code (docs/VERDICTS.md).
public enum VerdictKind: String, Sendable, Codable, CaseIterable, Comparable {
    case pass
    case missingMarkers = "missing-markers"
    case forbiddenMarker = "forbidden-marker"
    case wrongExitCode = "wrong-exit-code"
    case orderViolated = "order-violated"
    case hang
    case timeout
    case infraError = "infra-error"
    case skipped
    case interrupted

    public var exitCode: Int32 {
        switch self {
        case .pass: 0
        case .missingMarkers: 10
        case .forbiddenMarker: 11
        case .wrongExitCode: 12
        case .orderViolated: 13
        case .hang: 14
        case .timeout: 15
        case .infraError: 20
        case .skipped: 30
        case .interrupted: 130
        }
    }

    public var passed: Bool { self == .pass }

    /// Severity for summarising several runs: the worst kind decides `gate`'s exit code.
    var severity: Int {
        switch self {
        case .pass: 0
        case .skipped: 1
        case .orderViolated: 2
        case .missingMarkers: 3
        case .wrongExitCode: 4
        case .timeout: 5
        case .hang: 6
        case .forbiddenMarker: 7
        case .infraError: 8
        case .interrupted: 9
        }
    }

    public static func < (a: VerdictKind, b: VerdictKind) -> Bool { a.severity < b.severity }
}

/// What the process did, as the runner saw it.
public enum ProcessEnd: Sendable, Codable, Equatable {
    case exited(Int32)
    case signaled(Int32)
    case failedToStart(String)
}

/// Why os3ctl stopped the guest itself, if it did.
public enum StopReason: String, Sendable, Codable, Equatable {
    case forbiddenMarker = "forbidden-marker"
    case idleTimeout = "idle-timeout"
    case totalTimeout = "total-timeout"
    case interrupted
}

/// Everything the verdict is computed from; produced by the runner, judged by pure code.
public struct BootObservation: Sendable, Codable, Equatable {
    public var end: ProcessEnd
    public var stopReason: StopReason?
    public var hits: [String: MarkerHit]
    public var forbidden: MarkerHit?
    public var consoleBytes: Int
    /// The tail of QEMU's own stderr (its error messages).
    public var stderrTail: String

    public init(end: ProcessEnd, stopReason: StopReason? = nil, hits: [String: MarkerHit] = [:],
                forbidden: MarkerHit? = nil, consoleBytes: Int = 0, stderrTail: String = "") {
        self.end = end
        self.stopReason = stopReason
        self.hits = hits
        self.forbidden = forbidden
        self.consoleBytes = consoleBytes
        self.stderrTail = stderrTail
    }
}

public struct Verdict: Sendable, Codable, Equatable {
    public var kind: VerdictKind
    /// One sentence for humans.
    public var detail: String
    /// Required markers never seen (also listed when another failure decided the verdict).
    public var missing: [String]
    public var forbiddenLine: String?

    public init(kind: VerdictKind, detail: String, missing: [String] = [], forbiddenLine: String? = nil) {
        self.kind = kind
        self.detail = detail
        self.missing = missing
        self.forbiddenLine = forbiddenLine
    }

    public static func skipped(_ why: String) -> Verdict { Verdict(kind: .skipped, detail: why) }

    /// The verdict of one boot. A pass needs the lane's exit code AND every required marker
    /// AND every order constraint: a missing marker is a check that silently did not run.
    public static func judge(_ o: BootObservation, markers: MarkerSet, successExitCode: Int32,
                             idleTimeout: Double, totalTimeout: Double) -> Verdict {
        let missing = markers.required.map(\.id).filter { o.hits[$0] == nil }
        let missingNote = missing.isEmpty ? "" : "; missing: \(missing.joined(separator: ", "))"
        if case .failedToStart(let why) = o.end {
            return Verdict(kind: .infraError, detail: "QEMU failed to start: \(why)", missing: missing)
        }
        switch o.stopReason {
        case .forbiddenMarker?:
            let line = o.forbidden?.text ?? "?"
            return Verdict(kind: .forbiddenMarker, detail: "forbidden marker '\(o.forbidden?.id ?? "?")' at console line \(o.forbidden?.line ?? 0): \(line)",
                           missing: missing, forbiddenLine: line)
        case .idleTimeout?:
            return Verdict(kind: .hang, detail: "no console output for \(format(idleTimeout)) s (idle timeout)\(missingNote)", missing: missing)
        case .totalTimeout?:
            return Verdict(kind: .timeout, detail: "still running after \(format(totalTimeout)) s (total timeout) while printing\(missingNote)", missing: missing)
        case .interrupted?:
            return Verdict(kind: .interrupted, detail: "interrupted by the user\(missingNote)", missing: missing)
        case nil:
            break
        }
        switch o.end {
        case .failedToStart:
            fatalError("handled above")
        case .signaled(let sig):
            return Verdict(kind: .infraError, detail: "QEMU was killed by signal \(sig) (\(signalName(sig)))\(missingNote)", missing: missing)
        case .exited(let code):
            if code != successExitCode {
                // QEMU's own failures (bad option, no KVM) exit 1 before the guest says anything.
                if code == 1 && o.consoleBytes == 0 && !o.stderrTail.isEmpty {
                    return Verdict(kind: .infraError, detail: "QEMU exited 1 before the guest printed anything: \(lastLine(o.stderrTail))", missing: missing)
                }
                let meaning = code == 0 ? " (a triple fault or guest reset looks like this with -no-reboot)" : ""
                return Verdict(kind: .wrongExitCode, detail: "QEMU exited \(code), expected \(successExitCode)\(meaning)\(missingNote)", missing: missing)
            }
        }
        if !missing.isEmpty {
            return Verdict(kind: .missingMarkers, detail: "exit code \(successExitCode) but \(missing.count) required marker(s) never appeared: \(missing.joined(separator: ", "))", missing: missing)
        }
        for sequence in markers.orders {
            for (a, b) in zip(sequence, sequence.dropFirst()) {
                if let ha = o.hits[a], let hb = o.hits[b], ha.line > hb.line {
                    return Verdict(kind: .orderViolated, detail: "marker '\(b)' (line \(hb.line)) appeared before '\(a)' (line \(ha.line)); required order: \(sequence.joined(separator: " < "))")
                }
            }
        }
        return Verdict(kind: .pass, detail: "exit code \(successExitCode) and all \(markers.required.count) required markers seen")
    }
}

func format(_ seconds: Double) -> String {
    seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds)
}

func lastLine(_ text: String) -> String {
    text.split(separator: "\n").last.map(String.init) ?? text
}

public func signalName(_ sig: Int32) -> String {
    switch sig {
    case 1: "SIGHUP"
    case 2: "SIGINT"
    case 3: "SIGQUIT"
    case 4: "SIGILL"
    case 6: "SIGABRT"
    case 7: "SIGBUS"
    case 8: "SIGFPE"
    case 9: "SIGKILL"
    case 11: "SIGSEGV"
    case 13: "SIGPIPE"
    case 15: "SIGTERM"
    default: "signal \(sig)"
    }
}
