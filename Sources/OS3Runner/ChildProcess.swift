import COS3Sys
import Dispatch
import FoundationEssentials
import Glibc
import OS3Core

/// A child process in its own process group, under its own supervisor, so that nothing it starts
/// outlives os3ctl whatever kills os3ctl (SIGKILL included). Spawned with fork+exec in C (no shell
/// ever interprets input).
///
/// The supervisor (`os3_spawn_supervised`, Sources/COS3Sys) is os3ctl's direct child and the
/// child's parent, a child subreaper: everything the child starts stays its descendant, even
/// through setsid or a double fork. It reports the child's exit status, then kills and reaps
/// whatever the child left; and when os3ctl's end of its life pipe closes (os3ctl exited or was
/// killed: the kernel closes it) it kills the child and the whole tree at once.
public final class ChildProcess: @unchecked Sendable {
    public let pid: pid_t
    /// Readable once the process has ended (its supervisor's report pipe).
    public let exitFD: Int32
    private let supervisor: pid_t
    private let lock = Lock()
    private var lifeFD: Int32
    private var reaped: ProcessEnd?

    private init(_ s: os3_supervised) {
        self.pid = s.pid
        self.exitFD = s.report_fd
        self.supervisor = s.supervisor
        self.lifeFD = s.life_fd
        LiveProcesses.shared.add(pid)
    }

    deinit {
        // Unreaped (a caller gave up on it): closing the life pipe makes the supervisor end it all.
        if lifeFD >= 0 { close(lifeFD) }
        close(exitFD)
    }

    /// Starts `argv[0]` (an absolute path or a name looked up in PATH). `fd3`, if given, is the
    /// child's fd 3 (QEMU's QMP socket); no other descriptor of os3ctl's reaches the child.
    public static func spawn(_ argv: [String], stdin: Int32 = -1, stdout: Int32 = -1, stderr: Int32 = -1, fd3: Int32 = -1,
                             environment: [String: String]? = nil, directory: String? = nil) throws -> ChildProcess {
        guard let first = argv.first else { throw OS3Error(.usage, "empty command") }
        guard let path = resolveExecutable(first) else {
            throw SpawnError(errno: ENOENT, program: first)
        }
        var started = os3_supervised()
        let r = withExecArguments(argv, environment) { a, e in
            os3_spawn_supervised(path, a, e, directory, stdin, stdout, stderr, fd3, &started)
        }
        guard r == 0 else { throw SpawnError(errno: started.child_errno != 0 ? started.child_errno : errno, program: first) }
        return ChildProcess(started)
    }

    /// Non-blocking check: the end, if the process has exited (and is then reaped).
    public func poll() -> ProcessEnd? { reap(flags: WNOHANG) }

    /// Blocks until the process exits.
    public func wait() -> ProcessEnd { reap(flags: 0)! }

    /// Waits up to `seconds` for the process to exit (not cut short by an interrupt: the kill
    /// ladder uses it to give a child its grace).
    public func wait(upTo seconds: Double) -> ProcessEnd? {
        let deadline = Clock.now + seconds
        while true {
            if let end = poll() { return end }
            let left = deadline - Clock.now
            if left <= 0 { return nil }
            var p = pollfd(fd: exitFD, events: Int16(POLLIN), revents: 0)
            _ = Glibc.poll(&p, 1, Int32(max(1, min(left * 1000, 1000))))
        }
    }

    /// Waits for the process, but stops it (kill ladder) and throws if `cancellation` fires first
    /// (an interrupt, or its deadline).
    public func wait(what: String, cancellation: Cancellation = Cancellation()) throws -> ProcessEnd {
        while true {
            if let end = poll() { return end }
            var fds = [pollfd(fd: exitFD, events: Int16(POLLIN), revents: 0)]
            switch cancellation.wait(&fds) {
            case nil: continue
            case .interrupted(let sig):
                terminate()
                throw OS3Error(.interrupted, "\(what) stopped: os3ctl received \(signalName(sig))")
            case .deadline:
                terminate()
                throw OS3Error(.io, "\(what) did not finish in time and was stopped")
            }
        }
    }

    /// Waits for the process, but stops it (kill ladder) and throws if os3ctl is interrupted.
    public func waitUnlessInterrupted(what: String) throws -> ProcessEnd { try wait(what: what) }

    /// The kill ladder, each step bounded: ask (SIGINT, which QEMU and most tools take as "quit
    /// cleanly"), then SIGTERM, then SIGKILL — always to the whole process group, and always
    /// ending with SIGKILL to the group so nothing the child started lingers. Always reaps.
    @discardableResult
    public func terminate(grace: Double = 0.5) -> ProcessEnd {
        if let end = poll() { killGroup(SIGKILL); return end }
        for signal in [SIGINT, SIGTERM] {
            killGroup(signal)
            if let end = wait(upTo: grace / 2) { killGroup(SIGKILL); return end }
        }
        killGroup(SIGKILL)
        return wait()
    }

    /// Signals every process of the child's group (the child and anything it started).
    public func killGroup(_ signal: Int32) {
        _ = kill(-pid, signal)
    }

    private func reap(flags: Int32) -> ProcessEnd? {
        lock.lock()
        defer { lock.unlock() }
        if let reaped { return reaped }
        var status: Int32 = 0
        let r = os3_supervised_status(exitFD, flags & WNOHANG != 0 ? 0 : 1, &status)
        if r == 0 { return nil }
        let end: ProcessEnd
        if r < 0 {
            // Only SIGKILL from outside ends a supervisor early; take the child's group with it.
            _ = kill(-pid, SIGKILL)
            end = .failedToStart("its supervisor process (pid \(supervisor)) was killed: the exit status is lost")
        } else {
            // WIFEXITED / WIFSIGNALED, spelled out (the macros are not imported).
            end = (status & 0x7f) == 0 ? .exited((status >> 8) & 0xff) : .signaled(status & 0x7f)
        }
        // The supervisor exits once the rest of the tree is gone (at once when there is none).
        var s: Int32 = 0
        while waitpid(supervisor, &s, 0) < 0 && errno == EINTR {}
        close(lifeFD)
        lifeFD = -1
        reaped = end
        LiveProcesses.shared.remove(pid)
        return end
    }
}

/// Kills a process os3ctl did not start (the embedded libvirt driver's QEMU, re-parented to
/// os3ctl) if os3ctl ends while it runs, SIGKILL of os3ctl included (`os3_watch`).
public final class ProcessWatchdog: @unchecked Sendable {
    private let lock = Lock()
    private var watchdog: pid_t = -1
    private var lifeFD: Int32 = -1

    /// nil if the watchdog cannot be started (the target is gone already, or fork failed).
    public init?(target: pid_t) {
        guard os3_watch(target, &watchdog, &lifeFD) == 0 else { return nil }
    }

    /// The target ended or is no longer ours to kill: the watchdog exits without touching it.
    public func release() {
        lock.lock()
        defer { lock.unlock() }
        guard lifeFD >= 0 else { return }
        var byte: UInt8 = 1
        _ = write(lifeFD, &byte, 1)
        close(lifeFD)
        lifeFD = -1
        var status: Int32 = 0
        while waitpid(watchdog, &status, 0) < 0 && errno == EINTR {}
    }

    deinit { release() }
}

/// `argv` and `environment` as the NULL-terminated C arrays exec takes, for the length of `body`;
/// a nil environment is os3ctl's own (`environ`), inherited as it is.
func withExecArguments<R>(_ argv: [String], _ environment: [String: String]?,
                          _ body: (UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> R) -> R {
    var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
    var cEnv: [UnsafeMutablePointer<CChar>?]? = environment.map { $0.map { strdup("\($0.key)=\($0.value)") } + [nil] }
    defer {
        cArgs.forEach { free($0) }
        cEnv?.forEach { free($0) }
    }
    return cArgs.withUnsafeMutableBufferPointer { a in
        guard cEnv != nil else { return body(a.baseAddress, environ) }
        return cEnv!.withUnsafeMutableBufferPointer { e in body(a.baseAddress, e.baseAddress) }
    }
}

public struct SpawnError: Error, CustomStringConvertible {
    public var errno: Int32
    public var program: String
    public var description: String {
        errno == ENOENT ? "cannot run '\(program)': no such file (is it installed and on PATH?)"
            : "cannot run '\(program)': \(String(cString: strerror(errno)))"
    }
}

/// Finds a program the way execvp would, but up front so the error is clear.
public func resolveExecutable(_ name: String) -> String? {
    if name.contains("/") { return access(name, X_OK) == 0 ? name : nil }
    let path = environmentValue("PATH") ?? "/usr/local/bin:/usr/bin:/bin"
    for dir in path.split(separator: ":") where !dir.isEmpty {
        let candidate = "\(dir)/\(name)"
        var st = stat()
        if access(candidate, X_OK) == 0, stat(candidate, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG { return candidate }
    }
    return nil
}

/// Every child os3ctl has started and not yet reaped, so an interrupt can take them all down.
final class LiveProcesses: @unchecked Sendable {
    static let shared = LiveProcesses()
    private let lock = Lock()
    private var pids: Set<pid_t> = []

    func add(_ pid: pid_t) { lock.lock(); pids.insert(pid); lock.unlock() }
    func remove(_ pid: pid_t) { lock.lock(); pids.remove(pid); lock.unlock() }

    /// SIGKILLs every live child's process group (used on the way out); their supervisors then
    /// take down the rest of each tree, as they do when os3ctl's end of their life pipe closes.
    func killAll() {
        lock.lock()
        let all = pids
        lock.unlock()
        for pid in all { _ = kill(-pid, SIGKILL) }
    }
}

/// Monotonic time in seconds.
public enum Clock {
    public static var now: Double { Double(os3_monotonic_ns()) / 1e9 }
}
