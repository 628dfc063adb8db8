import Testing
@testable import OS3Core

@Suite("Verdicts")
struct VerdictTests {
    static let markers = MarkerSet(
        required: [Marker(id: "boot", pattern: .literal("boot")), Marker(id: "done", pattern: .literal("done"))],
        forbidden: [Marker(id: "panic", pattern: .literal("PANIC"))],
        orders: [["boot", "done"]])

    static func hit(_ id: String, line: Int) -> MarkerHit { MarkerHit(id: id, time: Double(line) / 10, line: line, text: id) }
    static let both = ["boot": hit("boot", line: 1), "done": hit("done", line: 2)]
    static let onlyBoot = ["boot": hit("boot", line: 1)]

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var observation: BootObservation
        var expected: VerdictKind
        var missing: [String] = []
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "exit 33 with every marker passes",
             observation: BootObservation(end: .exited(33), hits: both, consoleBytes: 10), expected: .pass),
        Case(name: "exit 33 with a marker missing fails as missing-markers",
             observation: BootObservation(end: .exited(33), hits: onlyBoot, consoleBytes: 10), expected: .missingMarkers, missing: ["done"]),
        Case(name: "exit 0 with no account from QEMU is a wrong exit code even with every marker: no evidence how it ended",
             observation: BootObservation(end: .exited(0), hits: both, consoleBytes: 10), expected: .wrongExitCode),
        Case(name: "exit 35 (the kernel's failure code) is a wrong exit code",
             observation: BootObservation(end: .exited(35), hits: onlyBoot, consoleBytes: 10), expected: .wrongExitCode, missing: ["done"]),
        Case(name: "QEMU killed by SIGSEGV is an infrastructure error, never a pass",
             observation: BootObservation(end: .signaled(11), hits: both, consoleBytes: 10), expected: .infraError),
        Case(name: "QEMU killed by SIGKILL from outside is an infrastructure error",
             observation: BootObservation(end: .signaled(9), hits: [:]), expected: .infraError, missing: ["boot", "done"]),
        Case(name: "QEMU that could not be started is an infrastructure error",
             observation: BootObservation(end: .failedToStart("no such file")), expected: .infraError, missing: ["boot", "done"]),
        Case(name: "QEMU exiting 1 with an error and no guest output is an infrastructure error",
             observation: BootObservation(end: .exited(1), consoleBytes: 0, stderrTail: "qemu: could not access KVM kernel module"),
             expected: .infraError, missing: ["boot", "done"]),
        Case(name: "exit 1 after the guest printed is the guest's wrong exit code",
             observation: BootObservation(end: .exited(1), hits: onlyBoot, consoleBytes: 10, stderrTail: ""), expected: .wrongExitCode, missing: ["done"]),
        Case(name: "a forbidden marker wins over everything else",
             observation: BootObservation(end: .signaled(15), stopReason: .forbiddenMarker, hits: both,
                                          forbidden: MarkerHit(id: "panic", time: 0.1, line: 3, text: "PANIC: x")), expected: .forbiddenMarker),
        Case(name: "silence until the idle timeout is a hang",
             observation: BootObservation(end: .signaled(15), stopReason: .idleTimeout, hits: onlyBoot), expected: .hang, missing: ["done"]),
        Case(name: "printing past the total timeout is a timeout, not a hang",
             observation: BootObservation(end: .signaled(15), stopReason: .totalTimeout, hits: onlyBoot), expected: .timeout, missing: ["done"]),
        Case(name: "an interrupt by the user is reported as interrupted",
             observation: BootObservation(end: .signaled(15), stopReason: .interrupted, hits: onlyBoot), expected: .interrupted, missing: ["done"]),
        Case(name: "a forbidden line found after QEMU exited 33 by itself (the last line, no newline) is a forbidden marker, not a pass",
             observation: BootObservation(end: .exited(33), hits: both,
                                          forbidden: MarkerHit(id: "panic", time: 0.3, line: 3, text: "PANIC")), expected: .forbiddenMarker),
        Case(name: "a console log deleted during the boot is an infrastructure error even with exit 33 and every marker",
             observation: BootObservation(end: .exited(33), hits: both, consoleBytes: 10,
                                          evidenceLost: "the run directory /r disappeared during the boot"), expected: .infraError),
        Case(name: "markers out of the required order fail",
             observation: BootObservation(end: .exited(33), hits: ["boot": hit("boot", line: 5), "done": hit("done", line: 2)]), expected: .orderViolated),
    ]

    @Test("each observation gets the verdict the documentation promises", arguments: cases)
    func table(_ c: Case) {
        let v = Verdict.judge(c.observation, markers: Self.markers, successExitCode: 33, idleTimeout: 5, totalTimeout: 30)
        #expect(v.kind == c.expected, "\(v.detail)")
        #expect(v.missing == c.missing)
    }

    @Test("every verdict has its own exit code, and only pass exits 0")
    func distinctExitCodes() {
        let codes = VerdictKind.allCases.map(\.exitCode)
        #expect(Set(codes).count == codes.count)
        #expect(VerdictKind.allCases.filter { $0.exitCode == 0 } == [.pass])
    }

    @Test("the gate fails on any failure, on skipped lanes unless allowed, and reports the worst")
    func gateOutcome() throws {
        func record(_ kind: VerdictKind) -> RunRecord {
            RunRecord(lane: kind.rawValue, laneFile: "", kernel: "", argv: [], kernelCommandLine: "", runDirectory: "", serialLog: "",
                      startedAt: "", duration: 0, verdict: Verdict(kind: kind, detail: ""), end: nil, markers: [], requiredCount: 0, consoleBytes: 0)
        }
        #expect(GateOutcome(records: [record(.pass), record(.pass)], allowSkipped: false).exitCode == 0)
        #expect(GateOutcome(records: [record(.pass), record(.skipped)], allowSkipped: false).exitCode == 30)
        #expect(GateOutcome(records: [record(.pass), record(.skipped)], allowSkipped: true).exitCode == 0)
        #expect(GateOutcome(records: [record(.missingMarkers), record(.forbiddenMarker), record(.pass)], allowSkipped: true).worst == .forbiddenMarker)
        #expect(GateOutcome(records: [record(.infraError), record(.hang)], allowSkipped: false).exitCode == 20)
    }

    @Test("an observation built from a matcher keeps the forbidden hit its finish() found in the last, unterminated line")
    func observationFromMatcher() {
        var matcher = MarkerMatcher(Self.markers)
        let console = Array("boot\ndone\nPANIC".utf8)
        _ = console.withUnsafeBytes { matcher.feed($0, at: 0.1) }
        _ = matcher.finish(at: 0.2)
        let o = BootObservation(end: .exited(33), stopReason: nil, matcher: matcher)
        #expect(o.forbidden?.id == "panic")
        #expect(o.hits.keys.sorted() == ["boot", "done"])
        #expect(o.consoleBytes == console.count)
        let v = Verdict.judge(o, markers: Self.markers, successExitCode: 33, idleTimeout: 5, totalTimeout: 30)
        #expect(v.kind == .forbiddenMarker, "\(v.detail)")
    }

    @Test("a lane os3ctl could not boot is an infra-error record listing every required marker as missing")
    func infraErrorRecord() throws {
        let lane = try Lane(name: "l", accelerator: .tcg, machine: "pc", memory: "32M", cpus: 1, cpuModel: "qemu64", markerFiles: [])
        let r = RunRecord.infraError(lane: lane, markers: Self.markers, kernel: "k", backend: "qemu", startedAt: "t",
                                     detail: "cannot create a run directory")
        #expect(r.verdict.kind == .infraError)
        #expect(r.verdict.detail.contains("cannot create a run directory"))
        #expect(r.verdict.missing == ["boot", "done"])
        #expect(r.seenCount == 0 && r.requiredCount == 2)
    }

    /// One row per way a boot can end: the observation, and the verdict for a lane that passes by
    /// `success-exit = 33` and for one that passes by `success = "poweroff"`.
    struct EndCase: Sendable, CustomTestStringConvertible {
        var name: String
        var observation: BootObservation
        var evidence: EndEvidence
        var byExitCode: VerdictKind
        var byPoweroff: VerdictKind
        var testDescription: String { name }
    }

    static let internalError = "KVM internal error. Suberror: 1\nextra data[0]: 0x1\nemulation failure\nRAX=0000000000000000 RBX=0\nqemu-system-x86_64: terminating on signal 2 from pid 7 (os3ctl)\n"

    static let endCases: [EndCase] = [
        EndCase(name: "QEMU exits 33 (isa-debug-exit), nothing said",
                observation: BootObservation(end: .exited(33), hits: both, consoleBytes: 10),
                evidence: .exited(33), byExitCode: .pass, byPoweroff: .wrongExitCode),
        EndCase(name: "QEMU exits 35 (the kernel's failure code)",
                observation: BootObservation(end: .exited(35), hits: both, consoleBytes: 10),
                evidence: .exited(35), byExitCode: .wrongExitCode, byPoweroff: .wrongExitCode),
        EndCase(name: "QEMU exits 0 and says nothing: no evidence, never a pass",
                observation: BootObservation(end: .exited(0), hits: both, consoleBytes: 10),
                evidence: .unknown, byExitCode: .wrongExitCode, byPoweroff: .wrongExitCode),
        EndCase(name: "QEMU killed by SIGSEGV",
                observation: BootObservation(end: .signaled(11), hits: both, consoleBytes: 10),
                evidence: .signalled(11), byExitCode: .infraError, byPoweroff: .infraError),
        EndCase(name: "a clean guest poweroff QEMU reported, then exit 0",
                observation: BootObservation(end: .exited(0), hits: both, consoleBytes: 10, account: .shutdown(reason: "guest-shutdown")),
                evidence: .guestShutdown, byExitCode: .wrongExitCode, byPoweroff: .pass),
        EndCase(name: "a clean poweroff before a required marker",
                observation: BootObservation(end: .exited(0), hits: onlyBoot, consoleBytes: 10, account: .shutdown(reason: "guest-shutdown")),
                evidence: .guestShutdown, byExitCode: .wrongExitCode, byPoweroff: .missingMarkers),
        EndCase(name: "a guest reset (a triple fault under -no-reboot), then exit 0",
                observation: BootObservation(end: .exited(0), hits: both, consoleBytes: 10, account: .shutdown(reason: "guest-reset")),
                evidence: .guestReset, byExitCode: .guestReset, byPoweroff: .guestReset),
        EndCase(name: "GUEST_PANICKED from the panic device, then exit 0",
                observation: BootObservation(end: .exited(0), hits: both, consoleBytes: 10, account: .panicked),
                evidence: .guestPanic, byExitCode: .guestPanic, byPoweroff: .guestPanic),
        EndCase(name: "a panic QEMU turned into exit 1 (-action panic=exit-failure)",
                observation: BootObservation(end: .exited(1), hits: both, consoleBytes: 10, account: .panicked),
                evidence: .guestPanic, byExitCode: .guestPanic, byPoweroff: .guestPanic),
        EndCase(name: "SHUTDOWN reason guest-panic",
                observation: BootObservation(end: .exited(0), hits: both, consoleBytes: 10, account: .shutdown(reason: "guest-panic")),
                evidence: .guestPanic, byExitCode: .guestPanic, byPoweroff: .guestPanic),
        EndCase(name: "QEMU stopped the VM (KVM internal error); os3ctl ended it",
                observation: BootObservation(end: .exited(0), stopReason: .vmStopped, hits: onlyBoot, consoleBytes: 10,
                                             stderrTail: internalError, account: .stopped(status: "internal-error")),
                evidence: .vmStopped(status: "internal-error", stderrTail: internalError), byExitCode: .vmStopped, byPoweroff: .vmStopped),
        EndCase(name: "a shutdown account does not explain away a non-zero exit code",
                observation: BootObservation(end: .exited(33), hits: both, consoleBytes: 10, account: .shutdown(reason: "guest-shutdown")),
                evidence: .exited(33), byExitCode: .pass, byPoweroff: .wrongExitCode),
        EndCase(name: "os3ctl's own stop wins over any account: a forbidden marker",
                observation: BootObservation(end: .exited(0), stopReason: .forbiddenMarker, hits: both,
                                             forbidden: MarkerHit(id: "panic", time: 0.1, line: 3, text: "PANIC"), consoleBytes: 10, account: .shutdown(reason: "guest-shutdown")),
                evidence: .guestShutdown, byExitCode: .forbiddenMarker, byPoweroff: .forbiddenMarker),
    ]

    @Test("each end QEMU can report, judged for both success forms", arguments: endCases)
    func endEvidence(_ c: EndCase) {
        let o = c.observation
        #expect(EndEvidence.of(end: o.end, account: o.account, stderrTail: o.stderrTail) == c.evidence)
        let byExit = Verdict.judge(o, markers: Self.markers, success: .exitCode(33), idleTimeout: 5, totalTimeout: 30)
        #expect(byExit.kind == c.byExitCode, "\(byExit.detail)")
        let byPoweroff = Verdict.judge(o, markers: Self.markers, success: .poweroff, idleTimeout: 5, totalTimeout: 30)
        #expect(byPoweroff.kind == c.byPoweroff, "\(byPoweroff.detail)")
        // The account, not the exit code, is the evidence wherever QEMU gave one.
        if o.account != nil, o.stopReason != .forbiddenMarker, byPoweroff.kind != .wrongExitCode {
            #expect(byPoweroff.evidence == .qmp, "\(byPoweroff.detail)")
        }
    }

    @Test("a stopped VM's detail shows QEMU's error lines, not its register dump or os3ctl's own signal")
    func vmStoppedDetail() {
        let o = BootObservation(end: .exited(0), stopReason: .vmStopped, hits: Self.onlyBoot, stderrTail: Self.internalError,
                                account: .stopped(status: "internal-error"))
        let v = Verdict.judge(o, markers: Self.markers, success: .exitCode(33), idleTimeout: 5, totalTimeout: 30)
        #expect(v.kind == .vmStopped)
        #expect(v.detail.contains("run state internal-error"))
        #expect(v.detail.contains("KVM internal error. Suberror: 1 / emulation failure"))
        #expect(!v.detail.contains("RAX="))
        #expect(!v.detail.contains("terminating on signal"))
        #expect(v.missing == ["done"])
    }

    @Test("exit 0 without an account says there is no evidence, not that it was a triple fault")
    func unknownDetail() {
        let v = Verdict.judge(BootObservation(end: .exited(0), hits: Self.both, consoleBytes: 10), markers: Self.markers,
                              success: .exitCode(33), idleTimeout: 5, totalTimeout: 30)
        #expect(v.detail.contains("without saying how the guest ended"))
        #expect(!v.detail.contains("triple fault"))
    }
}
