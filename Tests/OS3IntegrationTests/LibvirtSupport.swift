import COS3Sys
import Foundation
import Testing
import OS3Core
import OS3Libvirt
import OS3Runner

extension Tag {
    /// Boots through libvirt (the embedded driver, and libvirtd daemons the tests start themselves).
    @Tag static var libvirt: Self
}

/// A libvirtd the tests start and stop themselves: a real daemon with a private configuration,
/// state, sockets and logs, in its own mount and PID namespaces (so it neither sees nor touches the
/// host's /etc/libvirt, /run/libvirt or /var/lib/libvirt, and killing its namespace's init takes
/// the daemon and every QEMU it started down with it). Its capabilities cache is kept across test
/// runs (/var/tmp), which turns a cold start (QEMU probed, ~10 s) into a warm one (~0.1 s).
final class TestLibvirtd: @unchecked Sendable {
    enum Role: String { case local, remote }

    let role: Role
    let directory: String
    let uri: String
    /// For `remote`: the directories hidden from the daemon (it cannot read the kernel image
    /// where os3ctl has it: the image must be uploaded).
    let hidden: [String]
    private let process: ChildProcess

    /// The namespace's init: sets up the private mounts, then runs libvirtd as its child and reaps
    /// every orphan (QEMU is daemonised by libvirt and re-parented to it), promptly.
    static let initScript = """
    #!/bin/sh
    # $1 = private directory, $2 = capabilities cache, $3... = directories to hide from the daemon
    set -e
    D=$1; C=$2; shift 2
    for d in /run /var/lib /var/cache /var/log; do mount -t tmpfs -o mode=0755 tmpfs "$d"; mkdir -p "$d/libvirt"; done
    mkdir -p /run/lock
    mount --bind "$D/etc" /etc/libvirt
    mount --bind "$D/run" /run/libvirt
    mount --bind "$D/lib" /var/lib/libvirt
    mount --bind "$C" /var/cache/libvirt
    mount --bind "$D/log" /var/log/libvirt
    for h in "$@"; do mount -t tmpfs tmpfs "$h"; done
    libvirtd $OS3_LIBVIRTD_LISTEN -f /etc/libvirt/libvirtd.conf -p /run/libvirt/libvirtd.pid
    exit $?
    """

    /// nil when this machine can run test daemons, else why not.
    static let unavailable: String? = {
        if geteuid() != 0 { return "starting a private libvirtd needs root (mount and PID namespaces)" }
        if resolveExecutable("unshare") == nil { return "unshare (util-linux) is missing" }
        if resolveExecutable("libvirtd") == nil && !FileManager.default.isExecutableFile(atPath: "/usr/sbin/libvirtd") {
            return "libvirtd is missing (bash .ci/setup installs libvirt-daemon)"
        }
        return nil
    }()

    private init(role: Role, directory: String, uri: String, hidden: [String], process: ChildProcess) {
        self.role = role
        self.directory = directory
        self.uri = uri
        self.hidden = hidden
        self.process = process
    }

    /// Starts a daemon; returns once it answers (or throws with its log).
    static func start(_ role: Role, hide: [String] = []) throws -> TestLibvirtd {
        let fm = FileManager.default
        let dir = fm.temporaryDirectory.appendingPathComponent("os3-libvirtd-\(role.rawValue)-\(getpid())-\(UUID().uuidString.prefix(6))").path
        for sub in ["etc", "run", "lib/images", "log"] {
            try fm.createDirectory(atPath: "\(dir)/\(sub)", withIntermediateDirectories: true)
        }
        let cache = "/var/tmp/os3ctl-test-libvirtd-cache-\(role.rawValue)"
        try fm.createDirectory(atPath: cache, withIntermediateDirectories: true)
        let port = role == .remote ? try freeLoopbackPort() : 0
        var conf = """
        unix_sock_dir = "/run/libvirt"
        unix_sock_rw_perms = "0700"
        auth_unix_rw = "none"
        auth_unix_ro = "none"
        listen_tls = 0
        log_outputs = "3:file:/var/log/libvirt/libvirtd.log"

        """
        if role == .remote {
            conf += "listen_tcp = 1\nlisten_addr = \"127.0.0.1\"\ntcp_port = \"\(port)\"\nauth_tcp = \"none\"\n"
        }
        try conf.write(toFile: "\(dir)/etc/libvirtd.conf", atomically: true, encoding: .utf8)
        // QEMU as root without labelling, cgroups or virtlogd (as for the embedded driver).
        try "user = \"root\"\ngroup = \"root\"\ndynamic_ownership = 0\nsecurity_driver = \"none\"\nstdio_handler = \"file\"\ncgroup_controllers = [ ]\n"
            .write(toFile: "\(dir)/etc/qemu.conf", atomically: true, encoding: .utf8)
        try initScript.write(toFile: "\(dir)/init.sh", atomically: true, encoding: .utf8)
        chmod("\(dir)/init.sh", 0o755)
        let out = open("\(dir)/daemon.out", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        defer { close(out) }
        var env = ProcessInfo.processInfo.environment
        env["OS3_LIBVIRTD_LISTEN"] = role == .remote ? "--listen" : ""
        env["LIBVIRT_LOG_OUTPUTS"] = nil
        // --kill-child: the namespace (daemon and QEMUs) dies with unshare, which dies with the tests.
        let child = try ChildProcess.spawn(["unshare", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc",
                                            "--propagation", "private", "\(dir)/init.sh", dir, cache] + hide,
                                           stdin: -1, stdout: out, stderr: out, environment: env)
        let uri = role == .remote ? "qemu+tcp://127.0.0.1:\(port)/system" : "qemu:///system?socket=\(dir)/run/libvirt-sock"
        let daemon = TestLibvirtd(role: role, directory: dir, uri: uri, hidden: hide, process: child)
        let deadline = Clock.now + 60
        var last = "not started"
        while Clock.now < deadline {
            if let end = child.poll() {
                throw OS3Error(.io, "test libvirtd (\(role)) exited \(end): \(daemon.log)")
            }
            if role == .local && !fm.fileExists(atPath: "\(dir)/run/libvirt-sock") {
                usleep(50_000)
                continue
            }
            switch LibvirtBackend.probe(uri) {
            case .success: return daemon
            case .failure(let e): last = e.message
            }
            usleep(100_000)
        }
        daemon.stop()
        throw OS3Error(.io, "test libvirtd (\(role)) did not answer within 60 s: \(last)\n\(daemon.log)")
    }

    /// The daemon's own output and log.
    var log: String {
        let out = (try? String(contentsOfFile: "\(directory)/daemon.out", encoding: .utf8)) ?? ""
        let log = (try? String(contentsOfFile: "\(directory)/log/libvirtd.log", encoding: .utf8)) ?? ""
        return (out + log).split(separator: "\n").suffix(20).joined(separator: "\n")
    }

    /// The namespace's processes (daemon, QEMUs) as pids on this host.
    var namespacePids: [Int32] {
        guard let nsInit = childPids(of: process.pid).first else { return [] }
        var all: [Int32] = [nsInit]
        var queue = [nsInit]
        while let p = queue.popLast() {
            let kids = childPids(of: p)
            all += kids
            queue += kids
        }
        return all
    }

    /// Kills the namespace's init (the kernel then kills every process in it) and unshare.
    func stop() {
        for pid in childPids(of: process.pid) { kill(pid, SIGKILL) }
        process.killGroup(SIGKILL)
        _ = process.wait(upTo: 10)
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// A TCP port on 127.0.0.1 that nothing listens on now.
    static func freeLoopbackPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw OS3Error(.io, "socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard ok else { throw OS3Error(.io, "bind: \(String(cString: strerror(errno)))") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}

/// Direct children of a process (from /proc).
func childPids(of parent: Int32) -> [Int32] {
    guard let tasks = try? String(contentsOfFile: "/proc/\(parent)/task/\(parent)/children", encoding: .utf8) else { return [] }
    return tasks.split(separator: " ").compactMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
}

/// The libvirt test environment: the two daemons (started together on first use, stopped when the
/// libvirt suite ends), and booting helpers.
enum LibvirtFixture {
    final class Daemons: @unchecked Sendable {
        let local: Result<TestLibvirtd, Error>
        let remote: Result<TestLibvirtd, Error>

        init() {
            // Both cold starts overlap (each probes QEMU once, ~10 s the very first time).
            nonisolated(unsafe) var remote: Result<TestLibvirtd, Error> = .failure(OS3Error(.io, "not started"))
            let kernelDir = (try? Fixture.kernelImage()).map { ($0 as NSString).deletingLastPathComponent }
            let thread = Thread {
                remote = Result { try TestLibvirtd.start(.remote, hide: [kernelDir, "/tmp"].compactMap { $0 }) }
            }
            thread.start()
            local = Result { try TestLibvirtd.start(.local) }
            while !thread.isFinished { usleep(10_000) }
            self.remote = remote
        }

        func stop() {
            if case .success(let d) = local { d.stop() }
            if case .success(let d) = remote { d.stop() }
        }
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var started: Daemons?

    /// The daemons (started on first call).
    static var daemons: Daemons {
        lock.lock()
        defer { lock.unlock() }
        if let started { return started }
        let d = Daemons()
        started = d
        return d
    }

    static func stopDaemons() {
        lock.lock()
        let d = started
        started = nil
        lock.unlock()
        d?.stop()
    }

    static func local() throws -> TestLibvirtd { try daemons.local.get() }
    static func remote() throws -> TestLibvirtd { try daemons.remote.get() }

    /// The embedded driver under the tests' state directory (one per test process).
    static var embedded: LibvirtBackend { LibvirtBackend(state: Fixture.state, log: { _ in }) }

    static func backend(_ uri: String) -> LibvirtBackend { LibvirtBackend(uri: uri, state: Fixture.state, log: { _ in }) }

    /// Boots a lane through `backend`; `extraMarkers` adds required markers the kernel never prints.
    static func boot(_ lane: String, on backend: any BootBackend, append: String = "", extraMarkers: [Marker] = [],
                     edit: (inout Lane) -> Void = { _ in }) throws -> RunRecord {
        var (lane, markers) = try Fixture.lane(lane, edit)
        markers.required += extraMarkers
        let runner = LaneRunner(project: Fixture.project, state: Fixture.state, kernel: try Fixture.kernelImage(),
                                extraAppend: append, backend: backend)
        return try runner.run(lane, markers: markers)
    }
}

/// Starts the libvirt suite's daemons lazily and stops them when the suite is over: no libvirtd
/// (and no QEMU of theirs) outlives the tests.
struct LibvirtDaemonsTrait: SuiteTrait, TestScoping {
    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        defer { LibvirtFixture.stopDaemons() }
        try await function()
    }
}

extension Trait where Self == LibvirtDaemonsTrait {
    static var libvirtDaemons: Self { LibvirtDaemonsTrait() }
}

/// The parent of every libvirt suite: one at a time (they share the daemons and this process's
/// embedded driver), daemons stopped at the end.
@Suite("libvirt backend", .tags(.integration, .libvirt), .serialized, .libvirtDaemons)
struct LibvirtTests {}
