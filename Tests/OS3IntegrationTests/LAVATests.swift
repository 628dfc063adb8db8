import Foundation
import Testing
import OS3Core
import OS3Runner

extension Tag {
    /// Needs LAVA: `lava-run` (fast) or the local lab of scripts/lava-lab (`.ci/test` starts it).
    @Tag static var lava: Self
}

/// LAVA as os3ctl uses it (docs/LAVA.md): the rendered job checked by `lava-run` alone, and boots on
/// the local lab judged by os3ctl's verdicts. Outside CI a missing LAVA skips these saying why; in
/// CI (CI=true) it fails them: .ci/test installs LAVA and starts the lab.
enum LAVAFixture {
    static let inCI = ProcessInfo.processInfo.environment["CI"] == "true"
    static let templates = "/usr/share/lava-server/device-types/qemu.jinja2"

    /// nil when `lava-run` and the qemu device-type template are installed.
    static let lavaRunProblem: String? = {
        if resolveExecutable("lava-run") == nil { return "lava-run is not installed (apt-get install lava-dispatcher lava-server; .ci/setup --tests does)" }
        if !FileManager.default.fileExists(atPath: templates) { return "\(templates) is missing (package lava-server)" }
        return nil
    }()

    static var labDirectory: String { ProcessInfo.processInfo.environment["LAVA_LAB_DIR"] ?? "/var/tmp/os3ctl-lava-lab" }

    /// The local lab's URL and token, or why it cannot be used.
    static let lab: Result<(url: String, token: String), LabMissing> = {
        guard let env = try? String(contentsOfFile: "\(labDirectory)/env", encoding: .utf8),
              let token = try? String(contentsOfFile: "\(labDirectory)/token", encoding: .utf8) else {
            return .failure(LabMissing(why: "no local LAVA lab started (\(labDirectory)/env; run: sudo scripts/lava-lab start)"))
        }
        let url = env.split(separator: "\n").first { $0.hasPrefix("LAVA_URL=") }.map { String($0.dropFirst("LAVA_URL=".count)) } ?? ""
        let backend = LAVABackend(url: url, token: token)
        if let problem = backend.labProblem() { return .failure(LabMissing(why: "the local LAVA lab at \(url) is not usable: \(problem)")) }
        return .success((url, token))
    }()

    struct LabMissing: Error { var why: String }

    static var labProblem: String? {
        if case .failure(let e) = lab { return e.why }
        return nil
    }
}

@Suite("LAVA", .tags(.integration, .lava), .serialized)
struct LAVAIntegrationTests {
    /// The tiny lane (TCG: runs with or without KVM) from a scratch copy of the project.
    static func tinyLane(project: String) throws -> Lane { try Project(root: project).loadLane("tiny") }

    @Test("the job rendered from the tiny lane runs under lava-run alone and its log passes os3ctl's verdict",
          .enabled(if: LAVAFixture.lavaRunProblem == nil || LAVAFixture.inCI, "\(LAVAFixture.lavaRunProblem ?? "")"))
    func lavaRunAlone() throws {
        try #require(LAVAFixture.lavaRunProblem == nil, "\(LAVAFixture.lavaRunProblem ?? "")")
        let project = try Fixture.scratchProject()
        let lane = try Self.tinyLane(project: project)
        let kernel = try Fixture.kernelImage()
        let invocation = QemuInvocation(lane: lane, kernel: kernel)
        let yaml = try LAVAJob(invocation: invocation, kernelURL: "file://\(kernel)", jobName: "os3ctl tiny").render()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("os3-lava-run-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: "\(dir)/out", withIntermediateDirectories: true)
        try yaml.write(toFile: "\(dir)/job.yaml", atomically: true, encoding: .utf8)
        // The device as the server would render it from a dictionary and the job's context, with the
        // lab's QEMU wrapper in its simplest form.
        try "#!/bin/sh\necho os3ctl-qemu-start\nqemu-system-x86_64 \"$@\"\nrc=$?\necho\necho os3ctl-qemu-exit=$rc\n"
            .write(toFile: "\(dir)/qemu-wrapper", atomically: true, encoding: .utf8)
        chmod("\(dir)/qemu-wrapper", 0o755)
        try """
        import sys, yaml, jinja2
        job = yaml.safe_load(open(sys.argv[1]))
        env = jinja2.Environment(loader=jinja2.FileSystemLoader(["/usr/share/lava-server/device-types"]), autoescape=False, trim_blocks=True)
        text = env.from_string("{% extends 'qemu.jinja2' %}\\n{% set no_kvm = True %}\\n").render(**job["context"])
        assert "            qemu-system-x86_64\\n" in text
        print(text.replace("            qemu-system-x86_64\\n", "            %s\\n" % sys.argv[2]))
        """.write(toFile: "\(dir)/render.py", atomically: true, encoding: .utf8)
        let device = try Fixture.run("/usr/bin/python3", ["\(dir)/render.py", "\(dir)/job.yaml", "\(dir)/qemu-wrapper"], environment: ProcessInfo.processInfo.environment)
        #expect(device.status == 0, "\(device.stderr)")
        try device.stdout.write(toFile: "\(dir)/device.yaml", atomically: true, encoding: .utf8)
        let run = try Fixture.run(resolveExecutable("lava-run")!, ["--job-id", "1", "--output-dir", "\(dir)/out", "--device", "\(dir)/device.yaml", "\(dir)/job.yaml"],
                                  environment: ProcessInfo.processInfo.environment)
        #expect(run.status == 0, "\(run.stderr.suffix(2000))")
        let console = LAVALog(raw: run.stderr).console
        #expect(console.end == .exited(33))
        let markers = try Project(root: project).markers(for: lane)
        let outcome = LAVAJudge.judge(console, lane: lane, markers: markers)
        #expect(outcome.verdict.kind == .pass, "\(outcome.verdict.detail)")
        #expect(outcome.verdict.evidence == .deviceExitLine)
        // LAVA 2023.01 escapes `"`: the markers that quote (cmdline, ring3-write) are seen once unescaped.
        #expect(outcome.observation.hits["cmdline"] != nil && outcome.observation.hits["ring3-write"] != nil)
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var append: String
        var extraMarker: Bool = false
        var idle: Double? = nil
        var total: Double? = nil
        var expected: VerdictKind
        var evidence: VerdictEvidence
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "a passing lane passes on the device's exit line", append: "", expected: .pass, evidence: .deviceExitLine),
        Case(name: "a panic is a forbidden marker (LAVA: an infrastructure error)", append: "os3.panic=1", expected: .forbiddenMarker, evidence: .console),
        Case(name: "a missing marker fails the boot (LAVA: a pass)", append: "", extraMarker: true, expected: .missingMarkers, evidence: .deviceExitLine),
        Case(name: "a silent hang is a hang (LAVA: a pass)", append: "os3.hang=1", idle: 2, total: 6, expected: .hang, evidence: .console),
        Case(name: "a wrong exit code is one (LAVA: an infrastructure error)", append: "os3.exit=7", expected: .wrongExitCode, evidence: .deviceExitLine),
    ]

    @Test("boots on the local LAVA lab get os3ctl's verdicts, not LAVA's",
          .enabled(if: LAVAFixture.labProblem == nil || LAVAFixture.inCI, "\(LAVAFixture.labProblem ?? "")"), arguments: cases)
    func labVerdicts(_ c: Case) throws {
        try #require(LAVAFixture.labProblem == nil, "\(LAVAFixture.labProblem ?? "")")
        let (url, token) = try LAVAFixture.lab.get()
        let project = try Fixture.scratchProject()
        if c.extraMarker {
            try "[[marker]]\nid = \"never\"\ntext = \"os3: this line is never printed\"\n".write(toFile: "\(project)/markers/never.toml", atomically: true, encoding: .utf8)
        }
        var lane = try Self.tinyLane(project: project)
        if c.extraMarker { lane.markerFiles.append("never") }
        if let idle = c.idle { lane.idleTimeout = idle }
        if let total = c.total { lane.totalTimeout = total }
        let markers = try Project(root: project).markers(for: lane)
        let backend = LAVABackend(url: url, token: token)
        #expect(backend.skipReason(for: lane) == nil)
        let runner = LaneRunner(project: try Project(root: project), state: Fixture.state, kernel: try Fixture.kernelImage(),
                                extraAppend: c.append, backend: backend)
        let r = try runner.run(lane, markers: markers)
        #expect(r.verdict.kind == c.expected, "\(r.verdict.detail)")
        #expect(r.verdict.evidence == c.evidence, "\(r.verdict.detail)")
        if c.extraMarker { #expect(r.verdict.missing == ["never"]) }
        // The run directory keeps what the verdict rests on.
        for file in ["job.yaml", "lava-job.txt", "lava-log.yaml", "serial.log", "result.json"] {
            #expect(FileManager.default.fileExists(atPath: "\(r.runDirectory)/\(file)"), "\(file)")
        }
        #expect(r.backend?.hasPrefix("lava ") == true)
        #expect(r.domain?.contains("/scheduler/job/") == true)
    }

    @Test("the kvm lane's console input is typed by LAVA once the kernel asks for it, and the lane passes",
          .tags(.kvm), .enabled(if: Fixture.kvmUsable, "\(Fixture.kvmProblem ?? "")"),
          .enabled(if: LAVAFixture.labProblem == nil || LAVAFixture.inCI, "\(LAVAFixture.labProblem ?? "")"))
    func consoleInput() throws {
        try #require(LAVAFixture.labProblem == nil, "\(LAVAFixture.labProblem ?? "")")
        let (url, token) = try LAVAFixture.lab.get()
        let project = try Fixture.scratchProject()
        let lane = try Project(root: project).loadLane("kvm")
        #expect(lane.consoleInput != nil)
        let runner = LaneRunner(project: try Project(root: project), state: Fixture.state, kernel: try Fixture.kernelImage(),
                                backend: LAVABackend(url: url, token: token))
        let r = try runner.run(lane, markers: try Project(root: project).markers(for: lane))
        #expect(r.verdict.kind == .pass, "\(r.verdict.detail)")
        #expect(r.markers.contains { $0.id == "rx" })
        let job = try String(contentsOfFile: "\(r.runDirectory)/job.yaml", encoding: .utf8)
        #expect(job.contains("interactive:"))
    }

    @Test("a SIGKILLed os3ctl leaves no job running on the lab: the job's watcher cancels it",
          .enabled(if: LAVAFixture.labProblem == nil || LAVAFixture.inCI, "\(LAVAFixture.labProblem ?? "")"))
    func killedOs3ctlCancelsItsJob() throws {
        try #require(LAVAFixture.labProblem == nil, "\(LAVAFixture.labProblem ?? "")")
        let (url, token) = try LAVAFixture.lab.get()
        let project = try Fixture.scratchProject()
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("os3-lava-kill-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        let tokenFile = "\(state)/token"
        try token.write(toFile: tokenFile, atomically: true, encoding: .utf8)
        // A guest that hangs for two minutes: only a cancel ends its job sooner.
        let os3ctl = Process()
        os3ctl.executableURL = URL(fileURLWithPath: Fixture.binary)
        os3ctl.arguments = ["boot", "--project", project, "--lane", "tiny", "--backend", "lava", "--connect", url, "--token-file", tokenFile,
                            "--kernel", try Fixture.kernelImage(), "--append", "os3.hang=1", "--timeout", "120", "--idle-timeout", "120", "--quiet"]
        os3ctl.environment = ProcessInfo.processInfo.environment.merging(["OS3_STATE_DIR": state]) { $1 }
        os3ctl.standardOutput = FileHandle.nullDevice
        os3ctl.standardError = FileHandle.nullDevice
        try os3ctl.run()
        var jobID: String?
        let submitted = Date().addingTimeInterval(120)
        while jobID == nil && os3ctl.isRunning && Date() < submitted {
            let runs = (try? FileManager.default.contentsOfDirectory(atPath: "\(state)/runs")) ?? []
            jobID = runs.lazy.compactMap { try? String(contentsOfFile: "\(state)/runs/\($0)/lava-job.txt", encoding: .utf8) }
                .compactMap { $0.split(separator: "\n").first { $0.hasPrefix("id: ") }.map { String($0.dropFirst(4)) } }.first
            if jobID == nil { usleep(100_000) }
        }
        let id = try #require(jobID, "os3ctl submitted no job")
        kill(os3ctl.processIdentifier, SIGKILL)
        os3ctl.waitUntilExit()
        let backend = LAVABackend(url: url, token: token)
        var status = backend.jobStatus(id)
        let ended = Date().addingTimeInterval(90)
        while status?.state != "Finished" && Date() < ended {
            usleep(500_000)
            status = backend.jobStatus(id)
        }
        #expect(status?.state == "Finished", "job \(id): \(String(describing: status))")
        #expect(status?.health == "Canceled", "job \(id): \(String(describing: status))")
    }

    @Test("a lane needing tags or a device type the lab lacks is skipped loudly, naming what is missing",
          .enabled(if: LAVAFixture.labProblem == nil || LAVAFixture.inCI, "\(LAVAFixture.labProblem ?? "")"))
    func skipsWhatTheLabLacks() throws {
        try #require(LAVAFixture.labProblem == nil, "\(LAVAFixture.labProblem ?? "")")
        let (url, token) = try LAVAFixture.lab.get()
        var lane = try Self.tinyLane(project: try Fixture.scratchProject())
        lane.lava.tags = ["no-such-tag"]
        let backend = LAVABackend(url: url, token: token)
        #expect(backend.skipReason(for: lane)?.contains("no-such-tag") == true)
        lane.lava = .init(deviceType: "no-such-type", tags: [])
        #expect(backend.skipReason(for: lane)?.contains("no device of type no-such-type") == true)
    }
}
