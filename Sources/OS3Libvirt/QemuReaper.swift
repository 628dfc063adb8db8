import COS3Sys
import FoundationEssentials
import Glibc
import OS3Core
import OS3Runner

/// QEMU's real exit status under the embedded driver. libvirt daemonises QEMU (its intermediate
/// parent exits), so with os3ctl a child subreaper QEMU is re-parented to os3ctl, which can
/// `waitpid` it. libvirt itself only learns "QEMU went away" (STOPPED/failed).
///
/// Watching starts before `virDomainCreateXML`: a QEMU that dies at start-up must be reaped at once,
/// or it stays a zombie and libvirt, waiting for it to go away, hangs the create.
final class QemuReaper: @unchecked Sendable {
    private let pidFile: String
    private let mailbox: BootMailbox
    private let lock = Lock()
    private var cancelled = false
    private var foundPid: pid_t = 0

    /// Makes os3ctl a child subreaper (once; harmless to repeat), and starts the orphan sweeper.
    static let becameSubreaper: Bool = {
        guard os3_set_child_subreaper() == 0 else { return false }
        startThread(name: "os3ctl-orphans") { sweepOrphans() }
        return true
    }()

    /// Pid files of the QEMUs reapers are waiting for: their QEMUs are theirs to reap, never the sweeper's.
    private static let watched = Lock()
    nonisolated(unsafe) private static var watchedPidFiles: [String: Int] = [:]
    nonisolated(unsafe) private static var watchedPids: Set<pid_t> = []

    init(pidFile: String, mailbox: BootMailbox) {
        self.pidFile = pidFile
        self.mailbox = mailbox
        Self.watched.lock(); Self.watchedPidFiles[pidFile, default: 0] += 1; Self.watched.unlock()
        startThread(name: "os3ctl-qemu-reaper") { [self] in
            self.run()
            Self.watched.lock()
            Self.watchedPids.remove(self.pid)
            Self.watchedPidFiles[self.pidFile, default: 1] -= 1
            if Self.watchedPidFiles[self.pidFile] == 0 { Self.watchedPidFiles[self.pidFile] = nil }
            Self.watched.unlock()
        }
    }

    /// As a subreaper os3ctl also inherits libvirt's other daemonised QEMUs (its capability probes).
    /// Left as zombies they never "go away", and libvirt, waiting for that, stalls for seconds per
    /// probe (a test process that hosts embedded boots stalled for minutes). So every zombie
    /// `qemu-system-*` child that no reaper is waiting for is reaped here, every 50 ms.
    private static func sweepOrphans() {
        let me = getpid()
        while true {
            usleep(50_000)
            var zombies: [pid_t] = []
            for name in Path.entries("/proc") ?? [] {
                guard let pid = pid_t(name), let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                      let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")") else { continue }
                let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
                guard fields.count > 1, fields[0] == "Z", pid_t(fields[1]) == me,
                      stat[stat.index(after: open)..<close].hasPrefix("qemu-system") else { continue }
                zombies.append(pid)
            }
            guard !zombies.isEmpty else { continue }
            watched.lock()
            let files = Array(watchedPidFiles.keys)
            var theirs = watchedPids
            watched.unlock()
            theirs.formUnion(files.compactMap { file in
                (try? String(contentsOfFile: file, encoding: .utf8)).flatMap { pid_t($0.filter { !$0.isWhitespace }) }
            })
            for pid in zombies where !theirs.contains(pid) {
                var status: Int32 = 0
                _ = waitpid(pid, &status, WNOHANG)
            }
        }
    }

    /// QEMU's pid once known (0 before).
    var pid: pid_t {
        lock.lock(); defer { lock.unlock() }
        return foundPid
    }

    /// Stops waiting for a pid file that will never appear (the create failed before QEMU ran).
    func cancel() {
        lock.lock(); cancelled = true; lock.unlock()
    }

    private var isCancelled: Bool {
        lock.lock(); defer { lock.unlock() }
        return cancelled
    }

    private func run() {
        // 1. The pid file (written by libvirt before it execs QEMU).
        var pid: pid_t = 0
        while pid == 0 {
            if let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
               let p = pid_t(text.filter { !$0.isWhitespace }), p > 0 {
                pid = p
                break
            }
            if isCancelled { return }
            usleep(1000)
        }
        lock.lock(); foundPid = pid; lock.unlock()
        Self.watched.lock(); Self.watchedPids.insert(pid); Self.watched.unlock()
        // libvirt started this QEMU, not os3ctl's supervisors: a watchdog kills it if os3ctl dies
        // (SIGKILL included) before it ends; released once it has.
        let watchdog = ProcessWatchdog(target: pid)
        defer { watchdog?.release() }
        // 2. Until its intermediate parent exits, QEMU is not yet os3ctl's child (ECHILD): retry.
        var status: Int32 = 0
        let giveUp = Clock.now + 10
        while true {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid { break }
            if r == 0 {
                // Ours and running: now block until it exits.
                var s: Int32 = 0
                var w: pid_t
                repeat { w = waitpid(pid, &s, 0) } while w < 0 && errno == EINTR
                if w == pid { status = s; break }
                mailbox.post(.exitUnknown("waitpid(\(pid)): \(String(cString: strerror(errno)))"))
                return
            }
            if errno == EINTR { continue }
            // ECHILD: not (yet) re-parented to us, or already reaped by someone else.
            if kill(pid, 0) != 0 && errno == ESRCH {
                mailbox.post(.exitUnknown("QEMU (pid \(pid)) was reaped by another process"))
                return
            }
            if Clock.now > giveUp || !QemuReaper.becameSubreaper {
                mailbox.post(.exitUnknown("QEMU (pid \(pid)) is not a child of os3ctl (no subreaper)"))
                return
            }
            usleep(500)
        }
        // WIFEXITED / WIFSIGNALED, spelled out.
        let end: ProcessEnd = (status & 0x7f) == 0 ? .exited((status >> 8) & 0xff) : .signaled(status & 0x7f)
        mailbox.post(.exited(end))
    }
}
