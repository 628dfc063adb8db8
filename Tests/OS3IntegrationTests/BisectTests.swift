import Foundation
import Testing
import OS3Core
import OS3Runner

/// `os3ctl bisect` on scratch git histories of this repository's kernel, lanes and markers, in which
/// one commit adds a real flake (`inject.flake=0.5` in lane tiny's append: the kernel panics on
/// half of the seeds). TCG `tiny` boots take a fraction of a second; each test uses its own state
/// directory so its experiment and scratch worktree are its own.
@Suite("bisect: the commit that made a lane flaky, on real boots", .tags(.integration))
struct BisectTests {
    struct Output: Decodable {
        var format: String
        var experimentDirectory: String
        var summary: BisectSummary
    }

    /// A git repository in a new temporary directory, committing as a fixed test identity.
    struct Repo {
        let root: String

        init() throws {
            root = FileManager.default.temporaryDirectory.appendingPathComponent("os3-bisect-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
            try git("init", "-q")
        }

        @discardableResult
        func git(_ args: String...) throws -> String {
            let identity = ["GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
                            "GIT_COMMITTER_EMAIL": "t@example.org", "GIT_CONFIG_NOSYSTEM": "1"]
            let (status, out, err) = try Fixture.run("/usr/bin/env", ["git"] + args, environment: identity, directory: root)
            guard status == 0 else { throw OS3Error(.io, "git \(args.joined(separator: " ")) failed: \(err)") }
            return out.trimmingCharacters(in: .whitespacesAndNewlines)
        }

        func write(_ path: String, _ text: String) throws {
            try text.write(toFile: "\(root)/\(path)", atomically: true, encoding: .utf8)
        }

        func read(_ path: String) throws -> String { try String(contentsOfFile: "\(root)/\(path)", encoding: .utf8) }

        /// Replaces `old` by `new` in a file and commits everything with `subject`; returns the commit.
        @discardableResult
        func commit(_ subject: String, edit path: String? = nil, _ old: String = "", _ new: String = "") throws -> String {
            if let path {
                let text = try read(path)
                #expect(text.contains(old), "\(path) has no '\(old)'")
                try write(path, text.replacingOccurrences(of: old, with: new))
            }
            try git("add", "-A")
            try git("commit", "-q", "-m", subject)
            return try git("rev-parse", "HEAD")
        }

        /// Every byte of the checkout the user sees: HEAD, the index, and every file outside .git.
        func snapshot() throws -> [String: Data] {
            var files: [String: Data] = [:]
            for item in [".git/HEAD", ".git/index"] { files[item] = try Data(contentsOf: URL(fileURLWithPath: "\(root)/\(item)")) }
            let walker = FileManager.default.enumerator(atPath: root)!
            while let path = walker.nextObject() as? String {
                if path == ".git" { walker.skipDescendants(); continue }
                var isDirectory: ObjCBool = false
                if FileManager.default.fileExists(atPath: "\(root)/\(path)", isDirectory: &isDirectory), !isDirectory.boolValue {
                    files[path] = try Data(contentsOf: URL(fileURLWithPath: "\(root)/\(path)"))
                }
            }
            return files
        }
    }

    /// The kernel's sources, lanes and markers of this repository, committed as the base.
    static func repoWithKernel() throws -> Repo {
        let repo = try Repo()
        let fm = FileManager.default
        for item in [ProjectFile.fileName, "lanes", "markers"] { try fm.copyItem(atPath: "\(Fixture.root)/\(item)", toPath: "\(repo.root)/\(item)") }
        try fm.createDirectory(atPath: "\(repo.root)/kernel", withIntermediateDirectories: true)
        for item in ["Kernel", "Pure", "arch", "build.toml", "Package.swift"] {
            try fm.copyItem(atPath: "\(Fixture.root)/kernel/\(item)", toPath: "\(repo.root)/kernel/\(item)")
        }
        try repo.write(".gitignore", ".build/\n")
        return repo
    }

    static let tinyAppend = "os3.storm=4000\""
    static let flakyAppend = "os3.storm=4000 inject.flake=0.5\""

    static func stateDirectory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("os3-bisect-state-\(UUID().uuidString)").path
    }

    /// `os3ctl bisect --lane tiny` started in `repo` (its output discarded), left running for the
    /// test to stop.
    static func startBisect(in repo: Repo, good: String, bad: String, state: String) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Fixture.binary)
        p.arguments = ["bisect", "--lane", "tiny", "--good", good, "--bad", bad, "--state-dir", state]
        p.currentDirectoryURL = URL(fileURLWithPath: repo.root)
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }

    /// Whether `condition` comes true within 60 s (checked every 0.1 s).
    static func eventually(_ condition: () -> Bool) -> Bool {
        for _ in 0..<600 {
            if condition() { return true }
            usleep(100_000)
        }
        return false
    }

    /// The scratch worktrees bisect left in its state directory (none, once it has ended).
    static func scratchLeft(_ state: String) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: "\(state)/bisect")) ?? []
    }

    static func output(_ state: String) throws -> Output {
        let experiments = try FileManager.default.contentsOfDirectory(atPath: "\(state)/experiments").filter { $0.contains("bisect-tiny") }
        let dir = try #require(experiments.count == 1 ? experiments.first : nil, "one bisect experiment, found \(experiments)")
        return try JSONDecoder().decode(Output.self, from: Data(contentsOf: URL(fileURLWithPath: "\(state)/experiments/\(dir)/bisect.json")))
    }

    @Test("names the commit that added the flake, skips the commit whose build fails, and leaves the user's checkout byte for byte as it was")
    func namesTheFlakyCommit() throws {
        let repo = try Self.repoWithKernel()
        let good = try repo.commit("base")
        try repo.write("NOTES", "notes\n")
        try repo.commit("add notes")
        let broken = try repo.commit("break the build", edit: "kernel/build.toml", "arch/x86_64/linker.ld", "arch/x86_64/missing.ld")
        let fixed = try repo.commit("fix the build", edit: "kernel/build.toml", "arch/x86_64/missing.ld", "arch/x86_64/linker.ld")
        let flaky = try repo.commit("tiny: a flake", edit: "lanes/tiny.toml", Self.tinyAppend, Self.flakyAppend)
        let bad = try repo.commit("more notes", edit: "NOTES", "notes", "more notes")
        // The user's checkout is mid-work: a change staged, one not, an untracked file.
        try repo.write("NOTES", "staged\n")
        try repo.git("add", "NOTES")
        try repo.write("lanes/tiny.toml", try repo.read("lanes/tiny.toml") + "# unstaged\n")
        try repo.write("untracked.txt", "mine\n")
        let before = try repo.snapshot()

        let state = Self.stateDirectory()
        let (status, out, err) = try Fixture.os3ctl(["bisect", "--lane", "tiny", "--good", good, "--bad", "HEAD", "--jobs", "2", "--seed", "1",
                                                     "--state-dir", state], directory: repo.root)
        let lines = out.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(status == 0, "\(out)\n\(err)")
        #expect(lines.first == flaky, "\(out)\n\(err)")
        #expect(lines.dropFirst().first == "tiny: a flake")

        let summary = try Self.output(state).summary
        #expect(summary.conclusion.status == .found && summary.conclusion.firstFlaky == flaky)
        #expect(summary.bad == bad && summary.good == good && summary.commits == 5)
        let marks = Dictionary(summary.steps.map { ($0.commit, $0.mark) }, uniquingKeysWith: { a, _ in a })
        #expect(marks[bad] == .flaky && marks[good] == .notFlaky && marks[flaky] == .flaky && marks[fixed] == .notFlaky)
        let skipped = try #require(summary.steps.first { $0.commit == broken }, "the broken commit is tried first (it halves the chain)")
        #expect(skipped.mark == .skipped && skipped.boots.isEmpty)
        #expect(skipped.note?.contains("missing.ld") == true, "\(skipped.note ?? "")")
        #expect(out.contains("skipped"))
        // Every failure counted is the injected flake, never anything else; the same seeds at every commit.
        for step in summary.steps where step.mark == .flaky {
            #expect(step.boots.filter { $0.counts == .failed }.allSatisfy { $0.detail.contains("injected flake") })
            #expect(step.failures > 0)
        }
        #expect(summary.errorBound.decisions == 4)
        #expect(out.contains("4 decision(s)"))

        #expect(try repo.snapshot() == before, "bisect changed the user's checkout")
        #expect(try repo.git("worktree", "list", "--porcelain").components(separatedBy: "worktree ").count == 2, "the scratch worktree is gone from git's list")
        #expect(Self.scratchLeft(state).isEmpty)
    }

    /// Two commits, both flaky (the flake is in the first), each built by a command that copies the
    /// kernel into place (no compiler): the cheap history for the tests that need no search.
    static func repoFlakyFromTheStart() throws -> (repo: Repo, first: String, bad: String) {
        let repo = try Repo()
        let fm = FileManager.default
        for item in ["lanes", "markers"] { try fm.copyItem(atPath: "\(Fixture.root)/\(item)", toPath: "\(repo.root)/\(item)") }
        try repo.write(ProjectFile.fileName, """
        [build]
        command = ["cp", "\(try Fixture.kernelImage())", "os3.elf"]
        [images]
        kernel = "os3.elf"
        """)
        try repo.write(".gitignore", "os3.elf\n")
        let first = try repo.commit("flaky from the start", edit: "lanes/tiny.toml", Self.tinyAppend, Self.flakyAppend)
        try repo.write("NOTES", "notes\n")
        return (repo, first, try repo.commit("add notes"))
    }

    @Test("when the first commit is already flaky, bisect says so and that --good must be older, and names no commit")
    func firstCommitAlreadyFlaky() throws {
        let (repo, first, bad) = try Self.repoFlakyFromTheStart()
        let state = Self.stateDirectory()
        let (status, out, err) = try Fixture.os3ctl(["bisect", "--lane", "tiny", "--good", first, "--bad", bad, "--jobs", "2", "--seed", "3",
                                                     "--state-dir", state, "--json"], directory: repo.root)
        #expect(status == 1, "\(out)\n\(err)")
        let result = try JSONDecoder().decode(Output.self, from: Data(out.utf8))
        #expect(result.format == "os3ctl-bisect")
        #expect(result.summary.conclusion.status == .goodNotClean)
        #expect(result.summary.conclusion.firstFlaky == nil)
        #expect(result.summary.conclusion.message.contains("already flaky") && result.summary.conclusion.message.contains("older --good"))
        #expect(result.summary.steps.map(\.mark) == [.flaky, .flaky])
        #expect(result.summary.steps.map(\.role) == [.confirmBad, .confirmGood])
        #expect(Self.scratchLeft(state).isEmpty)

        // The text form leads with the message, not a hash.
        let text = try Fixture.os3ctl(["bisect", "--lane", "tiny", "--good", first, "--bad", bad, "--jobs", "2", "--seed", "3",
                                       "--state-dir", Self.stateDirectory()], directory: repo.root)
        #expect(text.status == 1)
        #expect(text.stdout.hasPrefix("bisect: --good \(first.prefix(12)) is already flaky"), "\(text.stdout)")
    }

    @Test("bisect --json and bisect.json validate against the documented schema",
          .enabled(if: ContractTests.python != nil, "needs python3 with jsonschema (python3-jsonschema, installed by .ci/setup --tests)"))
    func jsonValidates() throws {
        let (repo, first, bad) = try Self.repoFlakyFromTheStart()
        let state = Self.stateDirectory()
        let (_, out, err) = try Fixture.os3ctl(["bisect", "--lane", "tiny", "--good", first, "--bad", bad, "--jobs", "2", "--seed", "5",
                                                "--state-dir", state, "--json"], directory: repo.root)
        #expect(try ContractTests.jsonProblem(out) == nil, "\(err)")
        let file = try Data(contentsOf: URL(fileURLWithPath: "\(try Self.output(state).experimentDirectory)/bisect.json"))
        #expect(try ContractTests.jsonProblem(String(decoding: file, as: UTF8.self)) == nil)
        // The validator is not blind to this document: a step without its `note` key is refused.
        #expect(try ContractTests.jsonProblem(out.replacingOccurrences(of: "\"note\" :", with: "\"notes\" :")) != nil)
    }

    @Test("revisions that are not commits, or not in order, are refused before anything is built (exit 2, naming the option)")
    func badRevisions() throws {
        let repo = try Repo()
        try repo.write(ProjectFile.fileName, "[images]\nkernel = \"os3.elf\"\n")
        let a = try repo.commit("a")
        try repo.write("x", "x\n")
        let b = try repo.commit("b")
        let state = Self.stateDirectory()
        let unknown = try Fixture.os3ctl(["bisect", "--lane", "tiny", "--good", "no-such-rev", "--bad", b, "--state-dir", state], directory: repo.root)
        #expect(unknown.status == 2)
        #expect(unknown.stderr.contains("--good no-such-rev: no such commit"), "\(unknown.stderr)")
        let reversed = try Fixture.os3ctl(["bisect", "--lane", "tiny", "--good", b, "--bad", a, "--state-dir", state], directory: repo.root)
        #expect(reversed.status == 2)
        #expect(reversed.stderr.contains("is not an ancestor of --bad"), "\(reversed.stderr)")
        #expect(Self.scratchLeft(state).isEmpty)
    }

    @Test("SIGINT during a step's build stops bisect (exit 130), stops the build, and removes the scratch worktree")
    func interrupted() throws {
        let repo = try Repo()
        try FileManager.default.copyItem(atPath: "\(Fixture.root)/lanes", toPath: "\(repo.root)/lanes")
        try FileManager.default.copyItem(atPath: "\(Fixture.root)/markers", toPath: "\(repo.root)/markers")
        try repo.write(ProjectFile.fileName, "[build]\ncommand = [\"sleep\", \"300\"]\n[images]\nkernel = \"os3.elf\"\n")
        let good = try repo.commit("a")
        try repo.write("x", "x\n")
        try repo.commit("b")
        let state = Self.stateDirectory()
        let p = try Self.startBisect(in: repo, good: good, bad: "HEAD", state: state)
        // The build's `sleep 300` runs in the scratch worktree.
        #expect(Self.eventually { !Self.scratchLeft(state).isEmpty && Self.sleepers(state).count == 1 }, "bisect never reached the build")
        let sleeper = Self.sleepers(state).first
        kill(p.processIdentifier, SIGINT)
        p.waitUntilExit()
        #expect(p.terminationStatus == 130)
        #expect(Self.scratchLeft(state).isEmpty)
        #expect(try repo.git("worktree", "list", "--porcelain").components(separatedBy: "worktree ").count == 2)
        if let sleeper { #expect(!Fixture.isAlive(sleeper), "the build outlived bisect") }
        // What was measured (nothing concluded) is still recorded.
        let summary = try Self.output(state).summary
        #expect(summary.conclusion.status == .interrupted)
    }

    @Test("a scratch worktree left by a bisect killed with SIGKILL is removed by the next bisect, which then says why it names no commit")
    func staleScratchRemoved() throws {
        let repo = try Repo()
        try FileManager.default.copyItem(atPath: "\(Fixture.root)/lanes", toPath: "\(repo.root)/lanes")
        try FileManager.default.copyItem(atPath: "\(Fixture.root)/markers", toPath: "\(repo.root)/markers")
        try repo.write(ProjectFile.fileName, "[build]\ncommand = [\"false\"]\n[images]\nkernel = \"os3.elf\"\n")
        let first = try repo.commit("a build that fails")
        let second = try repo.commit("still failing", edit: "lanes/tiny.toml", Self.tinyAppend, Self.tinyAppend + "\n# b")
        let hanging = try repo.commit("a build that hangs", edit: ProjectFile.fileName, "[\"false\"]", "[\"sleep\", \"300\"]")
        let state = Self.stateDirectory()
        let p = try Self.startBisect(in: repo, good: first, bad: hanging, state: state)
        #expect(Self.eventually { Self.sleepers(state).count == 1 }, "bisect never reached the build")
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        #expect(Self.scratchLeft(state).count == 1, "SIGKILL leaves the scratch worktree")

        let (status, out, err) = try Fixture.os3ctl(["bisect", "--lane", "tiny", "--good", first, "--bad", second, "--state-dir", state], directory: repo.root)
        #expect(status == 1, "\(out)\n\(err)")
        #expect(err.contains("left by a bisect that was killed"), "\(err)")
        #expect(out.hasPrefix("bisect: --bad \(second.prefix(12)) was not shown flaky (skipped: "), "\(out)")
        #expect(Self.scratchLeft(state).isEmpty)
        #expect(try repo.git("worktree", "list", "--porcelain").components(separatedBy: "worktree ").count == 2)
    }

    /// `sleep 300` processes whose working directory is in `state` (the scratch build).
    static func sleepers(_ state: String) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { Int32($0) }.filter { pid in
            guard let cwd = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/cwd"), cwd.hasPrefix(state),
                  let cmd = try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline")) else { return false }
            return cmd.split(separator: 0).map { String(decoding: $0, as: UTF8.self) } == ["sleep", "300"] && Fixture.isAlive(pid)
        }
    }
}
