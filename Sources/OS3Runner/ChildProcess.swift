import COS3Sys
import Dispatch
import FoundationEssentials
import Glibc
import OS3Core

/// A child process in its own process group, with a parent-death signal, so that no QEMU or hog
/// outlives os3ctl whatever kills it. Spawned with fork+exec in C (no shell ever interprets input).
public final class ChildProcess: @unchecked Sendable {
    public let pid: pid_t
    /// Readable once the process has exited (pidfd), or -1 where the kernel lacks pidfd_open.
    public let exitFD: Int32
    private let lock = Lock()
    private var reaped: ProcessEnd?

    init(pid: pid_t) {
        self.pid = pid
        self.exitFD = os3_pidfd_open(pid)
        LiveProcesses.shared.add(pid)
    }

    deinit {
        if exitFD >= 0 { close(exitFD) }
    }

    /// Starts `argv[0]` (an absolute path or a name looked up in PATH). `fd3`, if given, is the
    /// child's fd 3 (QEMU's QMP socket); no other descriptor of os3ctl's reaches the child.
    public static func spawn(_ argv: [String], stdin: Int32 = -1, stdout: Int32 = -1, stderr: Int32 = -1, fd3: Int32 = -1,
                             environment: [String: String]? = nil, directory: String? = nil) throws -> ChildProcess {
        guard let first = argv.first else { throw OS3Error(.usage, "empty command") }
        guard let path = resolveExecutable(first) else {
            throw SpawnError(errno: ENOENT, program: first)
        }
        // nil: the child inherits os3ctl's environment as it is (`environ`).
        let env = environment?.map { "\($0.key)=\($0.value)" }
        let (pid, err) = Spawner.shared.spawn(path: path, argv: argv, env: env, cwd: directory,
                                              fds: (stdin, stdout, stderr), fd3: fd3)
        guard pid > 0 else { throw SpawnError(errno: err, program: first) }
        return ChildProcess(pid: pid)
    }

    /// Non-blocking check: the end, if the process has exited (and is then reaped).
    public func poll() -> ProcessEnd? { reap(flags: WNOHANG) }

    /// Blocks until the process exits.
    public func wait() -> ProcessEnd { reap(flags: 0)! }

    /// Waits up to `seconds` for the process to exit.
    public func wait(upTo seconds: Double) -> ProcessEnd? {
        let deadline = Clock.now + seconds
        while true {
            if let end = poll() { return end }
            let left = deadline - Clock.now
            if left <= 0 { return nil }
            if exitFD >= 0 {
                var p = pollfd(fd: exitFD, events: Int16(POLLIN), revents: 0)
                _ = Glibc.poll(&p, 1, Int32(max(1, min(left * 1000, 1000))))
            } else {
                usleep(UInt32(min(left, 0.005) * 1_000_000))
            }
        }
    }

    /// Waits for the process, but stops it (kill ladder) and throws if os3ctl is interrupted.
    public func waitUnlessInterrupted(what: String) throws -> ProcessEnd {
        let interruptFD = Interrupts.install()
        while true {
            if let end = poll() { return end }
            if let sig = Interrupts.signal {
                terminate()
                throw OS3Error(.interrupted, "\(what) stopped: os3ctl received \(signalName(sig))")
            }
            var fds = [pollfd(fd: interruptFD, events: Int16(POLLIN), revents: 0)]
            if exitFD >= 0 { fds.append(pollfd(fd: exitFD, events: Int16(POLLIN), revents: 0)) }
            _ = Glibc.poll(&fds, nfds_t(fds.count), exitFD >= 0 ? 1000 : 20)
        }
    }

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
        var r: pid_t
        repeat { r = waitpid(pid, &status, flags) } while r < 0 && errno == EINTR
        guard r == pid else {
            if r < 0 { reaped = .failedToStart("waitpid: \(String(cString: strerror(errno)))") }
            return reaped
        }
        // WIFEXITED / WIFSIGNALED, spelled out (the macros are not imported).
        let end: ProcessEnd = (status & 0x7f) == 0 ? .exited((status >> 8) & 0xff) : .signaled(status & 0x7f)
        reaped = end
        LiveProcesses.shared.remove(pid)
        return end
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

    /// SIGKILLs every live child's process group (used on the way out).
    func killAll() {
        lock.lock()
        let all = pids
        lock.unlock()
        for pid in all { _ = kill(-pid, SIGKILL) }
    }
}

/// PR_SET_PDEATHSIG fires when the *thread* that forked the child exits, not the process. Forking
/// from a pool thread that later retires would kill a healthy QEMU, so every fork happens on this
/// one thread, which lives as long as os3ctl — or on the main thread, which does too.
final class Spawner: @unchecked Sendable {
    static let shared = Spawner()

    private struct Request {
        var path: String
        var argv: [String]
        var env: [String]?
        var cwd: String?
        var fds: (Int32, Int32, Int32)
        var fd3: Int32
        var done: (pid_t, Int32) -> Void
    }

    private let condition = Condition()
    private var queue: [Request] = []
    private var threadStarted = false

    private init() {}

    func spawn(path: String, argv: [String], env: [String]?, cwd: String?, fds: (Int32, Int32, Int32), fd3: Int32 = -1) -> (pid_t, Int32) {
        // The main thread lives as long as os3ctl, so it may fork itself: no hand-over to the
        // spawner thread (two wake-ups, each late by a scheduler slice on a loaded host).
        if os3_is_main_thread() == 1 {
            return Self.forkExec(Request(path: path, argv: argv, env: env, cwd: cwd, fds: fds, fd3: fd3) { _, _ in })
        }
        let semaphore = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result: (pid_t, Int32) = (-1, 0)
        condition.lock()
        if !threadStarted {
            threadStarted = true
            startThread(name: "os3ctl-spawner") { [unowned self] in self.loop() }
        }
        queue.append(Request(path: path, argv: argv, env: env, cwd: cwd, fds: fds, fd3: fd3) { pid, err in
            result = (pid, err)
            semaphore.signal()
        })
        condition.signal()
        condition.unlock()
        semaphore.wait()
        return result
    }

    private func loop() {
        while true {
            condition.lock()
            while queue.isEmpty { condition.wait() }
            let request = queue.removeFirst()
            condition.unlock()
            let (pid, err) = Self.forkExec(request)
            request.done(pid, err)
        }
    }

    private static func forkExec(_ r: Request) -> (pid_t, Int32) {
        var cArgs: [UnsafeMutablePointer<CChar>?] = r.argv.map { strdup($0) } + [nil]
        var cEnv: [UnsafeMutablePointer<CChar>?]? = r.env.map { $0.map { strdup($0) } + [nil] }
        defer {
            cArgs.forEach { free($0) }
            cEnv?.forEach { free($0) }
        }
        var err: Int32 = 0
        let pid = cArgs.withUnsafeMutableBufferPointer { a in
            guard cEnv != nil else { return os3_spawn_with_fd3(r.path, a.baseAddress, environ, r.cwd, r.fds.0, r.fds.1, r.fds.2, r.fd3, &err) }
            return cEnv!.withUnsafeMutableBufferPointer { e in
                os3_spawn_with_fd3(r.path, a.baseAddress, e.baseAddress, r.cwd, r.fds.0, r.fds.1, r.fds.2, r.fd3, &err)
            }
        }
        return (pid, err)
    }
}

/// Monotonic time in seconds.
public enum Clock {
    public static var now: Double { Double(os3_monotonic_ns()) / 1e9 }
}
