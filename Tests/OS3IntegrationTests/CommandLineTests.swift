import Foundation
import Testing
import OS3Core
import OS3Runner

@Suite("The os3ctl command line", .tags(.integration), .serialized)
struct CommandLineTests {
    @Test("boot --json prints one record and exits 0 on a pass")
    func bootJSON() throws {
        _ = try Fixture.kernelImage()
        let (status, out, _) = try Fixture.os3ctl(["boot", "--lane", "tiny", "--json"])
        #expect(status == 0)
        let record = try JSONDecoder().decode(RunRecord.self, from: Data(out.utf8))
        #expect(record.verdict.kind == .pass)
        #expect(FileManager.default.fileExists(atPath: record.serialLog))
    }

    @Test("boot exits with the verdict's own code: 11 for a panic, 16 for a triple fault (guest reset), 12 for another exit code")
    func exitCodes() throws {
        #expect(try Fixture.os3ctl(["boot", "--lane", "tiny", "--append", "os3.panic=1"]).status == 11)
        // 16, or 12 when a loaded host let the reset beat QEMU's QMP handshake (VERDICTS.md, "A triple fault").
        #expect([16, 12].contains(try Fixture.os3ctl(["boot", "--lane", "tiny", "--append", "os3.triplefault=1"]).status))
        #expect(try Fixture.os3ctl(["boot", "--lane", "tiny", "--append", "os3.exit=7"]).status == 12)
    }

    @Test("boot --kernel boots an image os3ctl did not build")
    func foreignKernel() throws {
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("foreign-\(UUID().uuidString).elf").path
        try FileManager.default.copyItem(atPath: try Fixture.kernelImage(), toPath: copy)
        let (status, out, _) = try Fixture.os3ctl(["boot", "--lane", "tiny", "--kernel", copy, "--json"])
        #expect(status == 0)
        #expect(try JSONDecoder().decode(RunRecord.self, from: Data(out.utf8)).kernel == copy)
    }

    @Test("a malformed lane file is rejected with file, line and fix, exit 2")
    func malformedLane() throws {
        let project = try Fixture.scratchProject()
        let file = "\(project)/lanes/tiny.toml"
        let text = try String(contentsOfFile: file, encoding: .utf8).replacingOccurrences(of: "cpus = 1", with: "cpus = \"one\"")
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        let line = text.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.hasPrefix("cpus") }! + 1
        let (status, _, err) = try Fixture.os3ctl(["lanes", "--project", project])
        #expect(status == 2)
        #expect(err.contains("lanes/tiny.toml:\(line): error: 'cpus' must be an integer"))
        #expect(err.contains("fix:"))
    }

    @Test("a marker file with a bad regex is rejected before anything boots, exit 2")
    func badRegex() throws {
        let project = try Fixture.scratchProject()
        try "[[marker]]\nid = \"x\"\nregex = 'os3: (unclosed'\n".write(toFile: "\(project)/markers/boot.toml", atomically: true, encoding: .utf8)
        let (status, _, err) = try Fixture.os3ctl(["gate", "--project", project, "--skip-host-tests", "--kernel", try Fixture.kernelImage()])
        #expect(status == 2)
        #expect(err.contains("markers/boot.toml:3: error: marker 'x' has an invalid regular expression"))
    }

    @Test("gate boots every lane, prints the table, writes JUnit, and exits 0 only when all passed")
    func gate() throws {
        let junit = FileManager.default.temporaryDirectory.appendingPathComponent("junit-\(UUID().uuidString).xml").path
        let lanes = try Fixture.project.laneNames()
        let (status, out, err) = try Fixture.os3ctl(["gate", "--skip-host-tests", "--junit", junit])
        let expected: Int32 = Fixture.kvmUsable ? 0 : 30
        #expect(status == expected, "\(err)")
        for lane in lanes { #expect(out.contains("\n\(lane) "), "table lacks \(lane)") }
        let xml = try String(contentsOfFile: junit, encoding: .utf8)
        #expect(xml.components(separatedBy: "<testcase ").count - 1 == lanes.count)
        #expect(xml.contains("failures=\"0\""))
    }

    @Test("gate fails when one lane fails, and says which")
    func gateFails() throws {
        let (status, out, _) = try Fixture.os3ctl(["gate", "--skip-host-tests", "--lane", "tiny", "--append", "os3.panic=1"])
        #expect(status == 11)
        #expect(out.contains("forbidden-marker"))
        #expect(out.contains("gate: FAIL"))
    }

    @Test("lanes says whether this machine can run each lane")
    func lanes() throws {
        let (status, out, _) = try Fixture.os3ctl(["lanes"])
        #expect(status == 0)
        #expect(out.contains("tiny"))
        let (_, noKVM, _) = try Fixture.os3ctl(["lanes"], environment: ["OS3_FORCE_NO_KVM": "1"])
        #expect(noKVM.contains("NO: needs KVM"))
    }

    @Test("a lane this machine cannot run is skipped loudly and fails the gate unless allowed")
    func skippedLane() throws {
        let env = ["OS3_FORCE_NO_KVM": "1"]
        let (status, _, err) = try Fixture.os3ctl(["gate", "--skip-host-tests", "--lane", "kvm", "--lane", "tiny"], environment: env)
        #expect(status == 30)
        #expect(err.contains("WARNING lane kvm was SKIPPED"))
        #expect(try Fixture.os3ctl(["gate", "--skip-host-tests", "--lane", "kvm", "--lane", "tiny", "--allow-skipped"], environment: env).status == 0)
    }
}

@Suite("Isolation: concurrent runs and untrusted input", .tags(.integration))
struct IsolationTests {
    @Test("two os3ctl processes at once both pass, each with its own private run directories")
    func twoAtOnce() throws {
        _ = try Fixture.kernelImage()
        let results = try [0, 1].map { _ -> Process in
            let p = Process()
            p.executableURL = URL(fileURLWithPath: Fixture.binary)
            p.arguments = ["gate", "--skip-host-tests", "--lane", "tiny", "--lane", "tcg-bigmem", "--json"]
            p.environment = ProcessInfo.processInfo.environment.merging(["OS3_STATE_DIR": Fixture.state.path]) { $1 }
            p.currentDirectoryURL = URL(fileURLWithPath: Fixture.root)
            p.standardOutput = Pipe()
            p.standardError = FileHandle.nullDevice
            try p.run()
            return p
        }.map { p -> [RunRecord] in
            let data = (p.standardOutput as! Pipe).fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            #expect(p.terminationStatus == 0)
            return try JSONDecoder().decode(GateDocument.self, from: data).records
        }
        let dirs = results.flatMap { $0.map(\.runDirectory) }
        #expect(dirs.count == 4)
        #expect(Set(dirs).count == 4)
        for d in dirs {
            var st = stat()
            #expect(stat(d, &st) == 0 && st.st_mode & 0o077 == 0, "\(d) is readable by others")
        }
    }

    @Test("a command line full of shell syntax reaches the kernel verbatim and runs nothing")
    func noShell() throws {
        let canary = FileManager.default.temporaryDirectory.appendingPathComponent("canary-\(UUID().uuidString)").path
        let hostile = "a=$(touch \(canary)) b=`touch \(canary)`;touch \(canary) 'q\"x"
        let r = try Fixture.boot("tiny", append: hostile)
        #expect(r.verdict.kind == .pass, "\(r.verdict.detail)")
        #expect(!FileManager.default.fileExists(atPath: canary))
        let log = try String(contentsOfFile: r.serialLog, encoding: .utf8)
        #expect(log.contains(hostile))
    }
}

@Suite("Start-up cost", .tags(.integration))
struct StartupTests {
    /// A fake QEMU that records each start (a line "pid args" in `file`) and then behaves like a
    /// passing boot of the `fake` lane after `delay` seconds, recording that it got there (its pid in
    /// `file.ends`): a QEMU os3ctl stopped, or never waited for, has no end.
    private static func recordingQemu(_ file: String, delay: String = "0.2") throws -> String {
        try Fixture.fakeQemu("echo \"$$ $*\" >> '\(file)'\nsleep \(delay)\necho $$ >> '\(file).ends'\nprintf '\(Fixture.fakePassingConsole)\\n'\nexit 33")
    }

    /// The pids of the fake QEMUs that reached the end of their delay.
    private static func ends(_ file: String) -> [String] {
        ((try? String(contentsOfFile: file + ".ends", encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    /// Every start `recordingQemu` recorded so far.
    private static func starts(_ file: String) -> [(pid: Int32, args: String)] {
        ((try? String(contentsOfFile: file, encoding: .utf8)) ?? "").split(separator: "\n").compactMap { line in
            let parts = line.split(separator: " ", maxSplits: 1)
            return Int32(parts[0]).map { ($0, parts.count > 1 ? String(parts[1]) : "") }
        }
    }

    private static func privateStateDirectory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("os3-state-\(UUID().uuidString)").path
    }

    private static func startsFile() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("starts-\(UUID().uuidString)").path
    }

    @Test("a plain boot command line (read without ArgumentParser) starts QEMU exactly once and passes")
    func plainBootStartsOnce() throws {
        let file = Self.startsFile()
        let qemu = try Self.recordingQemu(file)
        let project = try Fixture.fakeProject.get().root
        let (status, out, err) = try Fixture.os3ctl(["boot", "--project", project, "--lane", "fake", "--kernel", try Fixture.kernelImage(),
                                                     "--qemu", qemu, "--timeout", "20"])
        #expect(status == 0, "\(err)")
        #expect(out.contains("PASS fake"))
        #expect(Self.starts(file).count == 1, "QEMU started \(Self.starts(file).count) times")
    }

    @Test("a boot command line ArgumentParser rejects starts no QEMU, and says why (exit 64)")
    func usageErrorStartsNothing() throws {
        let file = Self.startsFile()
        let qemu = try Self.recordingQemu(file, delay: "30")
        let project = try Fixture.fakeProject.get().root
        // `--timeout 0` is left to ArgumentParser by the plain reading; the command rejects it.
        let (status, _, err) = try Fixture.os3ctl(["boot", "--project", project, "--lane", "fake", "--kernel", try Fixture.kernelImage(),
                                                   "--qemu", qemu, "--timeout", "0"])
        #expect(status == 64, "\(err)")
        #expect(err.contains("--timeout 0.0 must be greater than 0"), "\(err)")
        // Give a stray start time to record itself before looking.
        usleep(300_000)
        #expect(Self.starts(file).isEmpty, "QEMU was started for a rejected command line: \(Self.starts(file))")
    }

    @Test("a bad marker file found while QEMU starts stops that QEMU and is reported with its line, exit 2")
    func badMarkersStopQemu() throws {
        let project = try Fixture.scratchProject()
        try "[[marker]]\nid = \"x\"\nregex = 'os3: (unclosed'\n".write(toFile: "\(project)/markers/boot.toml", atomically: true, encoding: .utf8)
        let file = Self.startsFile()
        let qemu = try Self.recordingQemu(file, delay: "30")
        let (status, _, err) = try Fixture.os3ctl(["boot", "--project", project, "--lane", "tiny", "--kernel", try Fixture.kernelImage(),
                                                   "--qemu", qemu])
        #expect(status == 2, "\(err)")
        // Stopped, not waited for: no QEMU got to the end of its 30 s (no clock is read).
        #expect(Self.ends(file).isEmpty, "os3ctl waited for QEMU \(Self.ends(file)) instead of stopping it")
        #expect(err.contains("markers/boot.toml:3: error: marker 'x' has an invalid regular expression"))
        for start in Self.starts(file) { #expect(!Fixture.isAlive(start.pid), "QEMU \(start.pid) survived the marker error") }
    }

    @Test("os3ctl does not link libvirt: it is loaded only when a command uses the libvirt backend")
    func libvirtNotLinked() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/ldd")
        p.arguments = [Fixture.binary]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(text.contains("libc.so"))
        #expect(!text.contains("libvirt"), "\(text)")
    }
}

/// Hostile input files, as an adversarial user writes them: the real os3ctl must answer each
/// with exit 2 and a message naming the file and line — never crash, hang, or look elsewhere.
@Suite("Hostile input files", .tags(.integration))
struct HostileInputTests {
    /// A scratch project with `files` (path under the project → bytes) written into it.
    private static func project(_ files: [String: [UInt8]]) throws -> String {
        let project = try Fixture.scratchProject()
        for (path, bytes) in files { try Data(bytes).write(to: URL(fileURLWithPath: "\(project)/\(path)")) }
        return project
    }

    private static func tiny(_ project: String) throws -> String {
        try String(contentsOfFile: "\(project)/lanes/tiny.toml", encoding: .utf8)
    }

    @Test("lanes nested 40,000 deep (arrays, inline tables, dotted keys, headers) are refused at their line, exit 2, no crash",
          arguments: [
              "x = " + String(repeating: "[", count: 40_000) + String(repeating: "]", count: 40_000),
              "x = " + String(repeating: "{b = ", count: 40_000) + "1" + String(repeating: "}", count: 40_000),
              Array(repeating: "a", count: 40_000).joined(separator: ".") + " = 1",
              "[" + Array(repeating: "a", count: 40_000).joined(separator: ".") + "]",
          ])
    func deepLane(_ deep: String) throws {
        let project = try Fixture.scratchProject()
        let text = "# an adversary's lane\n" + deep + "\n"
        try text.write(toFile: "\(project)/lanes/deep.toml", atomically: true, encoding: .utf8)
        let (status, _, err) = try Fixture.os3ctl(["boot", "--project", project, "--lane", "deep"])
        #expect(status == 2, "\(err.prefix(500))")
        #expect(err.contains("lanes/deep.toml:2: error: not valid TOML: values nest more than 64 levels deep"), "\(err.prefix(500))")
        #expect(err.contains("fix:"))
    }

    @Test("a marker file nested 40,000 deep is refused at its line, exit 2")
    func deepMarkers() throws {
        let project = try Self.project(["markers/boot.toml": Array(("[[marker]]\nid = \"x\"\ntext = " + String(repeating: "[", count: 40_000) + "\n").utf8)])
        let (status, _, err) = try Fixture.os3ctl(["lanes", "--project", project])
        #expect(status == 2, "\(err.prefix(500))")
        #expect(err.contains("markers/boot.toml:3: error: not valid TOML: values nest more than 64 levels deep"), "\(err.prefix(500))")
    }

    @Test("one invalid UTF-8 byte in a lane file is reported at its line and column, exit 2 — not 'no lane named'")
    func invalidUTF8Lane() throws {
        let project = try Fixture.scratchProject()
        let lines = try Self.tiny(project).split(separator: "\n", omittingEmptySubsequences: false).map { Array($0.utf8) }
        let at = lines.firstIndex { $0.starts(with: Array("description".utf8)) }!
        var bytes = lines
        bytes[at] = Array("description = \"caf".utf8) + [0xE9] + Array("\"".utf8)  // Latin-1 é
        try Data(Array(bytes.joined(separator: [0x0A]))).write(to: URL(fileURLWithPath: "\(project)/lanes/tiny.toml"))
        let (status, _, err) = try Fixture.os3ctl(["boot", "--project", project, "--lane", "tiny"])
        #expect(status == 2, "\(err)")
        #expect(err.contains("lanes/tiny.toml:\(at + 1): error: not valid UTF-8 (byte 0xE9 at column 19)"), "\(err)")
        #expect(err.contains("fix: save the file as UTF-8"), "\(err)")
        #expect(!err.contains("no lane named"), "\(err)")
    }

    @Test("one invalid UTF-8 byte in a marker file is reported at its line and column, exit 2 — not 'does not exist'")
    func invalidUTF8Markers() throws {
        let project = try Self.project(["markers/boot.toml": Array("# ok\n[[marker]]\nid = \"x\"\ntext = \"".utf8) + [0xC3, 0x28] + Array("\"\n".utf8)])
        let (status, _, err) = try Fixture.os3ctl(["lanes", "--project", project])
        #expect(status == 2, "\(err)")
        #expect(err.contains("markers/boot.toml:4: error: not valid UTF-8 (byte 0xC3 at column 9)"), "\(err)")
        #expect(!err.contains("does not exist"), "\(err)")
    }

    @Test("a lane file that is a directory or a FIFO says so at once, exit 2 — not 'no lane named', and no waiting for a writer")
    func notAFile() throws {
        let project = try Fixture.scratchProject()
        try FileManager.default.createDirectory(atPath: "\(project)/lanes/dir.toml", withIntermediateDirectories: false)
        #expect(mkfifo("\(project)/lanes/fifo.toml", 0o600) == 0)
        for (lane, words) in [("dir", "this is a directory, not a file"), ("fifo", "this is not a regular file")] {
            let (status, _, err) = try Fixture.os3ctl(["boot", "--project", project, "--lane", lane])
            #expect(status == 2, "\(err)")
            #expect(err.contains("lanes/\(lane).toml: error: \(words)"), "\(err)")
        }
    }

    @Test("a lane file that cannot be read says so, exit 2 (as root, os3ctl runs as nobody: root reads any file)")
    func unreadable() throws {
        let project = try Fixture.scratchProject()
        chmod("\(project)/lanes/tiny.toml", 0)
        var command = [Fixture.binary]
        var environment: [String: String] = [:]
        if getuid() == 0 {
            let setpriv = try #require(resolveExecutable("setpriv"), "setpriv (util-linux) runs os3ctl as another user")
            // A copy nobody can run, wherever the checkout is (a clone under /root is not theirs to enter).
            let place = FileManager.default.temporaryDirectory.appendingPathComponent("os3-nobody-\(UUID().uuidString)").path
            let state = "\(place)/state"
            try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o777])
            chmod(place, 0o755)
            try FileManager.default.copyItem(atPath: Fixture.binary, toPath: "\(place)/os3ctl")
            command = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "\(place)/os3ctl"]
            environment["OS3_STATE_DIR"] = state
        }
        let (status, _, err) = try Fixture.run(command[0], Array(command.dropFirst()) + ["boot", "--project", project, "--lane", "tiny"],
                                               environment: ["OS3_STATE_DIR": Fixture.state.path].merging(environment) { $1 }, directory: Fixture.root)
        #expect(status == 2, "\(err)")
        #expect(err.contains("lanes/tiny.toml: error: the file exists but cannot be read: Permission denied"), "\(err)")
    }

    @Test("an 8 MB unknown key is reported with the key cut to 80 characters (a quadratic parser takes minutes)")
    func hugeKey() throws {
        let project = try Fixture.scratchProject()
        try (String(repeating: "k", count: 8 << 20) + " = 1\n" + Self.tiny(project)).write(toFile: "\(project)/lanes/big.toml", atomically: true, encoding: .utf8)
        let (status, _, err) = try Fixture.os3ctl(["boot", "--project", project, "--lane", "big"])
        #expect(status == 2)
        #expect(err.contains("lanes/big.toml:1: error: unknown key '\(String(repeating: "k", count: 80))…'"), "\(err.prefix(300))")
        #expect(err.utf8.count < 1000, "the key was echoed: \(err.utf8.count) bytes of messages")
    }

    @Test("--timeout nan, inf or 1e400 is refused (exit 64), not a boot without a timeout")
    func nonFiniteTimeout() throws {
        for value in ["nan", "inf", "1e400"] {
            let (status, _, err) = try Fixture.os3ctl(["boot", "--lane", "tiny", "--timeout", value])
            #expect(status == 64, "\(value): \(err)")
            #expect(err.contains("--timeout"), "\(err)")
        }
        let (status, _, err) = try Fixture.os3ctl(["boot", "--lane", "tiny", "--idle-timeout=nan"])
        #expect(status == 64, "\(err)")
    }

    @Test("a lane name that is a path, or 100,000 characters long, is refused before any file is read, and quoted briefly")
    func laneNames() throws {
        for name in ["../markers/boot", "/etc/passwd", ".hidden", String(repeating: "x", count: 100_000)] {
            let (status, _, err) = try Fixture.os3ctl(["boot", "--lane", name])
            #expect(status == 2, "\(err.prefix(300))")
            #expect(err.contains("is not a lane name"), "\(err.prefix(300))")
            #expect(err.utf8.count < 600, "the name was echoed whole")
        }
    }

    @Test("scan of a directory is bad input (exit 2) naming it, not a verdict")
    func scanDirectory() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("os3-scan-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let (status, out, err) = try Fixture.os3ctl(["scan", "--lane", "tiny", dir])
        #expect(status == 2, "\(out)\(err)")
        #expect(err.contains("\(dir): error: this is a directory, not a log"), "\(err)")
        #expect(!out.contains("MISSING"), "\(out)")
    }
}

/// `gate --json` (docs/JSON.md): a summary and the records.
struct GateDocument: Decodable {
    var records: [RunRecord]
}
