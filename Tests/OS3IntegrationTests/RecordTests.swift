import Foundation
import Testing
import OS3Core
import OS3Runner

/// Issue 14, "a gate you can trust": no false pass at the end of a boot, and no record lost.
/// Fake QEMUs (shell scripts) play the adversary; each test failed before its fix.
@Suite("Records: the end of a boot, full disks, lost run directories, gate and stress outputs", .tags(.integration))
struct RecordTests {
    /// A scratch project whose lane `rec` requires two lines and forbids a regex, and a kernel
    /// image the fake QEMUs never read.
    static let project: Result<(project: Project, kernel: String), Error> = Result {
        let dir = try Fixture.scratchProject()
        try """
        description = "for the record tests' fake QEMUs"
        accelerator = "tcg"
        machine = "microvm"
        memory = "32M"
        cpus = 1
        cpu = "qemu64"
        markers = ["rec"]
        [timeouts]
        total = 30
        idle = 10
        """.write(toFile: "\(dir)/lanes/rec.toml", atomically: true, encoding: .utf8)
        try """
        description = "two milestones and a forbidden regex"
        [[marker]]
        id = "boot"
        text = "os3: boot ok"
        [[marker]]
        id = "done"
        text = "os3: ALL OK"
        [[forbidden]]
        id = "oops"
        regex = 'os3: (PANIC|oops) .*'
        """.write(toFile: "\(dir)/markers/rec.toml", atomically: true, encoding: .utf8)
        let kernel = "\(dir)/kernel/fake.elf"
        try Fixture.writeFakeKernel(kernel)
        return (Project(root: dir), kernel)
    }

    static let passingConsole = #"os3: boot ok\nos3: ALL OK\n"#

    /// Shell lines that set $dir to the fake QEMU's run directory (its stdout is serial.log there)
    /// and wait until os3ctl has written its files into it.
    static let findRunDirectory = """
    dir=$(dirname "$(readlink /proc/$$/fd/1)")
    while [ ! -e "$dir/command.sh" ]; do sleep 0.01; done
    """

    static func freshState() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("os3-records-\(UUID().uuidString)").path
    }

    static func boot(qemu: String, state: String = freshState()) throws -> RunRecord {
        let (project, kernel) = try project.get()
        let lane = try project.loadLane("rec")
        let runner = LaneRunner(project: project, state: StateDirectory(path: state), kernel: kernel, qemu: qemu)
        return try runner.run(lane, markers: try project.markers(for: lane))
    }

    /// os3ctl on the scratch project, with a fresh state directory unless one is given.
    static func os3ctl(_ args: [String], state: String = freshState()) throws -> (status: Int32, stdout: String, stderr: String) {
        let (project, kernel) = try project.get()
        let command = args.first.map { [$0] } ?? []
        var rest = Array(args.dropFirst())
        if command != ["scan"] { rest += ["--kernel", kernel] }
        return try Fixture.os3ctl(command + ["--project", project.root] + rest, environment: ["OS3_STATE_DIR": state])
    }

    /// Runs a program; returns exit status, stdout, stderr.
    static func run(_ executable: String, _ arguments: [String], environment: [String: String]) throws -> (status: Int32, stdout: String, stderr: String) {
        try Fixture.run(executable, arguments, environment: environment)
    }

    // MARK: 1. A forbidden marker in the last, unterminated line

    @Test("a forbidden regex in the console's last line without a newline fails a boot that exited 33 with every marker, as scan of its log does")
    func forbiddenLastLine() throws {
        let qemu = try Fixture.fakeQemu("""
        printf '\(Self.passingConsole)os3: oops the last words'
        exit 33
        """)
        let r = try Self.boot(qemu: qemu)
        #expect(r.end == .exited(33))
        #expect(r.seenCount == r.requiredCount, "every required marker was printed")
        #expect(r.verdict.kind == .forbiddenMarker, "\(r.verdict.detail)")
        #expect(r.verdict.forbiddenLine == "os3: oops the last words")
        // The command line agrees, and so does scan of the same log.
        let boot = try Self.os3ctl(["boot", "--lane", "rec", "--qemu", qemu])
        #expect(boot.status == 11, "\(boot.stdout)\(boot.stderr)")
        #expect(boot.stdout.hasPrefix("FORBIDDEN-MARKER rec"))
        #expect(boot.stderr.contains("FORBIDDEN marker oops"), "the progress shows the event finish() found")
        let scan = try Self.os3ctl(["scan", "--lane", "rec", r.serialLog])
        #expect(scan.status == 11, "\(scan.stdout)")
        #expect(scan.stdout.contains("FORBIDDEN-MARKER"))
    }

    @Test("the end of every backend's boot (BootEnd.observe) passes on a forbidden last line's event and decides by it")
    func sharedEndOfBoot() throws {
        let (project, _) = try Self.project.get()
        let markers = try project.markers(for: try project.loadLane("rec"))
        var matcher = MarkerMatcher(markers)
        let console = Array("os3: boot ok\nos3: ALL OK\nos3: PANIC at the end".utf8)
        for event in console.withUnsafeBytes({ matcher.feed($0, at: 0.1) }) {
            if case .forbidden = event { Issue.record("the forbidden line is not complete yet: \(event)") }
        }
        let seen = Events()
        let o = BootEnd.observe(&matcher, at: 0.2, end: .exited(33), stopReason: nil, console: -1, runDirectory: "/nonexistent",
                                onEvent: { seen.add($0) })
        #expect(seen.forbidden == ["oops"])
        #expect(o.forbidden?.text == "os3: PANIC at the end")
        let verdict = Verdict.judge(o, markers: markers, successExitCode: 33, idleTimeout: 10, totalTimeout: 30)
        #expect(verdict.kind == .forbiddenMarker)
    }

    // MARK: 2. A full disk

    /// nil when this process may mount a tmpfs in a private mount namespace, else why not.
    static let tmpfsProblem: String? = {
        guard geteuid() == 0 else { return "mounting a small tmpfs needs root" }
        guard let unshare = resolveExecutable("unshare") else { return "unshare (util-linux) is missing" }
        let dir = freshState()
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: unshare)
        p.arguments = ["--mount", "--propagation", "private", "mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", dir]
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return "cannot run unshare" }
        p.waitUntilExit()
        return p.terminationStatus == 0 ? nil : "mount -t tmpfs is not permitted here (unshare --mount exited \(p.terminationStatus))"
    }()

    @Test("a state directory on a full disk: the verdict is still printed, the failed result.json write is loud and exits 5, and no empty result.json is left",
          .enabled(if: tmpfsProblem == nil, "skipped: \(tmpfsProblem ?? "")"))
    func fullDisk() throws {
        let state = Self.freshState()
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        // The fake fills the disk once os3ctl's own files are written, then exits as a passing guest.
        let qemu = try Fixture.fakeQemu("""
        \(Self.findRunDirectory)
        printf '\(Self.passingConsole)'
        head -c 1000000 /dev/zero > "$dir/../../fill" 2>/dev/null
        exit 33
        """)
        let (project, kernel) = try Self.project.get()
        // os3ctl runs in its own mount namespace with a 64 KiB tmpfs as its state directory.
        // After it: any empty result.json or leftover temporary file is listed on stderr.
        let script = #"""
        mount -t tmpfs -o size=64k tmpfs "$0" || exit 99
        "$@"; status=$?
        find "$0/runs" -name result.json -size 0 -printf 'EMPTY %p\n' >&2
        find "$0/runs" -name '*.tmp' -printf 'LEFTOVER %p\n' >&2
        exit $status
        """#
        let r = try Self.run(resolveExecutable("unshare")!,
                             ["--mount", "--propagation", "private", "sh", "-c", script, state, Fixture.binary,
                              "boot", "--project", project.root, "--kernel", kernel, "--lane", "rec", "--qemu", qemu],
                             environment: ["OS3_STATE_DIR": state])
        #expect(r.status == 5, "exit \(r.status): \(r.stdout)\(r.stderr)")
        #expect(r.stdout.hasPrefix("PASS rec"), "the verdict reached is printed: \(r.stdout)")
        #expect(r.stderr.contains("result.json"))
        #expect(r.stderr.contains("No space left on device"), "\(r.stderr)")
        #expect(r.stderr.contains("free space"), "the fix is named")
        #expect(!r.stderr.contains("EMPTY") && !r.stderr.contains("LEFTOVER"), "\(r.stderr)")
    }

    @Test("writeAtomically replaces a file whole, leaves no temporary file, and names the path when the directory is gone")
    func atomicWrite() throws {
        let dir = Self.freshState()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try writeAtomically("\(dir)/r.json", "old\n")
        try writeAtomically("\(dir)/r.json", "new\n")
        #expect(try String(contentsOfFile: "\(dir)/r.json", encoding: .utf8) == "new\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["r.json"])
        #expect(throws: OS3Error.self) { try writeAtomically("\(dir)/missing/r.json", "x") }
        do {
            try writeAtomically("\(dir)/missing/r.json", "x")
        } catch let e as OS3Error {
            #expect(e.code == .io)
            #expect(e.message.contains("\(dir)/missing/r.json"))
            #expect(e.fix?.contains("does not exist") == true)
        }
    }

    // MARK: 4. The run directory deleted during the boot

    @Test("a run directory deleted while QEMU runs is an infrastructure error (the evidence is gone), never a pass")
    func runDirectoryDeleted() throws {
        let qemu = try Fixture.fakeQemu("""
        \(Self.findRunDirectory)
        printf '\(Self.passingConsole)'
        rm -rf "$dir"
        exit 33
        """)
        let r = try Self.boot(qemu: qemu)
        #expect(r.end == .exited(33))
        #expect(r.verdict.kind == .infraError, "\(r.verdict.detail)")
        #expect(r.verdict.evidence == .evidenceLost)
        #expect(r.verdict.detail.contains("disappeared"), "\(r.verdict.detail)")
        #expect(!FileManager.default.fileExists(atPath: r.runDirectory), "os3ctl did not recreate it")
        let cli = try Self.os3ctl(["boot", "--lane", "rec", "--qemu", qemu])
        #expect(cli.status == 20, "\(cli.stdout)\(cli.stderr)")
        #expect(cli.stdout.hasPrefix("INFRA-ERROR rec"))
        #expect(cli.stdout.contains("(no longer exists)"), "the path printed says it is gone: \(cli.stdout)")
    }

    // MARK: 3. gate and stress: one lane's error, and output paths

    @Test("gate: a lane os3ctl cannot boot (its run directory cannot be made) is that lane's infra-error row; the other lane's verdict, the table and the JUnit file stand")
    func gateLaneError() throws {
        let (project, _) = try Self.project.get()
        // A lane name so long its run directory's name exceeds NAME_MAX: mkdtemp fails for it alone.
        let long = String(repeating: "x", count: 240)
        try FileManager.default.copyItem(atPath: "\(project.root)/lanes/rec.toml", toPath: "\(project.root)/lanes/\(long).toml")
        defer { try? FileManager.default.removeItem(atPath: "\(project.root)/lanes/\(long).toml") }
        let qemu = try Fixture.fakeQemu("printf '\(Self.passingConsole)'\nexit 33")
        let junit = "\(Self.freshState())-junit.xml"
        let r = try Self.os3ctl(["gate", "--lane", "rec", "--lane", long, "--qemu", qemu, "--junit", junit])
        #expect(r.status == 20, "exit \(r.status): \(r.stdout)\(r.stderr)")
        let rows = r.stdout.split(separator: "\n")
        #expect(rows.contains { $0.hasPrefix("rec ") && $0.contains(" pass ") }, "\(r.stdout)")
        #expect(rows.contains { $0.hasPrefix(long) && $0.contains("infra-error") && $0.contains("could not boot this lane") }, "\(r.stdout)")
        let xml = try String(contentsOfFile: junit, encoding: .utf8)
        #expect(xml.contains("<testsuite name=\"os3ctl-gate.rec\""))
        #expect(xml.contains("<error type=\"infra-error\""))
    }

    @Test("gate and stress check every output path before any boot: a missing directory is a clear exit 5 naming the path and the fix",
          arguments: [["gate", "--lane", "rec", "--junit"], ["stress", "--lane", "rec", "--runs", "1", "--junit"],
                      ["stress", "--lane", "rec", "--runs", "1", "--report"]])
    func outputPathsCheckedFirst(_ command: [String]) throws {
        let ran = "\(Self.freshState())-ran"
        let qemu = try Fixture.fakeQemu("touch '\(ran)'\nprintf '\(Self.passingConsole)'\nexit 33")
        let missing = "\(Self.freshState())-missing/out.xml"
        let state = Self.freshState()
        let r = try Self.os3ctl(command + [missing, "--qemu", qemu], state: state)
        #expect(r.status == 5, "exit \(r.status): \(r.stdout)\(r.stderr)")
        #expect(r.stderr.contains(missing), "\(r.stderr)")
        #expect(r.stderr.contains("does not exist") && r.stderr.contains("mkdir -p"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: ran), "no QEMU was started")
        #expect(!FileManager.default.fileExists(atPath: "\(state)/runs"), "no boot was made")
    }

    @Test("gate: a JUnit file that cannot be written after the boots still prints every verdict and the table, and exits 5 saying why")
    func gateReportLostAfterBoots() throws {
        let out = Self.freshState()
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        // The directory passes the check before the boots, then the guest takes it away.
        let qemu = try Fixture.fakeQemu("rm -rf '\(out)'\nprintf '\(Self.passingConsole)'\nexit 33")
        let r = try Self.os3ctl(["gate", "--lane", "rec", "--qemu", qemu, "--junit", "\(out)/junit.xml"])
        #expect(r.status == 5, "exit \(r.status): \(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("rec ") && r.stdout.contains(" pass "), "\(r.stdout)")
        #expect(r.stdout.contains("gate: PASS"), "the verdict reached stands: \(r.stdout)")
        #expect(r.stderr.contains("\(out)/junit.xml") && r.stderr.contains("ERROR"), "\(r.stderr)")
    }
}

/// Events a boot reported (collected from its callback).
private final class Events: @unchecked Sendable {
    private let lock = NSLock()
    private var ids: [String] = []
    func add(_ event: BootEvent) {
        lock.lock(); defer { lock.unlock() }
        if case .forbidden(let hit) = event { ids.append(hit.id) }
    }
    var forbidden: [String] { lock.lock(); defer { lock.unlock() }; return ids }

    private var pending: String?
    /// A path to act on once (the run directory to delete).
    func note(_ path: String) { lock.lock(); defer { lock.unlock() }; pending = path }
    func take() -> String? { lock.lock(); defer { lock.unlock() }; defer { pending = nil }; return pending }
}

extension LibvirtTests {
    @Suite("records through the embedded driver")
    struct Records {
        @Test("a run directory deleted while the guest runs is an infrastructure error through libvirt too, never a pass")
        func runDirectoryDeleted() throws {
            let (lane, markers) = try Fixture.lane("tiny")
            let runner = LaneRunner(project: Fixture.project, state: Fixture.state, kernel: try Fixture.kernelImage(),
                                    backend: LibvirtFixture.embedded)
            let deleted = Events()
            // Once the first marker is seen the console copy is open: take the run directory away.
            let r = try runner.run(lane, markers: markers) { event in
                if case .started(_, let dir, _) = event { deleted.note(dir) }
                if case .marker = event, let dir = deleted.take() { try? FileManager.default.removeItem(atPath: dir) }
            }
            #expect(r.verdict.kind == .infraError, "\(r.verdict.detail)")
            #expect(r.verdict.evidence == .evidenceLost)
            #expect(r.verdict.detail.contains("disappeared"), "\(r.verdict.detail)")
            #expect(try LibvirtFixture.noDomainsLeft(LibvirtFixture.embedded), "no domain outlives its boot")
        }
    }
}
