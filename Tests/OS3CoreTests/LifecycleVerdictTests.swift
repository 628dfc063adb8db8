import Testing
@testable import OS3Core

/// Where no exit code can be learned (a libvirtd, local or remote), the verdict rests on the kernel's
/// final sentinel plus libvirt's lifecycle events — and says so.
@Suite("Verdicts from lifecycle evidence")
struct LifecycleVerdictTests {
    static let markers = MarkerSet(
        required: [Marker(id: "boot", pattern: .literal("boot")), Marker(id: "memmap", pattern: .literal("memmap")),
                   Marker(id: "done", pattern: .literal("os3: ALL OK"))],
        forbidden: [Marker(id: "panic", pattern: .literal("os3: PANIC"))],
        orders: [["boot", "memmap", "done"]])

    static func hit(_ id: String, line: Int) -> MarkerHit { MarkerHit(id: id, time: Double(line) / 10, line: line, text: id) }
    static let all = ["boot": hit("boot", line: 1), "memmap": hit("memmap", line: 2), "done": hit("done", line: 3)]
    static let noSentinel = ["boot": hit("boot", line: 1), "memmap": hit("memmap", line: 2)]
    static let noMemmap = ["boot": hit("boot", line: 1), "done": hit("done", line: 3)]

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var observation: BootObservation
        var expected: VerdictKind
        var evidence: VerdictEvidence
        var missing: [String] = []
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "final sentinel, every marker, QEMU stopped on its own: pass on sentinel+lifecycle",
             observation: BootObservation(end: nil, hits: all, consoleBytes: 30, lifecycle: .emulatorExited),
             expected: .pass, evidence: .sentinelAndLifecycle),
        Case(name: "QEMU stopped on its own without the final sentinel: missing markers",
             observation: BootObservation(end: nil, hits: noSentinel, consoleBytes: 20, lifecycle: .emulatorExited),
             expected: .missingMarkers, evidence: .sentinelAndLifecycle, missing: ["done"]),
        Case(name: "the sentinel but another required marker missing: missing markers",
             observation: BootObservation(end: nil, hits: noMemmap, consoleBytes: 20, lifecycle: .emulatorExited),
             expected: .missingMarkers, evidence: .sentinelAndLifecycle, missing: ["memmap"]),
        Case(name: "markers out of order fail even with the sentinel",
             observation: BootObservation(end: nil, hits: ["boot": hit("boot", line: 4), "memmap": hit("memmap", line: 2), "done": hit("done", line: 5)],
                                          lifecycle: .emulatorExited),
             expected: .orderViolated, evidence: .sentinelAndLifecycle),
        Case(name: "a guest reset (triple fault) is guest-reset, even after every marker",
             observation: BootObservation(end: nil, hits: all, lifecycle: .guestReset),
             expected: .guestReset, evidence: .lifecycle),
        Case(name: "the panic device is guest-panic",
             observation: BootObservation(end: nil, hits: noSentinel, lifecycle: .guestPanicked),
             expected: .guestPanic, evidence: .lifecycle, missing: ["done"]),
        Case(name: "a VM libvirt reports suspended by QEMU (I/O error, crashed) is vm-stopped",
             observation: BootObservation(end: nil, stopReason: .vmStopped, hits: noSentinel, lifecycle: .vmStopped),
             expected: .vmStopped, evidence: .lifecycle, missing: ["done"]),
        Case(name: "the backend's precise account wins over the coarse classification",
             observation: BootObservation(end: nil, stopReason: .vmStopped, hits: noSentinel, lifecycle: .vmStopped,
                                          account: .stopped(status: "crashed")),
             expected: .vmStopped, evidence: .lifecycle, missing: ["done"]),
        Case(name: "a guest shutdown with no exit code is no pass for a lane that passes by exit code",
             observation: BootObservation(end: nil, hits: all, lifecycle: .guestShutdown),
             expected: .wrongExitCode, evidence: .lifecycle),
        Case(name: "a domain destroyed by someone else is an infrastructure error",
             observation: BootObservation(end: nil, hits: noSentinel, lifecycle: .destroyed),
             expected: .infraError, evidence: .lifecycle, missing: ["done"]),
        Case(name: "no exit code and no lifecycle event: infrastructure error, never a pass",
             observation: BootObservation(end: nil, hits: all, lifecycle: nil),
             expected: .infraError, evidence: .lifecycle),
        Case(name: "a domain saved or migrated away proves nothing",
             observation: BootObservation(end: nil, hits: all, lifecycle: .other),
             expected: .infraError, evidence: .lifecycle),
        Case(name: "a forbidden marker on the console wins over the lifecycle",
             observation: BootObservation(end: nil, stopReason: .forbiddenMarker, hits: noSentinel,
                                          forbidden: hit("panic", line: 3), lifecycle: .emulatorExited),
             expected: .forbiddenMarker, evidence: .console, missing: ["done"]),
        Case(name: "a hang is judged from the console whatever libvirt says",
             observation: BootObservation(end: nil, stopReason: .idleTimeout, hits: noSentinel, lifecycle: .destroyed),
             expected: .hang, evidence: .console, missing: ["done"]),
        Case(name: "with an exit code (embedded driver) the exit code decides: 33 passes",
             observation: BootObservation(end: .exited(33), hits: all, lifecycle: .emulatorExited),
             expected: .pass, evidence: .exitCode),
        Case(name: "with an exit code, exit 0 after a reset is guest-reset: libvirt's event says why QEMU exited 0",
             observation: BootObservation(end: .exited(0), hits: all, lifecycle: .guestReset),
             expected: .guestReset, evidence: .lifecycle),
        Case(name: "QEMU killed by libvirt after a guest reset: the reset explains the signal",
             observation: BootObservation(end: .signaled(15), hits: noSentinel, lifecycle: .guestReset),
             expected: .guestReset, evidence: .lifecycle, missing: ["done"]),
        Case(name: "QEMU killed by a signal with no lifecycle explanation stays an infrastructure error",
             observation: BootObservation(end: .signaled(9), hits: all, lifecycle: .emulatorExited),
             expected: .infraError, evidence: .exitCode),
        Case(name: "QEMU run directly: exit 33 with every marker passes on the exit code",
             observation: BootObservation(end: .exited(33), hits: all),
             expected: .pass, evidence: .exitCode),
    ]

    @Test("each piece of evidence gets the documented verdict, and the verdict names it", arguments: cases)
    func table(_ c: Case) {
        let v = Verdict.judge(c.observation, markers: Self.markers, successExitCode: 33, idleTimeout: 5, totalTimeout: 30)
        #expect(v.kind == c.expected, "\(v.detail)")
        #expect(v.evidence == c.evidence, "\(v.detail)")
        #expect(v.missing == c.missing)
    }

    @Test("a pass without an exit code says so in its detail")
    func passDetailNamesTheEvidence() {
        let v = Verdict.judge(BootObservation(end: nil, hits: Self.all, lifecycle: .emulatorExited), markers: Self.markers,
                              successExitCode: 33, idleTimeout: 5, totalTimeout: 30)
        #expect(v.detail.contains("final sentinel 'done'"))
        #expect(v.detail.contains("no exit code"))
    }

    @Test("a lane whose markers have no final sentinel cannot pass without an exit code")
    func noSentinelMarker() {
        let markers = MarkerSet(required: [Marker(id: "boot", pattern: .literal("boot"))])
        let v = Verdict.judge(BootObservation(end: nil, hits: ["boot": Self.hit("boot", line: 1)], lifecycle: .emulatorExited),
                              markers: markers, successExitCode: 33, idleTimeout: 5, totalTimeout: 30)
        #expect(v.kind == .infraError)
    }

    static let poweroffCases: [Case] = [
        Case(name: "libvirt's SHUTDOWN/guest then STOPPED/shutdown, no reboot: a poweroff lane passes on the lifecycle",
             observation: BootObservation(end: nil, hits: all, lifecycle: .guestShutdown), expected: .pass, evidence: .lifecycle),
        Case(name: "the same with QEMU's exit 0 (embedded driver): the event says why it exited 0",
             observation: BootObservation(end: .exited(0), hits: all, lifecycle: .guestShutdown), expected: .pass, evidence: .lifecycle),
        Case(name: "a reset is no poweroff",
             observation: BootObservation(end: nil, hits: all, lifecycle: .guestReset), expected: .guestReset, evidence: .lifecycle),
        Case(name: "QEMU ending on its own (isa-debug-exit) is no poweroff",
             observation: BootObservation(end: nil, hits: all, lifecycle: .emulatorExited), expected: .wrongExitCode, evidence: .lifecycle),
        Case(name: "a poweroff before a required marker: missing markers",
             observation: BootObservation(end: nil, hits: noMemmap, lifecycle: .guestShutdown), expected: .missingMarkers,
             evidence: .lifecycle, missing: ["memmap"]),
    ]

    @Test("a lane that passes by poweroff, through libvirt", arguments: poweroffCases)
    func poweroffTable(_ c: Case) {
        let v = Verdict.judge(c.observation, markers: Self.markers, success: .poweroff, idleTimeout: 5, totalTimeout: 30)
        #expect(v.kind == c.expected, "\(v.detail)")
        #expect(v.evidence == c.evidence, "\(v.detail)")
        #expect(v.missing == c.missing)
    }
}
