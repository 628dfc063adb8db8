import Foundation
import OS3Core
import OS3Runner
import Testing

/// `os3ctl runs`, `runs/latest`, `runs prune` and `[runs] keep-passes` (issue 17): the real binary on
/// real state directories, fake QEMUs for quick boots.
@Suite("Runs: listing, latest, retention", .tags(.integration))
struct RunsCommandTests {
    /// A scratch project (`sections` in its os3ctl.toml), a private state directory, and a kernel
    /// image the fake QEMUs never read.
    struct Setup {
        var project: String
        var state: String
        var kernel: String
        var runs: String { "\(state)/runs" }

        init(_ sections: String = "") throws {
            project = try ProjectCommandTests.project(sections)
            state = FileManager.default.temporaryDirectory.appendingPathComponent("os3-runs-\(UUID().uuidString)").path
            kernel = "\(project)/given.img"
            try Fixture.writeFakeKernel(kernel, "not read by the fake")
        }

        /// os3ctl with this state directory.
        func os3ctl(_ args: [String], directory: String = Fixture.root) throws -> (status: Int32, stdout: String, stderr: String) {
            try Fixture.os3ctl(args, environment: ["OS3_STATE_DIR": state], directory: directory)
        }

        /// Boots the fake lane with a fake QEMU that prints the passing console and exits `exit`.
        func boot(exit: Int, _ extra: [String] = []) throws -> (status: Int32, stdout: String, stderr: String) {
            try os3ctl(["boot", "--project", project, "--lane", "fake", "--kernel", kernel, "--qemu", try RunsCommandTests.qemu(exit: exit)] + extra)
        }

        func latest() -> String? { try? FileManager.default.destinationOfSymbolicLink(atPath: "\(runs)/latest") }

        func directories() -> Set<String> {
            Set(((try? FileManager.default.contentsOfDirectory(atPath: runs)) ?? []).filter { $0 != "latest" && !$0.hasPrefix(".") })
        }
    }

    struct Listing: Decodable {
        struct Run: Decodable {
            var name: String
            var directory: String
            var lane: String
            var state: String
            var pid: Int32?
            var record: RunRecord?
        }
        var format: String
        var stateDirectory: String
        var runs: [Run]
    }

    static func qemu(exit: Int) throws -> String {
        try Fixture.fakeQemu("printf '\(Fixture.fakePassingConsole)\\n'\nexit \(exit)")
    }

    static func listing(_ setup: Setup, _ args: [String] = []) throws -> Listing {
        let r = try setup.os3ctl(["runs", "--json"] + args)
        #expect(r.status == 0, "\(r.stderr)")
        if ContractTests.python != nil, let problem = try ContractTests.jsonProblem(r.stdout) {
            Issue.record("runs --json does not validate against the schema: \(problem)")
        }
        return try JSONDecoder().decode(Listing.self, from: Data(r.stdout.utf8))
    }

    @Test("runs lists every run newest first from its record, latest points at the newest, and --lane, --failed, --limit filter")
    func listsRuns() throws {
        let setup = try Setup()
        #expect(try setup.boot(exit: 33).status == 0)
        #expect(try setup.boot(exit: 34).status == 12)
        let last = try setup.boot(exit: 33)
        #expect(last.status == 0, "\(last.stderr)")
        let all = try Self.listing(setup)
        #expect(all.format == "os3ctl-runs" && all.stateDirectory == setup.state)
        #expect(all.runs.map(\.state) == ["pass", "wrong-exit-code", "pass"])
        #expect(all.runs.allSatisfy { $0.lane == "fake" && $0.record?.runDirectory == $0.directory && $0.pid == nil })
        // Every state is its result.json's verdict.
        for run in all.runs {
            let record = try JSONDecoder().decode(RunRecord.self, from: Data(contentsOf: URL(fileURLWithPath: "\(run.directory)/result.json")))
            #expect(record.verdict.kind.rawValue == run.state)
        }
        #expect(setup.latest() == all.runs[0].name)
        #expect(last.stdout.contains(all.runs[0].directory))

        #expect(try Self.listing(setup, ["--failed"]).runs.map(\.state) == ["wrong-exit-code"])
        #expect(try Self.listing(setup, ["--limit", "1"]).runs.map(\.name) == [all.runs[0].name])
        #expect(try Self.listing(setup, ["--lane", "other"]).runs.isEmpty)

        let table = try setup.os3ctl(["runs"])
        #expect(table.status == 0, "\(table.stderr)")
        let rows = table.stdout.split(separator: "\n").map(String.init)
        #expect(rows.count == 4 && rows[0].hasPrefix("STARTED"))
        #expect(rows[1].contains(" pass ") && rows[1].hasSuffix(all.runs[0].directory))
        #expect(rows[2].contains(" wrong-exit-code ") && rows[2].hasSuffix(all.runs[1].directory))
        let none = try setup.os3ctl(["runs", "--lane", "other"])
        #expect(none.status == 0 && none.stdout.isEmpty && none.stderr.contains("no runs of lane other"))
    }

    @Test("a boot still going is listed as running with its os3ctl's pid, one whose os3ctl died as incomplete; prune removes neither")
    func runningAndIncomplete() throws {
        let setup = try Setup()
        #expect(try setup.boot(exit: 33).status == 0)
        // A boot that prints its first line and then waits: no result.json until it ends.
        let release = "\(setup.state)/release"
        let slow = try Fixture.fakeQemu("""
        printf 'os3: boot ok entry=pvh mode=long64\\n'
        while [ ! -e \(release) ]; do sleep 0.05; done
        printf 'os3: cmdline ""\\nos3: memmap entries=1 ram=1 usable=1 above4g=0\\nos3: ALL OK\\n'
        exit 33
        """)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Fixture.binary)
        p.arguments = ["boot", "--project", setup.project, "--lane", "fake", "--kernel", setup.kernel, "--qemu", slow, "--quiet"]
        p.environment = ProcessInfo.processInfo.environment.merging(["OS3_STATE_DIR": setup.state]) { $1 }
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        defer { FileManager.default.createFile(atPath: release, contents: nil); p.waitUntilExit() }
        // Wait (bounded, not timed) for its run directory and the serial line that shows QEMU runs.
        let deadline = Date().addingTimeInterval(20)
        var running: Listing.Run?
        while running == nil && Date() < deadline {
            running = try Self.listing(setup).runs.first { $0.state == "running" }
            if running == nil { usleep(50_000) }
        }
        let run = try #require(running, "the slow boot's run directory never appeared")
        #expect(run.state == "running" && run.pid == p.processIdentifier && run.record == nil)
        #expect(!FileManager.default.fileExists(atPath: "\(run.directory)/result.json"))

        // A run directory whose os3ctl is gone (a pid that no longer exists, or a recycled one:
        // the start time differs) and one with a result.json that is not a record.
        let dead = "\(setup.runs)/20200101-000000-fake-DEAD00"
        let garbled = "\(setup.runs)/20200101-000001-fake-GARB00"
        for dir in [dead, garbled] { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        try "\(getpid()) 1\n".write(toFile: "\(dead)/os3ctl.pid", atomically: true, encoding: .utf8)
        try "{\"lane\": ".write(toFile: "\(garbled)/result.json", atomically: true, encoding: .utf8)
        let listed = try Self.listing(setup)
        #expect(listed.runs.first { $0.directory == dead }?.state == "incomplete")
        #expect(listed.runs.first { $0.directory == garbled }?.state == "incomplete")
        #expect(listed.runs.filter { $0.state == "incomplete" }.allSatisfy { $0.record == nil })

        // Keep no passes: only the pass goes... except that latest points to it, so nothing goes.
        let pruned = try setup.os3ctl(["runs", "prune", "--keep-passes", "0"])
        #expect(pruned.status == 0, "\(pruned.stderr)")
        #expect(pruned.stdout.contains("removed 0 run(s)"), "\(pruned.stdout)")
        for dir in [run.directory, dead, garbled] { #expect(FileManager.default.fileExists(atPath: dir), "\(dir) was removed") }

        // The slow boot ends: its record is written and latest moves to it.
        FileManager.default.createFile(atPath: release, contents: nil)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        #expect(setup.latest() == run.name)
        #expect(try Self.listing(setup).runs.first { $0.name == run.name }?.state == "pass")
    }

    @Test("prune keeps the newest N passes and every failure, --dry-run removes nothing, and it says what it removed")
    func prune() throws {
        let setup = try Setup()
        for exit in [33, 33, 1, 33, 33] { _ = try setup.boot(exit: exit) }
        let before = try Self.listing(setup).runs
        #expect(before.map(\.state) == ["pass", "pass", "wrong-exit-code", "pass", "pass"])

        let dry = try setup.os3ctl(["runs", "prune", "--keep-passes", "2", "--dry-run"])
        #expect(dry.status == 0, "\(dry.stderr)")
        #expect(dry.stdout.contains("would remove \(before[3].directory)") && dry.stdout.contains("would remove \(before[4].directory)"))
        #expect(setup.directories().count == 5)

        let real = try setup.os3ctl(["runs", "prune", "--keep-passes", "2"])
        #expect(real.status == 0, "\(real.stderr)")
        #expect(real.stdout.contains("removed \(before[3].directory)") && real.stdout.contains("removed 2 run(s)"))
        #expect(setup.directories() == Set(before.prefix(3).map(\.name)))
        #expect(setup.latest() == before[0].name)

        // Without --keep-passes the project's [runs] says; a project without it is told how.
        let unsaid = try setup.os3ctl(["runs", "prune", "--project", setup.project])
        #expect(unsaid.status == 2)
        #expect(unsaid.stderr.contains("keep-passes"), "\(unsaid.stderr)")
        #expect(setup.directories().count == 3)
        let bad = try setup.os3ctl(["runs", "prune", "--keep-passes", "-1"])
        #expect(bad.status == 64, "\(bad.stderr)")
    }

    @Test("[runs] keep-passes in os3ctl.toml prunes after each gate; failures stay; a bad value is refused at its line")
    func gateRetention() throws {
        let setup = try Setup("[runs]\nkeep-passes = 1\n")
        for exit in [33, 1, 33, 33] {
            _ = try setup.os3ctl(["gate", "--project", setup.project, "--kernel", setup.kernel, "--qemu", try Self.qemu(exit: exit)])
        }
        let left = try Self.listing(setup).runs
        #expect(left.map(\.state) == ["pass", "wrong-exit-code"])
        #expect(setup.latest() == left[0].name)

        let bad = try Setup("[runs]\n\nkeep-passes = \"20\"\n")
        let refused = try bad.os3ctl(["gate", "--project", bad.project, "--kernel", bad.kernel, "--qemu", try Self.qemu(exit: 33)])
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("os3ctl.toml:3: error: keep-passes must be a whole number"), "\(refused.stderr)")
        #expect(bad.directories().isEmpty, "booted despite a bad os3ctl.toml")
    }

    @Test("--json-file writes what --json prints (boot, gate); an unwritable path exits 5 before any boot")
    func jsonFile() throws {
        let setup = try Setup()
        let file = "\(setup.state)-boot.json"
        let boot = try setup.boot(exit: 33, ["--json", "--json-file", file])
        #expect(boot.status == 0, "\(boot.stderr)")
        #expect(try String(contentsOfFile: file, encoding: .utf8) == boot.stdout)

        let gateFile = "\(setup.state)-gate.json"
        let gate = try setup.os3ctl(["gate", "--project", setup.project, "--kernel", setup.kernel, "--qemu", try Self.qemu(exit: 34), "--json-file", gateFile])
        #expect(gate.status == 12, "\(gate.stderr)")
        #expect(gate.stdout.contains("gate: FAIL"))
        let written = try String(contentsOfFile: gateFile, encoding: .utf8)
        struct Gate: Decodable { var format: String; var records: [RunRecord] }
        let document = try JSONDecoder().decode(Gate.self, from: Data(written.utf8))
        #expect(document.format == "os3ctl-gate" && document.records.map(\.verdict.kind) == [.wrongExitCode])
        if ContractTests.python != nil { #expect(try ContractTests.jsonProblem(written) == nil) }

        let before = setup.directories()
        for args in [["boot", "--project", setup.project, "--lane", "fake"], ["gate", "--project", setup.project], ["stress", "--project", setup.project, "--lane", "fake", "--runs", "1"]] {
            let r = try setup.os3ctl(args + ["--kernel", setup.kernel, "--qemu", try Self.qemu(exit: 33), "--json-file", "/nonexistent-dir/out.json"])
            #expect(r.status == 5, "\(args[0]): \(r.stderr)")
            #expect(r.stderr.contains("--json-file /nonexistent-dir/out.json: the directory /nonexistent-dir does not exist"), "\(r.stderr)")
        }
        #expect(setup.directories() == before, "a boot ran despite an unwritable --json-file")
    }

    @Test("gate shows the host tests' count when they pass, not their output")
    func hostTestCount() throws {
        let setup = try Setup("""
        [test]
        command = ["/bin/sh", "-c", "echo building-test-$((40+2)); echo 'Executed 0 tests, with 0 failures (0 unexpected) in 0.0 (0.0) seconds'; echo 'Test run with 62 tests in 10 suites passed after 0.031 seconds.'"]

        """)
        // Without --kernel the gate runs [test]; the project has no [build] and no image, so it
        // stops after the tests (the lane has nothing to boot) — the count is printed before that.
        let r = try setup.os3ctl(["gate", "--project", setup.project, "--qemu", try Self.qemu(exit: 33)])
        #expect(r.stderr.contains("gate: host tests passed: 62 tests in "), "\(r.stderr)")
        #expect(!r.stderr.contains("building-test-42"))  // their output, not the command line os3ctl echoes
        let unknown = try Setup("[test]\ncommand = [\"/bin/sh\", \"-c\", \"echo all-fine-$((40+2))\"]\n")
        let u = try unknown.os3ctl(["gate", "--project", unknown.project, "--qemu", try Self.qemu(exit: 33)])
        #expect(u.stderr.contains("gate: host tests passed (their output gives no test count os3ctl can read"), "\(u.stderr)")
        #expect(!u.stderr.contains("all-fine-42"))
    }
}
