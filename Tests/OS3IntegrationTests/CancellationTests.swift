import Foundation
import Testing
import OS3Core
import OS3Runner

/// Every wait answers to the deadline and to an interrupt, whatever the other end does.
@Suite("Cancellation: no read or write outlives a deadline or an interrupt", .tags(.integration), .serialized)
struct CancellationTests {
    /// Runs the real os3ctl; gives up (SIGKILL, and a failed expectation) if it is still running
    /// after `bound` seconds — a generous bound against hanging the suite, not a timing check.
    private static func run(_ args: [String], bound: Double = 120, whileRunning: (Process) throws -> Void = { _ in })
        throws -> (status: Int32, reason: Process.TerminationReason, stderr: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Fixture.binary)
        p.arguments = args
        p.environment = ProcessInfo.processInfo.environment.merging(["OS3_STATE_DIR": Fixture.state.path]) { $1 }
        let errFile = FileManager.default.temporaryDirectory.appendingPathComponent("stderr-\(UUID().uuidString)").path
        FileManager.default.createFile(atPath: errFile, contents: nil)
        p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errFile))
        p.standardOutput = FileHandle.nullDevice
        p.standardInput = FileHandle.nullDevice
        try p.run()
        try whileRunning(p)
        let deadline = Date().addingTimeInterval(bound)
        while p.isRunning && Date() < deadline { usleep(20_000) }
        let hung = p.isRunning
        if hung { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
        #expect(!hung, "os3ctl \(args.joined(separator: " ")) was still running after \(bound) s")
        return (p.terminationStatus, p.terminationReason, (try? String(contentsOfFile: errFile, encoding: .utf8)) ?? "")
    }

    @Test("200 KB of console input to a QEMU that never reads its stdin: the boot ends at its timeout, verdict timeout")
    func consoleInputToDeafQemu() throws {
        let project = try Fixture.scratchProject()
        // 200 KB is far beyond a pipe's 64 KiB: a blocking write would wait forever.
        let text = String(repeating: "x", count: 200 * 1024)
        try """
        description = "types into a QEMU that never reads"
        accelerator = "tcg"
        machine = "microvm"
        memory = "32M"
        cpus = 1
        cpu = "qemu64"
        markers = ["boot"]
        [timeouts]
        total = 2
        idle = 2
        [console-input]
        text = "\(text)"
        """.write(toFile: "\(project)/lanes/deaf.toml", atomically: true, encoding: .utf8)
        // Prints now and then (so the verdict is the total timeout, not a hang: idle = total and the
        // idle deadline is renewed by output) and never reads stdin.
        let qemu = try Fixture.fakeQemu("while :; do echo still booting; sleep 0.2; done")
        let (status, reason, err) = try Self.run(["boot", "--project", project, "--lane", "deaf", "--kernel", try Fixture.fakeKernel(), "--qemu", qemu])
        #expect(reason == .exit)
        #expect(status == VerdictKind.timeout.exitCode, "\(err)")
    }

    @Test("scan of a FIFO nobody writes ends on SIGTERM with exit 143 and says why")
    func scanFIFOInterrupted() throws {
        let fifo = FileManager.default.temporaryDirectory.appendingPathComponent("fifo-\(UUID().uuidString)").path
        #expect(mkfifo(fifo, 0o600) == 0)
        var writer: Int32 = -1
        defer { if writer >= 0 { close(writer) } }
        let (status, reason, err) = try Self.run(["scan", "--markers", "\(Fixture.root)/markers/boot.toml", fifo]) { p in
            // A writer can open the FIFO only once scan has it open for reading (ENXIO before):
            // from then on scan waits in its read. The writer stays open and writes nothing.
            let deadline = Date().addingTimeInterval(60)
            while writer < 0 && Date() < deadline {
                writer = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC)
                if writer < 0 { usleep(10_000) }
            }
            #expect(writer >= 0, "scan never opened the FIFO")
            kill(p.processIdentifier, SIGTERM)
        }
        #expect(reason == .exit, "os3ctl died of the signal instead of handling it")
        #expect(status == 128 + SIGTERM, "\(err)")
        #expect(err.contains("interrupted by signal 15 (SIGTERM)"), "\(err)")
    }
}
