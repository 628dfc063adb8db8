import FoundationEssentials
import Glibc
import OS3Core

/// What `[build]` in os3ctl.toml did.
public struct ProjectBuildResult: Sendable {
    /// Whether an image may have changed (a QEMU started before the build booted the old one).
    public var rebuilt: Bool
    public var seconds: Double
    /// What ran, for messages: "make -C src", "embedded-swift (kernel/build.toml)", or nil (no [build]).
    public var what: String?
}

extension Project {
    /// Builds the project as its `[build]` section says: the user's command (always run: make,
    /// cargo and the like have their own no-op), or the embedded-swift builder (a fingerprinted
    /// no-op). `quiet`: the command's output is kept and shown only if it fails.
    public func build(force: Bool = false, quiet: Bool = false, log: (String) -> Void = { _ in }) throws -> ProjectBuildResult {
        let start = Clock.now
        switch file.build {
        case nil:
            return ProjectBuildResult(rebuilt: false, seconds: 0, what: nil)
        case .embeddedSwift:
            let result = try KernelBuilder(project: self, toolchain: try Toolchain.locate()).build(force: force, log: log)
            return ProjectBuildResult(rebuilt: result.rebuilt, seconds: result.seconds, what: "embedded-swift (\(relative(kernelBuildConfig)))")
        case .command(let command):
            let before = imageIdentities()
            log("running \(Self.shellWords(command.argv))\(command.directory == "." ? "" : " in \(command.directory)/")")
            try run(command, section: "build", quiet: quiet)
            return ProjectBuildResult(rebuilt: imageIdentities() != before, seconds: Clock.now - start, what: Self.shellWords(command.argv))
        }
    }

    /// Runs `[test]` (nothing if the project file has none). Returns the end of their output
    /// when `quiet` kept it (its last 400 lines: where runners print their summary), else nil.
    @discardableResult
    public func runTests(quiet: Bool = false) throws -> String? {
        guard let test = file.test else { return nil }
        return try run(test, section: "test", quiet: quiet)
    }

    /// Runs a [build] or [test] command: no shell, in its directory, its env added to os3ctl's own.
    /// Its output goes to stderr as it comes, or (quiet) to an unlinked temporary file whose tail
    /// is printed on stderr if it fails. A failure throws `build-failed` (exit 3). Returns the
    /// kept output's last 400 lines when it succeeds (nil when it went to stderr).
    @discardableResult
    func run(_ command: ProjectFile.Command, section: String, quiet: Bool) throws -> String? {
        let directory = absolute(command.directory)
        var st = stat()
        guard stat(directory, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
            throw OS3Error(.invalidProject, "[\(section)] directory '\(command.directory)' is not a directory of the project",
                           file: file.file, line: command.line, fix: "write the directory to run the command in, relative to the project root (\(root))")
        }
        var environment: [String: String]?
        if !command.environment.isEmpty {
            environment = inheritedEnvironment().merging(command.environment) { $1 }
        }
        var output: Int32 = 2
        if quiet {
            output = Self.anonymousFile()
            guard output >= 0 else { throw OS3Error(.io, "cannot create a temporary file for the [\(section)] output: \(String(cString: strerror(errno)))") }
        }
        defer { if output != 2 { close(output) } }
        let what = section == "test" ? "the host tests" : "the build"
        let child: ChildProcess
        do {
            child = try ChildProcess.spawn(command.argv, stdin: -1, stdout: output, stderr: output, environment: environment, directory: directory)
        } catch let error as SpawnError {
            throw OS3Error(.toolMissing, "[\(section)] command: \(error.description)", file: file.file, line: command.line,
                           fix: "install '\(error.program)', or fix the command (an argument list: [\"program\", \"arg\", ...])")
        }
        let end = try child.waitUnlessInterrupted(what: what)
        guard end == .exited(0) else {
            var whereOutput = "its output is above"
            if output != 2 {
                let (tail, lines) = Self.tail(of: output, maxLines: 200)
                let prefix = lines > 200 ? "(the last 200 of its \(lines) lines)\n" : ""
                try? writeAll(2, Array((prefix + tail + (tail.hasSuffix("\n") || tail.isEmpty ? "" : "\n")).utf8))
                whereOutput = tail.isEmpty ? "it printed nothing" : "its output is above"
            }
            throw OS3Error(.buildFailed, "\(what) failed: `\(Self.shellWords(command.argv))` \(Self.describe(end)); \(whereOutput)",
                           fix: "fix what it reports (the [\(section)] command of \(file.file)); to run it again by hand: \(Self.reproduction(command, in: directory))")
        }
        return output == 2 ? nil : Self.tail(of: output, maxLines: 400).0
    }

    /// Identity (inode, size, mtime) of every image in [images], to tell whether a build changed one.
    private func imageIdentities() -> [String] {
        file.images.map { image in
            var st = stat()
            guard stat(absolute(image.path), &st) == 0 else { return "-" }
            return "\(st.st_dev) \(st.st_ino) \(st.st_size) \(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)"
        }
    }

    static func describe(_ end: ProcessEnd) -> String {
        switch end {
        case .exited(let code): "exited with code \(code)"
        case .signaled(let sig): "was killed by \(signalName(sig))"
        case .failedToStart(let why): "did not start (\(why))"
        }
    }

    /// The shell line that runs `command` as os3ctl ran it, from the user's current directory:
    /// `cd DIR && KEY=value program args` (no `cd` when it ran there).
    static func reproduction(_ command: ProjectFile.Command, in directory: String) -> String {
        let cd = directory == Path.currentDirectory ? "" : "cd \(shellWords([Path.shown(directory)])) && "
        let env = command.environment.sorted { $0.key < $1.key }.map { "\($0.key)=\(shellWords([$0.value])) " }.joined()
        return cd + env + shellWords(command.argv)
    }

    /// argv as a user would type it (for messages; nothing is ever run through a shell).
    static func shellWords(_ argv: [String]) -> String {
        argv.map { word in
            let plain = !word.isEmpty && word.utf8.allSatisfy { b in
                (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || "-_./=:,+@%".utf8.contains(b)
            }
            return plain ? word : "'" + word.replacing("'", with: "'\\''") + "'"
        }.joined(separator: " ")
    }

    /// A temporary file that is already unlinked: nothing is left behind, whatever happens.
    static func anonymousFile() -> Int32 {
        var template = Array("\(Path.temporaryDirectory)os3ctl-output-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        if fd >= 0 {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        }
        return fd
    }

    /// The last `maxLines` lines written to `fd` (at most the last 256 KiB), and how many lines it has.
    static func tail(of fd: Int32, maxLines: Int) -> (String, Int) {
        let size = Int(lseek(fd, 0, SEEK_END))
        guard size > 0 else { return ("", 0) }
        var bytes = [UInt8](repeating: 0, count: size)
        var got = 0
        while got < size {
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + got, size - got, off_t(got)) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            got += n
        }
        let text = String(decoding: bytes[0..<got], as: UTF8.self)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let count = lines.count - (text.hasSuffix("\n") ? 1 : 0)
        var kept = lines.suffix(maxLines + (text.hasSuffix("\n") ? 1 : 0)).joined(separator: "\n")
        if kept.utf8.count > 262_144 { kept = String(decoding: kept.utf8.suffix(262_144), as: UTF8.self) }
        return (kept, count)
    }
}

/// os3ctl's own environment as a dictionary (a [build] or [test] `env` is added to it).
func inheritedEnvironment() -> [String: String] {
    var result: [String: String] = [:]
    var entry = environ
    while let pointer = entry.pointee {
        let pair = String(cString: pointer)
        if let eq = pair.firstIndex(of: "=") { result[String(pair[..<eq])] = String(pair[pair.index(after: eq)...]) }
        entry += 1
    }
    return result
}
