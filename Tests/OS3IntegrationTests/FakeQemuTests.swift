import Foundation
import Testing
import OS3Core
import OS3Runner

@Suite("Fake QEMUs: the harness's own failure handling", .tags(.integration))
struct FakeQemuTests {
    @Test("a QEMU that hangs silently gets the hang verdict and leaves no process behind")
    func silentHang() throws {
        let pids = FileManager.default.temporaryDirectory.appendingPathComponent("pids-\(UUID().uuidString)").path
        let qemu = try Fixture.fakeQemu("""
        sleep 300 &
        echo "$$ $!" > '\(pids)'
        wait
        """)
        let r = try Fixture.bootFake(qemu: qemu) { $0.idleTimeout = 0.5; $0.totalTimeout = 10 }
        #expect(r.verdict.kind == .hang)
        let recorded = try String(contentsOfFile: pids, encoding: .utf8).split(separator: " ").compactMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        #expect(recorded.count == 2)
        // The group was killed; give init a moment to reap the reparented sleep.
        let deadline = Date().addingTimeInterval(20)
        while recorded.contains(where: Fixture.isAlive) && Date() < deadline { usleep(10_000) }
        for pid in recorded { #expect(!Fixture.isAlive(pid), "process \(pid) survived") }
    }

    @Test("a QEMU killed by a signal is an infrastructure error, even after printing every marker")
    func killedBySignal() throws {
        let qemu = try Fixture.fakeQemu("""
        printf '\(Fixture.fakePassingConsole)\\n'
        kill -SEGV $$
        """)
        let r = try Fixture.bootFake(qemu: qemu)
        #expect(r.end == .signaled(11))
        #expect(r.verdict.kind == .infraError)
    }

    @Test("a QEMU binary that does not exist is an infrastructure error that says so")
    func missingBinary() throws {
        let r = try Fixture.boot("tiny", qemu: "/nonexistent/qemu-system-x86_64")
        #expect(r.verdict.kind == .infraError)
        #expect(r.verdict.detail.contains("no such file"))
    }

    @Test("QEMU rejecting its arguments is an infrastructure error carrying QEMU's message")
    func badArgument() throws {
        let r = try Fixture.boot("tiny") { $0.qemuArgs = ["-no-such-option"] }
        #expect(r.verdict.kind == .infraError)
        #expect(r.verdict.detail.contains("no-such-option"))
    }

    @Test("the last bytes written just before exit are in the log and matched")
    func lastBytesBeforeExit() throws {
        let qemu = try Fixture.fakeQemu("""
        printf '\(Fixture.fakePassingConsole)'
        exit 33
        """)
        let r = try Fixture.bootFake(qemu: qemu)
        #expect(r.verdict.kind == .pass, "\(r.verdict.detail)")
        let log = try String(contentsOfFile: r.serialLog, encoding: .utf8)
        #expect(log.hasSuffix("os3: ALL OK"))
    }
}
