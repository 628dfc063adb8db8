import COS3Sys
import FoundationEssentials
import Glibc

/// Cancels a submitted LAVA job if os3ctl dies before the job ends, SIGKILL included: nothing of a
/// boot may outlive os3ctl, and a job left running holds a device until LAVA's own timeout.
///
/// A small `sh` in a session of its own (started through `setsid -f`, so neither os3ctl's
/// parent-death signal nor its supervisors reach it) waits on a pipe whose only writer is os3ctl.
/// A line: os3ctl saw the job end (or cancelled it) and releases the watcher, which exits. End of
/// file: os3ctl is gone; the watcher cancels the job and removes lavacli's private identity, which
/// os3ctl can no longer remove.
final class LAVAJobWatchdog {
    private var lifeFD: Int32

    /// nil when the watcher cannot be started (the boot goes on, as it did before watchers).
    init?(jobID: String, identityDirectory: String) {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { return nil }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        let script = """
            trap '' INT TERM HUP
            if read -r _; then exit 0; fi
            lavacli jobs cancel "$1" >/dev/null 2>&1
            rm -rf "$XDG_CONFIG_HOME"
            """
        guard let setsid = resolveExecutable("setsid") else { close(fds[0]); close(fds[1]); return nil }
        var env = ProcessInfo.processInfo.environment
        env["XDG_CONFIG_HOME"] = identityDirectory
        // os3_spawn, not ChildProcess: a supervisor kills what its child leaves behind.
        var childErrno: Int32 = 0
        let pid = withExecArguments([setsid, "-f", "sh", "-c", script, "os3ctl-lava-watch", jobID], env) { a, e in
            os3_spawn(setsid, a, e, nil, fds[0], -1, -1, &childErrno)
        }
        close(fds[0])
        guard pid > 0 else { close(fds[1]); return nil }
        // `setsid -f` forks the watcher and returns at once.
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        lifeFD = fds[1]
    }

    /// The job ended (or os3ctl cancelled it): the watcher exits without touching it.
    func release() {
        guard lifeFD >= 0 else { return }
        var line: UInt8 = 10
        _ = write(lifeFD, &line, 1)
        close(lifeFD)
        lifeFD = -1
    }

    deinit { release() }
}
