import FoundationEssentials
import Glibc
import OS3Core

/// The git repository a project lives in, read through the `git` command (no shell). Every
/// command here only reads the user's checkout, except `worktree add/remove`, which record the
/// scratch worktree in the repository's .git/worktrees (never its HEAD, index or working tree).
public struct GitRepository: Sendable {
    /// The top of the user's working tree.
    public let top: String
    /// The project's root relative to `top`, "" or ending in "/".
    public let prefix: String

    /// The repository that contains `directory` (a project's root).
    public static func containing(_ directory: String) throws -> GitRepository {
        let top: String
        do {
            top = try git(["rev-parse", "--show-toplevel"], in: directory)
        } catch let e as OS3Error where e.code != .toolMissing && e.code != .interrupted {
            throw OS3Error(.notFound, "the project at \(directory) is not in a git repository: bisect checks out the project's history",
                           fix: "run it in a git checkout of the project (or point --project at one)")
        }
        let prefix = try git(["rev-parse", "--show-prefix"], in: directory)
        return GitRepository(top: top, prefix: prefix)
    }

    /// The full hash of the commit `revision` names; a clear exit-2 error naming the option if none.
    public func resolve(_ revision: String, option: String) throws -> String {
        // "--end-of-options" keeps a revision that starts with "-" from being read as an option.
        do {
            return try git(["rev-parse", "--verify", "--quiet", "--end-of-options", "\(revision)^{commit}"], in: top)
        } catch let e as OS3Error where e.code != .toolMissing && e.code != .interrupted {
            throw OS3Error(.usage, "\(option) \(revision): no such commit in \(top)",
                           fix: "give a commit, branch or tag of this repository (e.g. \(option) HEAD~10; `git log --oneline` lists them)")
        }
    }

    public func isAncestor(_ older: String, of newer: String) throws -> Bool {
        let child = try Self.spawn(["merge-base", "--is-ancestor", older, newer], in: top)
        return child.end == .exited(0)
    }

    /// The first-parent chain from `good` (exclusive) to `bad` (inclusive), oldest first.
    public func firstParentChain(from good: String, to bad: String) throws -> [String] {
        try Self.git(["rev-list", "--first-parent", "--reverse", bad, "^\(good)"], in: top)
            .split(separator: "\n").map(String.init)
    }

    public func subject(_ commit: String) throws -> String {
        try Self.git(["log", "-1", "--format=%s", commit], in: top)
    }

    func git(_ args: [String], in directory: String) throws -> String { try Self.git(args, in: directory) }

    /// Runs git and returns its stdout without the final newline; throws with its stderr if it fails.
    /// Hooks are off: a checkout in the scratch worktree must run nothing of the user's.
    static func git(_ args: [String], in directory: String) throws -> String {
        let result = try spawn(args, in: directory)
        guard result.end == .exited(0) else {
            let why = result.stderr.isEmpty ? Project.describe(result.end) : result.stderr
            throw OS3Error(.io, "`git \(Project.shellWords(args))` failed in \(directory): \(why)")
        }
        return result.stdout.hasSuffix("\n") ? String(result.stdout.dropLast()) : result.stdout
    }

    static func spawn(_ args: [String], in directory: String) throws -> (end: ProcessEnd, stdout: String, stderr: String) {
        let out = Project.anonymousFile(), err = Project.anonymousFile()
        defer { if out >= 0 { close(out) }; if err >= 0 { close(err) } }
        guard out >= 0, err >= 0 else { throw OS3Error(.io, "cannot create a temporary file for git's output: \(String(cString: strerror(errno)))") }
        let child: ChildProcess
        do {
            child = try ChildProcess.spawn(["git", "-c", "core.hooksPath=/dev/null"] + args, stdin: -1, stdout: out, stderr: err, directory: directory)
        } catch let error as SpawnError {
            throw OS3Error(.toolMissing, "bisect needs git: \(error.description)", fix: "install git (apt-get install git)")
        }
        // Not cut short by an interrupt: git's short commands (and the clean-up after an
        // interrupt) must finish, or they leave the repository's worktree list half-written.
        let end = child.wait()
        let stderr = readAll(err).split(separator: "\n").suffix(20).joined(separator: "\n")
        return (end, readAll(out), stderr)
    }

    /// Everything written to `fd` (a temporary file) so far.
    static func readAll(_ fd: Int32) -> String {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        var offset: off_t = 0
        while true {
            let n = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, $0.count, offset) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            bytes += chunk[0..<n]
            offset += off_t(n)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// A detached worktree of the user's repository in a scratch directory, where each revision is
/// checked out, built and booted. One worktree serves the whole search, so the embedded-swift
/// builder's fingerprinted output (kept between checkouts) is rebuilt only when the kernel changed.
/// `remove()` deletes it and its record in .git/worktrees; the user's checkout is never touched.
public final class ScratchWorktree: @unchecked Sendable {
    public let repository: GitRepository
    public let path: String
    private var removed = false

    /// A new worktree under `directory` (created if needed), checked out at `commit`.
    public init(repository: GitRepository, under directory: String, at commit: String) throws {
        self.repository = repository
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var template = Array("\(directory)/scratch-\(getpid())-XXXXXX".utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
            throw OS3Error(.io, "cannot create a scratch directory in \(directory): \(String(cString: strerror(errno)))",
                           fix: "make the state directory writable, or pass --state-dir DIR")
        }
        path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        do {
            // mkdtemp made the directory; git adds into an existing directory only when it is empty.
            _ = try repository.git(["worktree", "add", "--detach", "--force", path, commit], in: repository.top)
        } catch {
            rmdir(path)
            throw error
        }
    }

    /// Removes the scratch worktrees under `directory` that an os3ctl no longer running left behind
    /// (killed with SIGKILL, it could not clean up): their directories, and their entries in this
    /// repository's worktree list. Returns the paths removed.
    @discardableResult
    public static func removeStale(under directory: String, repository: GitRepository) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var removed: [String] = []
        for name in names where name.hasPrefix("scratch-") {
            let parts = name.split(separator: "-")
            // Still running (or the pid was reused): left alone.
            guard parts.count == 3, let pid = Int32(parts[1]), pid != getpid(), kill(pid, 0) != 0, errno == ESRCH else { continue }
            let path = "\(directory)/\(name)"
            try? FileManager.default.removeItem(atPath: path)
            if !Path.exists(path) { removed.append(path) }
        }
        if !removed.isEmpty { _ = try? repository.git(["worktree", "prune"], in: repository.top) }
        return removed
    }

    /// The project's root inside the worktree.
    public var projectRoot: String { Path.standardize("\(path)/\(repository.prefix)") }

    /// Checks out `commit` and removes everything untracked except the embedded-swift builder's
    /// fingerprinted output (an image another revision left would otherwise be booted as this one's).
    public func checkout(_ commit: String) throws {
        _ = try repository.git(["checkout", "--quiet", "--force", "--detach", commit], in: path)
        _ = try repository.git(["clean", "-ffdxq", "-e", "/\(repository.prefix).build/os3/kernel/"], in: path)
    }

    /// Removes the worktree and its record; safe to call twice. Failures are returned, not thrown:
    /// it runs on the way out, also after an interrupt.
    @discardableResult
    public func remove() -> String? {
        guard !removed else { return nil }
        removed = true
        var problem: String?
        do {
            _ = try repository.git(["worktree", "remove", "--force", "--force", path], in: repository.top)
        } catch {
            problem = "\(error)"
            try? FileManager.default.removeItem(atPath: path)
            _ = try? repository.git(["worktree", "prune"], in: repository.top)
        }
        return Path.exists(path) ? (problem ?? "\(path) is still there") : nil
    }

    deinit { remove() }
}
