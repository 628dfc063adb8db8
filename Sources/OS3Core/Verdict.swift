/// How a boot ended, each with its own os3ctl exit code (docs/VERDICTS.md).
public enum VerdictKind: String, Sendable, Codable, CaseIterable, Comparable {
    case pass
    case missingMarkers = "missing-markers"
    case forbiddenMarker = "forbidden-marker"
    case wrongExitCode = "wrong-exit-code"
    case orderViolated = "order-violated"
    case hang
    case timeout
    /// QEMU reported a guest reset (a triple fault under -no-reboot).
    case guestReset = "guest-reset"
    /// QEMU reported a guest panic (the pvpanic device).
    case guestPanic = "guest-panic"
    /// QEMU stopped the VM and kept running (a KVM internal error, an emulation failure, an I/O error).
    case vmStopped = "vm-stopped"
    /// A KTAP result `not ok` (without SKIP or TODO).
    case testFailed = "test-failed"
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
        case .guestReset: 16
        case .guestPanic: 17
        case .vmStopped: 18
        case .testFailed: 19
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
        case .testFailed: 4
        case .wrongExitCode: 5
        case .guestReset: 6
        case .timeout: 7
        case .hang: 8
        case .vmStopped: 9
        case .guestPanic: 10
        case .forbiddenMarker: 11
        case .infraError: 12
        case .interrupted: 13
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
    /// QEMU stopped the VM and kept running (QMP STOP, then query-status): the verdict is
    /// QEMU's account of it (`vm-stopped`), not os3ctl's stop.
    case vmStopped = "vm-stopped"
}

/// How libvirt saw a guest end (its lifecycle events): the evidence where QEMU's exit status cannot
/// be learned (a libvirtd, local or remote). Recorded with the embedded driver too.
public enum GuestLifecycle: String, Sendable, Codable, CaseIterable {
    /// STOPPED/failed: QEMU ended on its own — through isa-debug-exit (whatever the code) or a crash.
    case emulatorExited = "emulator-exited"
    /// A reboot, or SHUTDOWN/guest then STOPPED where a reset cannot be told from a poweroff: the
    /// guest reset (a triple fault looks like this).
    case guestReset = "guest-reset"
    /// SHUTDOWN/guest then STOPPED/shutdown, no reboot, in a lane that succeeds by poweroff.
    case guestShutdown = "guest-shutdown"
    /// SUSPENDED (I/O error, crashed, …) after the guest ran: QEMU stopped the VM; os3ctl ended it.
    case vmStopped = "vm-stopped"
    /// CRASHED/panicked: the guest wrote to the panic device.
    case guestPanicked = "guest-panicked"
    /// STOPPED/destroyed by someone other than os3ctl.
    case destroyed
    /// STOPPED for another reason (saved, migrated, ...).
    case other
}

/// Which evidence decided a verdict.
public enum VerdictEvidence: String, Sendable, Codable, CaseIterable {
    /// QEMU's exit status (QEMU run directly, or the embedded libvirt driver whose QEMU os3ctl reaps).
    case exitCode = "exit-code"
    /// The kernel's in-band final sentinel on the console plus libvirt's STOPPED event (no exit status).
    case sentinelAndLifecycle = "sentinel+lifecycle"
    /// A libvirt lifecycle event alone: a guest reset (triple fault), the panic device, a destroy.
    case lifecycle
    /// QEMU's own account over its machine protocol (QMP): a guest poweroff, reset or panic, a stopped VM.
    case qmp
    /// The console: os3ctl stopped the guest (forbidden marker, hang, timeout, interrupt).
    case console
    /// QEMU or the domain never started.
    case startFailure = "start-failure"
    /// The line a LAVA device's QEMU wrapper printed after QEMU ended (`os3ctl-qemu-exit=N`,
    /// `os3ctl-qemu-signal=N`): QEMU's exit status where LAVA records none (docs/LAVA.md).
    case deviceExitLine = "device-exit-line"
    /// LAVA's job log: LAVA never started QEMU, or ended the job before QEMU ended (its error, a cancel).
    case lavaJob = "lava-job"
    /// The console log was deleted during the boot: what was seen can no longer be shown.
    case evidenceLost = "evidence-lost"
}

/// Everything the verdict is computed from; produced by the runner, judged by pure code.
public struct BootObservation: Sendable, Codable, Equatable {
    /// QEMU's exit; nil when it cannot be learned (a libvirtd: the verdict then rests on the final
    /// sentinel and `lifecycle`).
    public var end: ProcessEnd?
    public var stopReason: StopReason?
    public var hits: [String: MarkerHit]
    public var forbidden: MarkerHit?
    public var consoleBytes: Int
    /// The tail of QEMU's own stderr (its error messages).
    public var stderrTail: String
    /// How libvirt saw the guest end (nil when QEMU runs directly).
    public var lifecycle: GuestLifecycle?
    /// Set when the evidence is gone (the serial log was deleted during the boot): why.
    public var evidenceLost: String?
    /// What QEMU said about the guest's end (QMP events; libvirt's events where they are precise):
    /// nil when it said nothing.
    public var account: QemuAccount?
    /// A KTAP lane's plan and results, read from the whole console (nil: the lane is not judged by KTAP).
    public var ktap: KTAPReport?

    public init(end: ProcessEnd?, stopReason: StopReason? = nil, hits: [String: MarkerHit] = [:],
                forbidden: MarkerHit? = nil, consoleBytes: Int = 0, stderrTail: String = "",
                lifecycle: GuestLifecycle? = nil, evidenceLost: String? = nil, account: QemuAccount? = nil) {
        self.end = end
        self.stopReason = stopReason
        self.hits = hits
        self.forbidden = forbidden
        self.consoleBytes = consoleBytes
        self.stderrTail = stderrTail
        self.lifecycle = lifecycle
        self.evidenceLost = evidenceLost
        self.account = account
    }

    /// The one way a console's matcher becomes verdict input (both backends and `scan`): hits,
    /// the forbidden hit and the byte count are read from the matcher's state, never from the
    /// events some loop happened to handle — so a forbidden marker found by `finish(at:)` in the
    /// last, unterminated line cannot be dropped. Call it after `finish(at:)`.
    public init(end: ProcessEnd?, stopReason: StopReason?, matcher: MarkerMatcher, stderrTail: String = "",
                lifecycle: GuestLifecycle? = nil, evidenceLost: String? = nil) {
        self.init(end: end, stopReason: stopReason, hits: matcher.hits, forbidden: matcher.forbiddenHit,
                  consoleBytes: matcher.bytes, stderrTail: stderrTail, lifecycle: lifecycle, evidenceLost: evidenceLost)
    }
}

public struct Verdict: Sendable, Codable, Equatable {
    public var kind: VerdictKind
    /// One sentence for humans.
    public var detail: String
    /// Required markers never seen (also listed when another failure decided the verdict).
    public var missing: [String]
    public var forbiddenLine: String?
    /// Which evidence decided (nil for skipped lanes).
    public var evidence: VerdictEvidence?

    public init(kind: VerdictKind, detail: String, missing: [String] = [], forbiddenLine: String? = nil,
                evidence: VerdictEvidence? = nil) {
        self.kind = kind
        self.detail = detail
        self.missing = missing
        self.forbiddenLine = forbiddenLine
        self.evidence = evidence
    }

    /// The id of the kernel's final in-band sentinel ("os3: ALL OK", printed just before it exits
    /// through isa-debug-exit): the pass evidence where no exit status can be learned.
    public static let sentinelID = "done"

    public static func skipped(_ why: String) -> Verdict { Verdict(kind: .skipped, detail: why) }

    /// The verdict of one boot. A pass needs the lane's success form — QEMU exiting with its code,
    /// or a clean guest poweroff QEMU reported — AND every required marker AND every order
    /// constraint: a missing marker is a check that silently did not run.
    /// How the boot ended is QEMU's own account (`EndEvidence`), never a guess from an exit 0.
    /// Where no exit code can be learned (`end == nil`, a libvirtd), the exit code's place is taken
    /// by the final sentinel (`sentinelID`) plus libvirt's account of the end (`lifecycle`).
    public static func judge(_ o: BootObservation, markers: MarkerSet, success: Lane.Success,
                             idleTimeout: Double, totalTimeout: Double) -> Verdict {
        var v = decide(o, markers: markers, success: success, idleTimeout: idleTimeout, totalTimeout: totalTimeout)
        v.missing = markers.required.map(\.id).filter { o.hits[$0] == nil }
        return v
    }

    /// The same for a lane that succeeds by QEMU's exit code.
    public static func judge(_ o: BootObservation, markers: MarkerSet, successExitCode: Int32,
                             idleTimeout: Double, totalTimeout: Double) -> Verdict {
        judge(o, markers: markers, success: .exitCode(successExitCode), idleTimeout: idleTimeout, totalTimeout: totalTimeout)
    }

    private static func decide(_ o: BootObservation, markers: MarkerSet, success: Lane.Success,
                               idleTimeout: Double, totalTimeout: Double) -> Verdict {
        let missing = markers.required.map(\.id).filter { o.hits[$0] == nil }
        let missingNote = missing.isEmpty ? "" : "; missing: \(missing.joined(separator: ", "))"
        if case .failedToStart(let why)? = o.end {
            return Verdict(kind: .infraError, detail: "QEMU failed to start: \(why)", evidence: .startFailure)
        }
        // No evidence, no verdict on the guest: whatever the console showed can no longer be shown.
        if let lost = o.evidenceLost {
            return Verdict(kind: .infraError, detail: "\(lost): the evidence is gone, so this boot proves nothing\(missingNote)", evidence: .evidenceLost)
        }
        // A forbidden line is decisive however it was found: mid-run (os3ctl stopped the guest) or
        // in the console's last, unterminated line after the guest had exited by itself.
        switch o.stopReason ?? (o.forbidden != nil ? .forbiddenMarker : nil) {
        case .forbiddenMarker?:
            let line = o.forbidden?.text ?? "?"
            return Verdict(kind: .forbiddenMarker, detail: "forbidden marker '\(o.forbidden?.id ?? "?")' at console line \(o.forbidden?.line ?? 0): \(line)",
                           forbiddenLine: line, evidence: .console)
        case .idleTimeout?:
            return Verdict(kind: .hang, detail: "no console output for \(format(idleTimeout)) s (idle timeout)\(missingNote)", evidence: .console)
        case .totalTimeout?:
            return Verdict(kind: .timeout, detail: "still running after \(format(totalTimeout)) s (total timeout) while printing\(missingNote)", evidence: .console)
        case .interrupted?:
            return Verdict(kind: .interrupted, detail: "interrupted by the user\(missingNote)", evidence: .console)
        case .vmStopped?, nil:
            break
        }
        // A guest reset or panic makes libvirt end QEMU itself: its signal is libvirt's, the event says why.
        let libvirtEnded: Bool = switch o.end {
        case nil, .signaled?: o.lifecycle != nil
        default: false
        }
        if libvirtEnded, o.lifecycle == .destroyed {
            return Verdict(kind: .infraError, detail: "the domain was destroyed by someone other than os3ctl\(missingNote)", evidence: .lifecycle)
        }
        let account = o.account ?? o.lifecycle?.account
        let accountSource: VerdictEvidence = o.lifecycle != nil ? .lifecycle : .qmp
        let end = EndEvidence.of(end: o.end, account: account, stderrTail: o.stderrTail)
        /// What was said, in the words of whoever said it (QEMU over QMP, or libvirt's events).
        func said(_ e: EndEvidence) -> String {
            if o.account == nil, let words = o.lifecycle?.summary { return words }
            return e.summary
        }
        var evidence = VerdictEvidence.exitCode
        var passDetail: String
        switch end {
        case .guestPanic?:
            return Verdict(kind: .guestPanic, detail: "\(said(end!))\(missingNote)", evidence: accountSource)
        case .vmStopped(let status, let tail)?:
            let said = errorLines(tail).isEmpty ? "QEMU wrote nothing on stderr" : "QEMU: \(errorLines(tail))"
            return Verdict(kind: .vmStopped, detail: "QEMU stopped the VM (run state \(status)) and os3ctl ended it: \(said)\(missingNote)",
                           evidence: accountSource)
        case .guestReset?:
            return Verdict(kind: .guestReset, detail: "\(said(end!))\(missingNote)", evidence: accountSource)
        case .signalled(let sig)?:
            return Verdict(kind: .infraError, detail: "QEMU was killed by signal \(sig) (\(signalName(sig)))\(missingNote)", evidence: .exitCode)
        case .exited(let code)?:
            // QEMU's own failures (bad option, no KVM) exit 1 before the guest says anything.
            if code == 1 && o.consoleBytes == 0 && !o.stderrTail.isEmpty {
                return Verdict(kind: .infraError, detail: "QEMU exited 1 before the guest printed anything: \(lastLines(o.stderrTail))", evidence: .exitCode)
            }
            guard case .exitCode(code) = success else {
                return Verdict(kind: .wrongExitCode, detail: "QEMU exited \(code), expected \(success.expectation)\(missingNote)", evidence: .exitCode)
            }
            if !missing.isEmpty {
                return Verdict(kind: .missingMarkers, detail: "exit code \(code) but \(missing.count) required marker(s) never appeared: \(missing.joined(separator: ", "))", evidence: .exitCode)
            }
            passDetail = "exit code \(code) and all \(markers.required.count) required markers seen"
        case .unknown?:
            return Verdict(kind: .wrongExitCode, detail: "\(said(end!)), expected \(success.expectation): no evidence of how it ended\(missingNote)", evidence: .exitCode)
        case .guestShutdown?:
            evidence = accountSource
            guard success == .poweroff else {
                return Verdict(kind: .wrongExitCode, detail: "\(said(end!)), expected \(success.expectation)\(missingNote)", evidence: evidence)
            }
            if !missing.isEmpty {
                return Verdict(kind: .missingMarkers, detail: "the guest powered off cleanly but \(missing.count) required marker(s) never appeared: \(missing.joined(separator: ", "))", evidence: evidence)
            }
            passDetail = "\(said(.guestShutdown)) and all \(markers.required.count) required markers seen"
        case nil:
            // No exit status over this connection: the kernel's final sentinel plus STOPPED/failed.
            guard case .exitCode = success else {
                let what = o.lifecycle.map { "libvirt reported '\($0.rawValue)'" } ?? "libvirt reported no end of the guest"
                return Verdict(kind: .wrongExitCode, detail: "\(what), expected \(success.expectation)\(missingNote)", evidence: .lifecycle)
            }
            guard o.lifecycle == .emulatorExited else {
                let what = o.lifecycle.map { "libvirt reported '\($0.rawValue)'" } ?? "libvirt reported no end of the guest"
                return Verdict(kind: .infraError, detail: "no exit code over this connection and \(what)\(missingNote)", evidence: .lifecycle)
            }
            guard markers.required.contains(where: { $0.id == sentinelID }) else {
                return Verdict(kind: .infraError, detail: "no exit code over this connection and the lane requires no final sentinel marker '\(sentinelID)' to stand in for it", evidence: .lifecycle)
            }
            evidence = .sentinelAndLifecycle
            if o.hits[sentinelID] == nil {
                return Verdict(kind: .missingMarkers, detail: "QEMU stopped on its own (libvirt STOPPED/failed; no exit code over this connection) without the final sentinel '\(sentinelID)'\(missingNote)", evidence: evidence)
            }
            if !missing.isEmpty {
                return Verdict(kind: .missingMarkers, detail: "final sentinel '\(sentinelID)' and QEMU stopped on its own, but \(missing.count) required marker(s) never appeared: \(missing.joined(separator: ", "))", evidence: evidence)
            }
            passDetail = "final sentinel '\(sentinelID)' and all \(markers.required.count) required markers seen, then QEMU stopped on its own (libvirt STOPPED/failed; no exit code over this connection)"
        }
        // KTAP, like markers, is judged only once the lane's success form is proven: a failed or
        // missing result is a check that did not pass.
        if let ktap = o.ktap, let shortfall = ktap.shortfall {
            let kind: VerdictKind = ktap.headerSeen && ktap.plan != nil && !ktap.failures.isEmpty ? .testFailed : .missingMarkers
            return Verdict(kind: kind, detail: "\(passDetail), but \(shortfall)", evidence: evidence)
        }
        if let ktap = o.ktap { passDetail += ", and all \(ktap.plan ?? 0) planned KTAP results ok" }
        for sequence in markers.orders {
            for (a, b) in zip(sequence, sequence.dropFirst()) {
                if let ha = o.hits[a], let hb = o.hits[b], ha.line > hb.line {
                    return Verdict(kind: .orderViolated, detail: "marker '\(b)' (line \(hb.line)) appeared before '\(a)' (line \(ha.line)); required order: \(sequence.joined(separator: " < "))", evidence: evidence)
                }
            }
        }
        return Verdict(kind: .pass, detail: passDetail, evidence: evidence)
    }
}

extension GuestLifecycle {
    /// For details, where libvirt's events are the account.
    var summary: String? {
        switch self {
        case .guestReset: "the guest reset or powered off (libvirt: SHUTDOWN/guest or REBOOT; a triple fault looks like this)"
        case .guestShutdown: "the guest powered off cleanly (libvirt: SHUTDOWN/guest, and a reset would have been a REBOOT)"
        case .guestPanicked: "the guest panicked (libvirt: CRASHED/panicked from the panic device)"
        case .vmStopped: "QEMU stopped the VM (libvirt: SUSPENDED after the guest ran)"
        case .emulatorExited, .destroyed, .other: nil
        }
    }

    /// What libvirt's classification says QEMU reported, where it decides by itself.
    var account: QemuAccount? {
        switch self {
        case .guestReset: .shutdown(reason: "guest-reset")
        case .guestShutdown: .shutdown(reason: "guest-shutdown")
        case .guestPanicked: .panicked
        case .vmStopped: .stopped(status: "paused")
        case .emulatorExited, .destroyed, .other: nil
        }
    }
}

func format(_ seconds: Double) -> String {
    seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds)
}

/// The end of QEMU's error output: its last lines, since the cause often precedes a hint
/// ("unsupported machine type" / "Use -machine help to list supported machines").
func lastLines(_ text: String, count: Int = 3) -> String {
    let lines = text.split(separator: "\n").map { $0.trimmingSpaces() }.filter { !$0.isEmpty }
    return lines.isEmpty ? text : lines.suffix(count).joined(separator: " / ")
}

/// QEMU's words about a VM it stopped: its error lines ("KVM internal error. Suberror: 1",
/// "emulation failure") rather than the register dump after them, and never the "terminating on
/// signal" os3ctl's own stop adds.
func errorLines(_ text: String) -> String {
    let lines = text.split(separator: "\n").map { $0.trimmingSpaces() }
        .filter { !$0.isEmpty && !$0.contains("terminating on signal") }
    let errors = lines.filter { line in
        let l = line.lowercased()
        return l.contains("error") || l.contains("failure") || l.contains("fail")
    }
    return (errors.isEmpty ? Array(lines.suffix(3)) : Array(errors.prefix(3))).joined(separator: " / ")
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
