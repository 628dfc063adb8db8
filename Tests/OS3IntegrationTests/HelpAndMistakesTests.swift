import Foundation
import Testing
import OS3Core
import OS3Runner

/// Issue 17, "Help, mistakes": what the real binary says when asked for help, for completions, for
/// its version — and when the command line has a mistake in it. Exact messages and exit codes.
@Suite("Help, completion and mistakes on the command line", .tags(.integration))
struct HelpAndMistakesTests {
    /// stderr without the dynamic loader's warning about libswiftCore (not os3ctl's line).
    static func messages(_ err: String) -> String {
        err.split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.hasPrefix("warning: direct reference to protected function") }.joined(separator: "\n")
    }

    static let commands = ["init", "build", "boot", "gate", "stress", "bisect", "scan", "lanes", "runs", "doctor"]

    // MARK: Help

    @Test("every command's help is paragraphs (no line break inside one, however wide the terminal) with EXAMPLES of that command",
          arguments: commands)
    func helpParagraphs(_ command: String) throws {
        let (status, out, _) = try Fixture.os3ctl([command, "--help"], environment: ["COLUMNS": "4000"])
        #expect(status == 0)
        let overview = try #require(out.components(separatedBy: "\nUSAGE:").first)
        var examples = 0
        var inExamples = false
        for block in overview.components(separatedBy: "\n\n") {
            let lines = block.split(separator: "\n").map(String.init)
            guard let head = lines.first else { continue }
            if head.hasSuffix(":") && head == head.uppercased() {
                inExamples = head == "EXAMPLES:"
                if inExamples { examples += lines.dropFirst().filter { $0.hasPrefix("  os3ctl \(command)") }.count }
                #expect(lines.dropFirst().allSatisfy { $0.hasPrefix("  ") }, "a section's lines are indented:\n\(block)")
            } else {
                #expect(lines.count == 1, "a paragraph broken by hand:\n\(block)")
            }
        }
        #expect(examples >= 2, "no EXAMPLES of `os3ctl \(command)` in:\n\(out)")
    }

    @Test("the top-level help names every environment variable os3ctl reads")
    func helpEnvironment() throws {
        let help = try Fixture.os3ctl(["--help"], environment: ["COLUMNS": "4000"]).stdout
        let environment = try #require(help.components(separatedBy: "ENVIRONMENT:\n").last?.components(separatedBy: "\n\n").first)
        // Every variable the sources read (libvirt's own, PATH and HOME are not os3ctl's settings).
        var read = Set<String>()
        let pattern = try Regex(#"(?:environmentValue|getenv|value)\("([A-Z_0-9]+)"\)"#)
        for module in ["OS3Core", "OS3Runner", "OS3Commands", "OS3Libvirt"] {
            for file in try FileManager.default.contentsOfDirectory(atPath: "\(Fixture.root)/Sources/\(module)") where file.hasSuffix(".swift") {
                let text = try String(contentsOfFile: "\(Fixture.root)/Sources/\(module)/\(file)", encoding: .utf8)
                for match in text.matches(of: pattern) { read.insert(String(match.output[1].substring!)) }
            }
        }
        read.subtract(["PATH", "HOME", "LIBVIRT_DEBUG", "LIBVIRT_LOG_OUTPUTS"])
        #expect(read.isSuperset(of: ["OS3_PROJECT", "OS3_STATE_DIR", "NO_COLOR", "OS3_TRACE"]), "the source scan found \(read)")
        for name in read.sorted() {
            #expect(environment.split(separator: "\n").contains { $0.hasPrefix("  \(name) ") }, "\(name) is read but not in ENVIRONMENT:\n\(environment)")
        }
    }

    @Test("--state-dir is offered only by the commands that write runs or open libvirt under it",
          arguments: [("boot", true), ("gate", true), ("stress", true), ("bisect", true), ("runs list", true), ("runs prune", true), ("doctor", true),
                      ("lanes", false), ("scan", false), ("build", false)])
    func stateDirWhereUsed(_ command: String, _ offered: Bool) throws {
        let help = try Fixture.os3ctl(command.split(separator: " ").map(String.init) + ["--help"]).stdout
        #expect(help.contains("--state-dir <dir>") == offered, "\(help)")
        if !offered {
            // (scan's own check of --lane/--markers would speak first without a lane.)
            let (status, _, err) = try Fixture.os3ctl([command, "--state-dir", "/tmp"] + (command == "scan" ? ["--lane", "tiny", "log"] : []))
            #expect(status == 64)
            #expect(Self.messages(err).hasPrefix("Error: Unknown option '--state-dir'"), "\(err)")
        }
    }

    @Test("--version names the commit os3ctl was built from (git describe of this checkout)")
    func versionNamesCommit() throws {
        let git = try Fixture.run("/usr/bin/env", ["git", "-C", Fixture.root, "describe", "--always", "--abbrev=12"], environment: [:])
        try #require(git.status == 0, "git describe: \(git.stderr)")
        let commit = git.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let (status, out, _) = try Fixture.os3ctl(["--version"])
        #expect(status == 0)
        #expect(out == "0.1.0 (commit \(commit))\n")
    }

    // MARK: Completion and the manual

    @Test("bash completes --lane with the project's lanes (the script calls os3ctl itself), --load with the recipes, --kernel with files")
    func bashCompletion() throws {
        let script = try Fixture.os3ctl(["--generate-completion-script", "bash"]).stdout
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("os3ctl-completion-\(UUID().uuidString).bash").path
        try script.write(toFile: file, atomically: true, encoding: .utf8)
        // Bash's own completion machinery, driven as TAB would: COMP_WORDS/COMP_CWORD/COMP_LINE set,
        // then the function `complete -F` names, with the command, the current and previous words.
        func complete(_ words: [String]) throws -> [String] {
            let line = words.joined(separator: " ")
            let quoted = words.map { "'\($0)'" }.joined(separator: " ")
            let program = "source '\(file)'; COMP_WORDS=(\(quoted)); COMP_CWORD=\(words.count - 1); COMP_LINE='\(line)'; COMP_POINT=${#COMP_LINE}; _os3ctl '\(words[0])' '\(words[words.count - 1])' '\(words[words.count - 2])'; printf '%s\\n' \"${COMPREPLY[@]}\""
            let r = try Fixture.run("/bin/bash", ["--norc", "-c", program], environment: ["OS3_STATE_DIR": Fixture.state.path], directory: Fixture.root)
            #expect(r.status == 0, "\(r.stderr)")
            return r.stdout.split(separator: "\n").map(String.init)
        }
        let lanes = try Fixture.project.laneNames()
        #expect(try complete([Fixture.binary, "boot", "--lane", ""]).sorted() == lanes)
        #expect(try complete([Fixture.binary, "gate", "--lane", "t"]).sorted() == lanes.filter { $0.hasPrefix("t") })
        #expect(try complete([Fixture.binary, "stress", "--load", ""]).sorted() == ["cache", "cpu", "io", "mixed", "vm"])
        let files = try complete([Fixture.binary, "boot", "--kernel", "Packa"])
        #expect(files.contains("Package.swift") && files.allSatisfy { $0.hasPrefix("Package.") }, "\(files)")
    }

    @Test("zsh and fish scripts ask os3ctl for the lanes of --lane and list the recipes of --load; os3ctl answers with the lanes",
          arguments: ["zsh", "fish"])
    func otherShellsCompletion(_ shell: String) throws {
        let script = try Fixture.os3ctl(["--generate-completion-script", shell]).stdout
        for command in ["boot", "gate", "stress", "bisect", "scan"] {
            #expect(script.contains("---completion \(command) -- --lane"), "\(shell): --lane of \(command) does not complete lanes")
        }
        #expect(script.contains(shell == "zsh" ? "('cpu' 'vm' 'cache' 'io' 'mixed')" : "'cpu vm cache io mixed'"), "\(script)")
        // What the scripts run on TAB: the words, the index of the one completed, the cursor in it.
        let (_, out, _) = try Fixture.os3ctl(["---completion", "boot", "--", "--lane", "3", "1", "os3ctl", "boot", "--lane", "k"])
        #expect(out.split(separator: "\n").map(String.init) == (try Fixture.project.laneNames()).filter { $0.hasPrefix("k") })
    }

    @Test("the manual page is generated from the same source as --help, and man renders it")
    func manualPage() throws {
        let (status, page, err) = try Fixture.run("\(Fixture.root)/.ci/manpage", [Fixture.binary], environment: [:])
        #expect(status == 0, "\(err)")
        #expect(page.hasPrefix(".TH OS3CTL 1 "))
        for command in Self.commands { #expect(page.contains(".SS \"os3ctl \(command)\""), "\(command) missing") }
        #expect(!page.contains("os3ctl hog"), "a hidden command is in the manual")
        #expect(page.contains("\\fB\\-\\-lane\\fR \\fIname\\fR"))
        #expect(page.contains(".SS Environment"))
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("os3ctl-\(UUID().uuidString).1").path
        try page.write(toFile: file, atomically: true, encoding: .utf8)
        let groff = try Fixture.run("/usr/bin/env", ["groff", "-man", "-Tutf8", "-ww", file], environment: [:])
        try #require(groff.status != 127, "groff is not installed")
        #expect(groff.status == 0 && Self.messages(groff.stderr).isEmpty, "\(groff.stderr)")
        #expect(groff.stdout.contains("os3ctl boot"))
    }

    // MARK: Mistakes

    @Test("a misspelt lane: did you mean the nearest lane, and every known lane, exit 2")
    func misspeltLane() throws {
        let (status, _, err) = try Fixture.os3ctl(["boot", "--lane", "tny"])
        #expect(status == 2)
        let known = try Fixture.project.laneNames().joined(separator: ", ")
        #expect(Self.messages(err) == "error: no lane named 'tny' (looked for lanes/tny.toml)\n  fix: did you mean 'tiny'? known lanes: \(known)\n")
    }

    @Test("a misspelt command: did you mean the nearest command, exit 64")
    func misspeltCommand() throws {
        let (status, _, err) = try Fixture.os3ctl(["bot", "--lane", "tiny"])
        #expect(status == 64)
        #expect(Self.messages(err).hasPrefix("Error: 'bot' is not an os3ctl command. Did you mean 'boot'? The commands: init, build, boot, gate, stress, bisect, scan, lanes, runs, doctor.\n"), "\(err)")
    }

    @Test("a lane given without --lane: says to write --lane NAME, exit 64", arguments: ["boot", "gate", "stress"])
    func laneWithoutOption(_ command: String) throws {
        let (status, _, err) = try Fixture.os3ctl([command, "kvm"])
        #expect(status == 64)
        #expect(Self.messages(err).hasPrefix("Error: unexpected argument 'kvm': the lane is an option: write --lane kvm\n"), "\(err)")
    }

    @Test("a negative count says the number must be ≥ 0 (not 'Missing value'), exit 64",
          arguments: [(["stress", "--hog", "-1"], "--hog -1: the number must be ≥ 0: give a whole number from 0 to 256"),
                      (["gate", "--jobs", "-2"], "--jobs -2: the number must be ≥ 1: give a whole number from 1 to 256"),
                      (["stress", "--runs", "-5"], "--runs -5: the number must be ≥ 1: give a whole number from 1 to 100000"),
                      (["boot", "--timeout", "-1"], "--timeout -1.0 must be greater than 0: give seconds, more than 0 and at most 86400, e.g. --timeout 30")])
    func negativeNumbers(_ arguments: [String], _ message: String) throws {
        let (status, _, err) = try Fixture.os3ctl(arguments)
        #expect(status == 64)
        #expect(Self.messages(err).hasPrefix("Error: \(message)\n"), "\(err)")
    }

    @Test("--jobs above the core count is said out loud on stderr, and the gate still runs")
    func jobsAboveCores() throws {
        let project = try Fixture.fakeProject.get().root
        let qemu = try Fixture.fakeQemu("printf '\(Fixture.fakePassingConsole)\\n'\nexit 33")
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let (status, _, err) = try Fixture.os3ctl(["gate", "--project", project, "--lane", "fake", "--kernel", try Fixture.fakeKernel(),
                                                   "--qemu", qemu, "--jobs", "\(cores + 1)"])
        #expect(status == 0, "\(err)")
        #expect(err.contains("gate: warning: --jobs \(cores + 1) is more than this machine's \(cores) core(s): boots will share cores, and a slow boot may time out or look hung; --jobs \(cores) or fewer avoids it\n"), "\(err)")
        let within = try Fixture.os3ctl(["gate", "--project", project, "--lane", "fake", "--kernel", try Fixture.fakeKernel(), "--qemu", qemu, "--jobs", "\(cores)"])
        #expect(within.status == 0)
        #expect(!within.stderr.contains("warning: --jobs"))
    }

    @Test("a --kernel that is no bootable image is refused before QEMU starts, saying what the lane expects, exit 2")
    func kernelNotBootable() throws {
        let project = try Fixture.fakeProject.get().root
        let started = FileManager.default.temporaryDirectory.appendingPathComponent("started-\(UUID().uuidString)").path
        let qemu = try Fixture.fakeQemu("touch '\(started)'\nexit 33")
        let image = "\(project)/not-a-kernel.img"
        try "#!/bin/sh\necho hi\n".write(toFile: image, atomically: true, encoding: .utf8)
        let (status, _, err) = try Fixture.os3ctl(["boot", "--project", project, "--lane", "fake", "--kernel", image, "--qemu", qemu])
        #expect(status == 2)
        #expect(Self.messages(err) == """
            error: --kernel \(image) is not a kernel lane 'fake' can boot: it starts with 23 21 2f 62 69 6e 2f 73 ("#!/bin/s"): no ELF, bzImage or Multiboot header
              fix: lane 'fake' (x86_64, direct kernel boot) expects an ELF with a PVH note or Multiboot header, a Linux bzImage, or a Multiboot kernel; give such an image, or omit --kernel to boot the project's own

            """)
        #expect(!FileManager.default.fileExists(atPath: started), "QEMU was started")
        // A real kernel passes the same check.
        #expect(try Fixture.os3ctl(["boot", "--project", project, "--lane", "fake", "--kernel", try Fixture.kernelImage(), "--qemu", qemu]).status == 10)
    }

    @Test("paths in errors open from where the user stands: relative to the current directory under it")
    func pathsFromCurrentDirectory() throws {
        let project = try Fixture.scratchProject()
        let file = "\(project)/lanes/tiny.toml"
        let text = try String(contentsOfFile: file, encoding: .utf8).replacingOccurrences(of: "cpus = 1", with: "cpus = \"one\"")
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        let line = text.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.hasPrefix("cpus") }! + 1
        let parent = (project as NSString).deletingLastPathComponent, name = (project as NSString).lastPathComponent
        // From the project's parent: the path goes through the project's directory.
        let above = try Fixture.os3ctl(["lanes", "--project", name], directory: parent)
        #expect(above.status == 2)
        #expect(Self.messages(above.stderr).hasPrefix("\(name)/lanes/tiny.toml:\(line): error: 'cpus' must be an integer"), "\(above.stderr)")
        // From inside the project's lanes/: the file's own name.
        let inside = try Fixture.os3ctl(["lanes"], directory: "\(project)/lanes")
        #expect(Self.messages(inside.stderr).hasPrefix("tiny.toml:\(line): error:"), "\(inside.stderr)")
        // From elsewhere: absolute.
        let elsewhere = try Fixture.os3ctl(["lanes", "--project", project], directory: "/")
        #expect(Self.messages(elsewhere.stderr).hasPrefix("\(project)/lanes/tiny.toml:\(line): error:"), "\(elsewhere.stderr)")
    }

    @Test("scan - reads the log from standard input")
    func scanStandardInput() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("scan-stdin-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "[[marker]]\nid = \"hello\"\ntext = \"hello world\"\n".write(toFile: "\(dir)/m.toml", atomically: true, encoding: .utf8)
        try "boot\nhello world\n".write(toFile: "\(dir)/pass.log", atomically: true, encoding: .utf8)
        try "boot\n".write(toFile: "\(dir)/fail.log", atomically: true, encoding: .utf8)
        let pass = try Fixture.run("/bin/sh", ["-c", "exec \"$0\" scan --markers m.toml - < pass.log", Fixture.binary], environment: [:], directory: dir)
        #expect(pass.status == 0, "\(pass.stderr)")
        #expect(pass.stdout == "line 2: hello\nPASS: all 1 required markers seen, no forbidden marker\n")
        // Through a pipe too, and a log without the marker is judged on what it holds.
        let fail = try Fixture.run("/bin/sh", ["-c", "cat fail.log | \"$0\" scan --markers m.toml -", Fixture.binary], environment: [:], directory: dir)
        #expect(fail.status == 10)
        #expect(fail.stdout.hasPrefix("MISSING-MARKERS: 1 required marker(s) never appear: hello"), "\(fail.stdout)")
    }

    @Test("a failing host test says the exact command that reproduces it, from the user's directory, exit 3")
    func hostTestReproduction() throws {
        let project = try Fixture.scratchProject()
        try FileManager.default.createDirectory(atPath: "\(project)/tests", withIntermediateDirectories: true)
        let toml = try String(contentsOfFile: "\(project)/os3ctl.toml", encoding: .utf8)
        let start = try #require(toml.range(of: "[test]")), end = try #require(toml.range(of: "[images]"))
        try toml.replacingCharacters(in: start.lowerBound..<end.lowerBound, with: """
            [test]
            command = ["/bin/sh", "-c", "echo two tests failed; exit 3"]
            directory = "tests"
            env = { SEED = "7 8" }

            """).write(toFile: "\(project)/os3ctl.toml", atomically: true, encoding: .utf8)
        let (status, _, err) = try Fixture.os3ctl(["gate", "--lane", "tiny"], directory: project)
        #expect(status == 3)
        #expect(Self.messages(err).contains("""
            error: the host tests failed: `/bin/sh -c 'echo two tests failed; exit 3'` exited with code 3; its output is above
              fix: fix what it reports (the [test] command of os3ctl.toml); to run it again by hand: cd tests && SEED='7 8' /bin/sh -c 'echo two tests failed; exit 3'
            """), "\(err)")
        #expect(err.contains("two tests failed"))
    }
}
