import Foundation
import Testing
import OS3Core
import OS3Runner

/// Nothing a boot starts outlives os3ctl: not QEMU, not what QEMU starts in a new session or
/// through a double fork, whether os3ctl ends normally, by SIGINT/SIGTERM, or by SIGKILL.
///
/// Every process of the tree is found by a token in its environment (the fake QEMU inherits
/// os3ctl's, its children QEMU's), so the check needs no pid from inside the tree.
@Suite("Process ownership: nothing outlives os3ctl", .tags(.integration), .serialized)
struct ProcessOwnershipTests {
    /// A fake QEMU that starts a grandchild in a new session (setsid) and one through a double
    /// fork, then says so in `ready`; then either passes at once or waits forever.
    private static func treeQemu(ready: String, pass: Bool) throws -> String {
        try Fixture.fakeQemu("""
        setsid sleep 300 &
        ( sleep 300 & ) &
        sleep 0.2
        : > '\(ready)'
        \(pass ? "printf '\(Fixture.fakePassingConsole)\\n'\nexit 33" : "echo still booting\nsleep 300")
        """)
    }

    /// Pids of live processes (zombies are gone) whose environment holds `token`.
    private static func processes(with token: String) -> [Int32] {
        let needle = Array(token.utf8)
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { pid in
            guard let environ = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { return false }
            let bytes = [UInt8](environ)
            guard bytes.count >= needle.count else { return false }
            let found = (0...(bytes.count - needle.count)).contains { bytes[$0..<($0 + needle.count)].elementsEqual(needle) }
            return found && Fixture.isAlive(pid)
        }
    }

    /// Polls (bounded) until `done` holds; returns whether it did.
    private static func eventually(within seconds: Double, _ done: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while !done() {
            if Date() > deadline { return false }
            usleep(20_000)
        }
        return true
    }

    /// Starts the real os3ctl on the `fake` lane with a tree-making fake QEMU; returns it once
    /// the whole tree runs, with the token that marks the tree.
    private static func startBoot(pass: Bool) throws -> (Process, token: String) {
        let ready = FileManager.default.temporaryDirectory.appendingPathComponent("ready-\(UUID().uuidString)").path
        let qemu = try treeQemu(ready: ready, pass: pass)
        let token = "OS3_OWNERSHIP_TOKEN=\(UUID().uuidString)"
        let project = try Fixture.fakeProject.get().root
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Fixture.binary)
        // The fake QEMU never reads the kernel: an ELF header is enough for os3ctl's check.
        p.arguments = ["boot", "--project", project, "--lane", "fake", "--kernel", try Fixture.fakeKernel(), "--qemu", qemu, "--timeout", "120", "--idle-timeout", "120"]
        var env = ProcessInfo.processInfo.environment
        env["OS3_STATE_DIR"] = Fixture.state.path
        let parts = token.split(separator: "=", maxSplits: 1)
        env[String(parts[0])] = String(parts[1])
        p.environment = env
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        if !pass {
            #expect(eventually(within: 60) { FileManager.default.fileExists(atPath: ready) }, "the fake QEMU never started its tree")
            // os3ctl, its supervisor, the script, its foreground sleep, the setsid'd and the double-forked sleep.
            #expect(eventually(within: 20) { processes(with: token).count >= 6 }, "tree: \(processes(with: token))")
        }
        return (p, token)
    }

    /// Signals os3ctl mid-boot and checks that the whole tree is gone soon after.
    private static func signalMidBoot(_ signal: Int32) throws -> Int32 {
        let (p, token) = try startBoot(pass: false)
        kill(p.processIdentifier, signal)
        p.waitUntilExit()
        #expect(eventually(within: 20) { processes(with: token).isEmpty }, "left behind: \(processes(with: token))")
        return p.terminationStatus
    }

    @Test("SIGKILL of os3ctl mid-boot: QEMU, its setsid'd and its double-forked children all go")
    func sigkill() throws {
        let status = try Self.signalMidBoot(SIGKILL)
        #expect(status == SIGKILL, "os3ctl ended by SIGKILL")
    }

    @Test("SIGTERM of os3ctl mid-boot: the boot is interrupted (exit 143) and the whole tree goes")
    func sigterm() throws {
        #expect(try Self.signalMidBoot(SIGTERM) == 128 + SIGTERM)
    }

    @Test("SIGINT of os3ctl mid-boot: the boot is interrupted (exit 130) and the whole tree goes")
    func sigint() throws {
        #expect(try Self.signalMidBoot(SIGINT) == 128 + SIGINT)
    }

    @Test("a boot that passes leaves nothing of what its QEMU started")
    func normalCompletion() throws {
        let (p, token) = try Self.startBoot(pass: true)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        #expect(Self.eventually(within: 20) { Self.processes(with: token).isEmpty }, "left behind: \(Self.processes(with: token))")
    }
}
