import CLibvirt
import COS3Sys
import FoundationEssentials
import Glibc
import OS3Core
import OS3Runner

/// Boots lanes through libvirt's C API: each boot is a transient domain (`DomainXML`), created
/// paused, watched (lifecycle events, QEMU's exit, the console copy QEMU writes), then resumed; the
/// console feeds the same marker engine as `BootRunner`, and the verdict comes from `Verdict.judge`. The end is learned from QEMU's
/// exit status where os3ctl can reap QEMU (the embedded driver), else from the kernel's final
/// sentinel plus libvirt's lifecycle events. No domain outlives the boot.
public struct LibvirtBackend: BootBackend {
    public let uri: String
    let hypervisor: Hypervisor
    /// How long to wait for the end evidence once the guest is over (or os3ctl destroyed it).
    public var settleGrace: Double = 2
    /// How long to wait for the rest of a forbidden line before stopping the guest.
    public var forbiddenLineGrace: Double = 0.02
    /// How often a remote host's console copy is fetched while the guest runs.
    public var remotePollInterval: Double = 0.05

    /// `uri` nil = the embedded driver under `state` (`qemu:///embed?root=STATE/libvirt`).
    public init(uri: String? = nil, state: StateDirectory,
                log: @escaping @Sendable (String) -> Void = { line in try? writeAll(2, Array((line + "\n").utf8)) }) {
        let resolved = uri ?? EmbeddedRoot.uri(root: EmbeddedRoot.defaultRoot(state: state))
        self.uri = resolved
        // os3ctl writes qemu.conf (and may fall back to a private root) only for its own default root.
        let owned = uri == nil || HypervisorPlace.of(resolved) == .embedded(root: EmbeddedRoot.defaultRoot(state: state))
        self.hypervisor = Hypervisor.shared(uri: resolved, state: state, ownsRoot: owned, log: log)
        LibvirtRuntime.configureLog(Self.logFile(state))
    }

    /// libvirt's own warnings and errors go to STATE/libvirt.log, not to os3ctl's stderr.
    static func logFile(_ state: StateDirectory) -> String { "\(EmbeddedRoot.absolute(state.path))/libvirt.log" }

    /// The default URI for a state directory: libvirt's in-process QEMU driver, no daemon needed.
    public static func defaultURI(state: StateDirectory) -> String {
        EmbeddedRoot.uri(root: EmbeddedRoot.defaultRoot(state: state))
    }

    public var name: String { "libvirt \(uri)" }
    public var place: HypervisorPlace { hypervisor.place }

    /// Opens the connection now (and sweeps leftovers); throws why it cannot.
    public func connect() throws {
        do { _ = try hypervisor.connect() } catch { throw OS3Error(.io, "libvirt: \(error)", fix: Self.connectFix(uri)) }
    }

    /// Facts for `os3ctl doctor`: the hypervisor's host name and whether it offers KVM.
    public func describe() throws -> (host: String, kvm: String?) {
        let conn = try hypervisor.connect()
        return (conn.hostname() ?? "?", hypervisor.capabilityProblem(conn, arch: "x86_64", machine: "pc", virtType: "kvm"))
    }

    public static var libraryVersion: String { LibvirtRuntime.version }

    /// Opens `uri` on a fresh connection and closes it again: the hypervisor's host name and
    /// version, or why it cannot be reached. For readiness checks and `doctor`; boots share one
    /// connection per URI instead.
    public static func probe(_ uri: String, state: StateDirectory? = nil) -> Result<String, OS3Error> {
        do { try LibvirtRuntime.start(logFile: state.map(logFile)) } catch { return .failure(OS3Error(.io, "\(error)")) }
        guard let conn = virConnectOpen(LibvirtConnection.openable(uri)) else {
            return .failure(OS3Error(.io, LibvirtError("cannot connect to \(uri)").message, fix: connectFix(uri)))
        }
        defer { virConnectClose(conn) }
        var version: UInt = 0
        _ = virConnectGetVersion(conn, &version)
        let host = virConnectGetHostname(conn).map { p in defer { free(p) }; return String(cString: p) } ?? "?"
        return .success("host \(host), QEMU \(version / 1_000_000).\(version / 1000 % 1000).\(version % 1000)")
    }

    /// The names of os3ctl's domains running on this backend's hypervisor now (tests check that
    /// none is left behind).
    public func runningDomains() throws -> [String] {
        let conn = try hypervisor.connect()
        return conn.domains(prefix: DomainSpec.namePrefix).map { d in virDomainFree(d.ptr); return d.name }
    }

    /// The embedded root in use (nil for a libvirtd), and the QEMU pid file of a domain under it.
    public var embeddedRoot: String? { hypervisor.embeddedRoot }

    static func connectFix(_ uri: String) -> String {
        switch HypervisorPlace.of(uri) {
        case .embedded: "bash .ci/setup installs libvirt-daemon-driver-qemu and the libvirt-qemu account libvirt needs; `os3ctl doctor` checks them"
        case .local: "start libvirtd (or pass ?socket=PATH for a private one), or use the default embedded driver (omit --connect)"
        case .remote: "check that libvirtd on that host listens (listen_tcp / ssh) and that `virsh -c '\(uri)' list` works from here"
        }
    }

    public func skipReason(for lane: Lane) -> String? {
        if hypervisor.place == .remote && lane.consoleInput != nil {
            // Only a console stream reaches a remote guest's serial port, and with libvirt 9 a
            // console stream open when QEMU exits can deadlock the daemon (virStreamAbort against
            // virChrdevFree); QEMU reads a pty only once a second, so the stream would have to stay
            // open until about then — too close to the guest's exit to be safe.
            return "types into the console ([console-input]), which os3ctl does only on this host's hypervisors (the embedded driver or a local libvirtd), not on \(uri)"
        }
        if hypervisor.place == .remote, lane.boot.needsFilesBesideTheKernel {
            // Only the kernel image is uploaded to another host; an initrd, disk, ISO or firmware file would have to be there already.
            return "boots with [boot] method \"\(lane.boot.name.rawValue)\"\(lane.boot.name == .kernel ? " and an initrd" : ""), which os3ctl boots only on this host's hypervisors (it uploads nothing but the kernel to \(uri))"
        }
        if hypervisor.place != .remote {
            if let why = HostProbe.skipReason(for: lane) { return why }
        }
        // Ask the hypervisor itself (a remote one has its own KVM); a connection failure is not a
        // reason to skip: the boot then reports it as an infrastructure error.
        guard let conn = try? hypervisor.connect() else { return nil }
        let virtType = lane.accelerator == .kvm ? "kvm" : "qemu"
        if let problem = hypervisor.capabilityProblem(conn, arch: lane.arch.profile.libvirtArch, machine: lane.machine, virtType: virtType) {
            return lane.accelerator == .kvm ? "needs KVM on \(uri): \(problem)" : "\(uri) cannot run \(lane.machine) with TCG: \(problem)"
        }
        return nil
    }

    public func boot(_ invocation: QemuInvocation, markers: MarkerSet, state: StateDirectory,
                     onEvent: @Sendable (BootEvent) -> Void) throws -> RunRecord {
        try LibvirtBoot(backend: self, invocation: invocation, markers: markers, state: state).run(onEvent: onEvent)
    }
}

/// One boot through libvirt (the libvirt counterpart of `BootRunner`).
struct LibvirtBoot {
    var backend: LibvirtBackend
    var invocation: QemuInvocation
    var markers: MarkerSet
    var state: StateDirectory

    var hypervisor: Hypervisor { backend.hypervisor }

    func run(onEvent: @Sendable (BootEvent) -> Void) throws -> RunRecord {
        let lane = invocation.lane
        let dir = try state.makeRunDirectory(label: lane.name)
        let serialPath = "\(dir)/serial.log"
        let remote = hypervisor.place == .remote
        let startedAt = iso8601.string(from: Date())
        let interruptFD = Interrupts.install()
        let name = DomainSpec.name(lane: lane.name, pid: getpid(), suffix: randomSuffix())
        let events = EventLog(path: "\(dir)/events.log")
        let start = Clock.now
        events.note("os3ctl", "boot of lane \(lane.name) as domain \(name) on \(backend.uri)", at: 0)

        // The console is QEMU's own copy of everything the guest writes to its serial port (the
        // chardev's log file, written before the guest goes on), not the pty: a pty loses what nobody
        // read before QEMU exited (the kernel flushes it on hang-up) — and the final sentinel comes
        // just before the exit — and libvirt 9's console stream can deadlock the process holding it
        // (virStreamAbort against virChrdevFree) when QEMU exits with the stream open. On this host
        // QEMU writes serial.log in the run directory and os3ctl follows it as it grows; on another
        // host QEMU writes it into os3ctl's storage pool and os3ctl fetches what is new as it grows.
        var log: Int32 = -1
        if remote {
            log = open(serialPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard log >= 0 else { throw OS3Error(.io, "cannot create \(serialPath): \(String(cString: strerror(errno)))") }
        }
        defer { if log >= 0 { close(log) } }

        func failed(_ why: String, evidence: String? = nil) -> RunRecord {
            events.note("os3ctl", "failed: \(why)", at: Clock.now - start)
            // An empty console log, so every record names a file that exists.
            if !Path.exists(serialPath) { close(open(serialPath, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)) }
            let o = BootObservation(end: .failedToStart(why), stderrTail: evidence ?? "")
            return finish(o, matcher: MarkerMatcher(markers), dir: dir, serialPath: serialPath, startedAt: startedAt,
                          duration: Clock.now - start, name: name)
        }

        // 1. The connection (opened once per process; the first open sweeps leftovers).
        let conn: LibvirtConnection
        do { conn = try hypervisor.connect() } catch { return failed("libvirt: \(error)") }

        // 2. The kernel where the hypervisor can read it.
        var kernelPath = invocation.kernel
        var consoleCopy = serialPath
        if remote {
            do {
                let upload = try hypervisor.uploads.path(for: invocation.kernel, connection: conn)
                kernelPath = upload.remotePath
                consoleCopy = "\(Path.directory(kernelPath))/\(name)\(KernelUploads.consoleSuffix)"
                events.note("os3ctl", upload.uploaded ? "uploaded the kernel (\(upload.bytes) bytes) to \(kernelPath)" : "kernel already on the host at \(kernelPath)", at: Clock.now - start)
            } catch {
                return failed("libvirt: \(error)")
            }
        }

        // 3. The domain, as XML (pure), kept in the run directory.
        var emulator: String?
        if !remote && invocation.binary != lane.arch.profile.binary {
            emulator = resolveExecutable(invocation.binary).map(EmbeddedRoot.absolute)
        }
        let owner = DomainOwner(host: ProcessInfo.processInfo.hostName, pid: getpid(), processStart: processStartTime(getpid()) ?? 0,
                                deadline: Int(Date().timeIntervalSince1970 + lane.totalTimeout) + 120)
        // Console input goes through a UNIX socket where QEMU can make one in the run directory (the
        // embedded driver: QEMU is os3ctl's own child); elsewhere through the pty (see below).
        var socketPath: String?
        var listener: Int32 = -1
        if lane.consoleInput != nil, case .embedded = hypervisor.place {
            listener = listenUnixSocket("\(dir)/console.sock")
            if listener >= 0 { socketPath = "\(dir)/console.sock" }
        }
        defer { if listener >= 0 { close(listener); unlink("\(dir)/console.sock") } }
        // What is booted as the hypervisor sees it: the kernel perhaps uploaded, a UEFI lane's
        // variables copy made by libvirt from the template in the run directory.
        let boot = invocation.boot.withKernel(kernelPath)
        let spec = DomainSpec(name: name, lane: lane, kernel: kernelPath, commandLine: invocation.kernelCommandLine,
                              emulator: emulator, owner: owner, serialLog: consoleCopy, serialSocket: socketPath,
                              boot: boot, nvram: remote || !boot.needsVarsCopy ? nil : "\(dir)/\(QemuInvocation.varsCopyName)")
        let xml = try DomainXML.render(spec)
        try writeAtomically("\(dir)/domain.xml", xml, mode: 0o600)

        // 4. Create it paused (watching for lifecycle events and, embedded, for QEMU's exit first).
        let mailbox = try BootMailbox()
        conn.watch(name, mailbox)
        defer { conn.unwatch(name) }
        let reaper = hypervisor.place.canLearnExitCode && QemuReaper.becameSubreaper
            ? hypervisor.pidFile(domain: name).map { QemuReaper(pidFile: $0, mailbox: mailbox) } : nil
        guard let dom = virDomainCreateXML(conn.ptr, xml, UInt32(VIR_DOMAIN_START_PAUSED.rawValue)) else {
            let e = LibvirtError("cannot start the domain")
            reaper?.cancel()
            return failed(e.message, evidence: qemuLogTail(name))
        }
        defer { virDomainFree(dom) }
        var destroyed = false
        /// Set once the guest is known to have ended on its own: libvirt is removing the domain
        /// already, and a destroy would only wait for it (up to 0.2 s of libvirt's kill polling).
        var endedOnItsOwn = false
        func destroy() {
            guard !destroyed, !endedOnItsOwn else { return }
            destroyed = true
            if virDomainDestroy(dom) != 0 { virResetLastError() }
        }
        // Whatever happens from here (an error, an interrupt), the domain does not outlive the boot.
        defer { destroy(); copyQemuLog(name, to: dir) }
        events.note("os3ctl", "domain created paused\(reaper.map { " (QEMU pid \($0.pid))" } ?? "")", at: Clock.now - start)

        // 5. Follow the console from before the guest runs, then let it run.
        var tail: FileTail?
        var remoteCopy: KernelUploads.GrowingVolume?
        if remote {
            remoteCopy = KernelUploads.GrowingVolume(name: "\(name)\(KernelUploads.consoleSuffix)", connection: conn)
            events.note("console", "fetching QEMU's copy \(consoleCopy) from the host's storage pool as it grows", at: Clock.now - start)
        } else {
            tail = FileTail(path: serialPath)
            events.note("console", "following \(serialPath) as QEMU writes it", at: Clock.now - start)
        }
        defer {
            if remote { hypervisor.uploads.deleteVolume(named: "\(name)\(KernelUploads.consoleSuffix)", connection: conn) }
        }
        // Console input (a lane's `[console-input]`; this host's hypervisors only, see skipReason)
        // goes through the serial port's socket (embedded driver) or pty, whose other end os3ctl
        // opens before the guest runs and drains (the console copy is what it judges). A socket
        // connection QEMU accepts at once; a pty QEMU 7.2 starts reading only once its
        // once-a-second check has seen the other end open, so there input reaches the guest up to
        // ~1 s after QEMU started.
        var inputPending = lane.consoleInput
        var pty: Int32 = -1
        if inputPending != nil, let socketPath {
            pty = acceptConnection(listener, within: 2)
            events.note("console", pty >= 0 ? "input will go through the serial socket \(socketPath)" : "QEMU did not connect to the serial socket \(socketPath): cannot type into it", at: Clock.now - start)
        } else if inputPending != nil, let path = serialPTY(dom) {
            pty = openRawPTY(path)
            events.note("console", pty >= 0 ? "input will go through the serial pty \(path)" : "cannot open the serial pty \(path) to type into it", at: Clock.now - start)
        }
        defer { if pty >= 0 { close(pty) } }

        // A guest that ends within milliseconds can take QEMU (and its reply to "cont") with it:
        // a failed resume is judged by what happens next, not by the error.
        let resumeError: LibvirtError? = virDomainResume(dom) == 0 ? nil : LibvirtError("cannot resume the domain")
        if let resumeError { events.note("os3ctl", "\(resumeError.message) (waiting to see whether the guest ran)", at: Clock.now - start) }
        onEvent(.started(pid: reaper?.pid ?? 0, runDirectory: dir, markers: markers))

        var matcher = MarkerMatcher(markers)
        var stopReason: StopReason?
        var verdictTime: Double?
        var lastOutput = start
        var end: ProcessEnd?
        var exitUnknown = false
        var stopped = false
        var lifecycle = LifecycleTracker(resetIsReboot: lane.success == .poweroff)
        var account: QemuAccount?
        var forbiddenAt: Double?

        func feed(_ bytes: [UInt8], at now: Double) {
            lastOutput = now
            if log >= 0 { bytes.withUnsafeBytes { try? writeAll(log, $0) } }
            onEvent(.console(Data(bytes)))
            for event in bytes.withUnsafeBytes({ matcher.feed($0, at: now - start) }) {
                switch event {
                case .seen(let hit): onEvent(.marker(hit))
                case .forbidden(let hit):
                    onEvent(.forbidden(hit))
                    if stopReason == nil { stopReason = .forbiddenMarker; verdictTime = now; forbiddenAt = now }
                }
            }
        }

        func handle(_ items: [BootMailbox.Item]) {
            for item in items {
                switch item {
                case .lifecycle(let event, let detail):
                    lifecycle.record(event: event, detail: detail)
                    events.note("lifecycle", LifecycleTracker.describe(event: event, detail: detail), at: Clock.now - start)
                    if event == Int32(VIR_DOMAIN_EVENT_STOPPED.rawValue) { stopped = true }
                case .reboot:
                    lifecycle.rebooted = true
                    events.note("lifecycle", "REBOOT", at: Clock.now - start)
                case .exited(let e):
                    end = e
                    events.note("qemu", "exited: \(e)", at: Clock.now - start)
                case .exitUnknown(let why):
                    exitUnknown = true
                    events.note("qemu", "exit status unknown: \(why)", at: Clock.now - start)
                }
            }
        }

        /// Takes what QEMU appended to its console copy since the last look.
        func follow() {
            let bytes = tail?.readNew() ?? remoteCopy?.read(from: matcher.bytes) ?? []
            if !bytes.isEmpty { feed(bytes, at: Clock.now) }
            if pty >= 0 {
                var sink = [UInt8](repeating: 0, count: 4096)
                while read(pty, &sink, sink.count) > 0 {}
            }
            if inputPending != nil { typeInputIfDue() }
        }

        /// Types the lane's console input once its trigger marker has been seen.
        func typeInputIfDue() {
            guard let input = inputPending, input.after.map({ matcher.hits[$0] != nil }) ?? true else { return }
            inputPending = nil
            let bytes = Array(input.text.utf8)
            let typed = pty >= 0 && bytes.withUnsafeBytes { (try? writeAll(pty, $0)) != nil }
            events.note("console", typed ? "typed \(bytes.count) byte(s) of console input" : "could not type the console input", at: Clock.now - start)
        }

        /// Waits up to `ms` for anything: the mailbox, the console file growing, an interrupt.
        func wait(_ ms: Int32) {
            var fds = [pollfd(fd: mailbox.wakeFD, events: Int16(POLLIN), revents: 0)]
            if interruptFD >= 0 { fds.append(pollfd(fd: interruptFD, events: Int16(POLLIN), revents: 0)) }
            var cap = ms
            if let tail {
                if tail.notifyFD >= 0 { fds.append(pollfd(fd: tail.notifyFD, events: Int16(POLLIN), revents: 0)) } else { cap = min(cap, 10) }
            }
            if remoteCopy != nil { cap = min(cap, Int32(backend.remotePollInterval * 1000)) }
            _ = Glibc.poll(&fds, nfds_t(fds.count), max(1, cap))
            follow()
            handle(mailbox.take())
        }

        /// Over from the guest's side: QEMU's exit where it can be learned, else libvirt's STOPPED.
        var guestOver: Bool { reaper != nil && !exitUnknown ? end != nil : stopped }

        if let resumeError {
            let deadline = Clock.now + backend.settleGrace
            while !guestOver && Clock.now < deadline { wait(Int32(max(1, (deadline - Clock.now) * 1000))) }
            if !guestOver { return failed(resumeError.message, evidence: qemuLogTail(name)) }
        }
        while stopReason == nil {
            follow()
            handle(mailbox.take())
            if stopReason != nil || guestOver { break }
            // A reset in a domain that restarts on reboot: the boot is over (os3ctl destroys it).
            if lifecycle.rebooted && lifecycle.resetIsReboot { verdictTime = Clock.now; break }
            // QEMU paused the VM on its own (I/O error, KVM internal error): over now, not at the idle timeout.
            if lifecycle.suspendedByQemu {
                account = .stopped(status: pausedReason(dom))
                stopReason = .vmStopped
                verdictTime = Clock.now
                break
            }
            let now = Clock.now
            if Interrupts.signal != nil { stopReason = .interrupted; verdictTime = now; break }
            let idleDeadline = lastOutput + lane.idleTimeout
            let totalDeadline = start + lane.totalTimeout
            if now >= idleDeadline { stopReason = .idleTimeout; verdictTime = now; break }
            if now >= totalDeadline { stopReason = .totalTimeout; verdictTime = now; break }
            let left = min(idleDeadline, totalDeadline) - now
            wait(Int32(min(left * 1000, 1000).rounded(.up)))
        }
        // The reset restarted the guest: take it down before it runs again for long.
        if lifecycle.rebooted && lifecycle.resetIsReboot { destroy() }
        if stopReason == .forbiddenMarker, let at = forbiddenAt {
            // Give the panic line a moment to finish so the report shows all of it.
            while matcher.forbiddenLineIncomplete && Clock.now < at + backend.forbiddenLineGrace {
                wait(5)
            }
        }
        if let reason = stopReason {
            onEvent(.stopping(reason))
            events.note("os3ctl", "destroying the domain: \(reason.rawValue)", at: Clock.now - start)
            destroy()
        }
        // The end evidence (it follows QEMU's end within milliseconds; libvirtd's STOPPED up to
        // ~0.2 s later), then everything QEMU wrote before it exited.
        let settle = Clock.now + backend.settleGrace
        while !guestOver && Clock.now < settle {
            wait(Int32(max(1, (settle - Clock.now) * 1000)))
        }
        follow()
        if verdictTime == nil { verdictTime = Clock.now }
        endedOnItsOwn = stopReason == nil && guestOver
        // For a guest os3ctl stopped: how long from the verdict until it was gone.
        let stopLatency = stopReason != nil && guestOver ? max(0, Clock.now - (verdictTime ?? Clock.now)) : nil
        destroy()
        let now = Clock.now
        var observation = BootEnd.observe(&matcher, at: now - start, end: reaper != nil && !exitUnknown ? end : nil,
                                          stopReason: stopReason, stderrTail: qemuLogTail(name) ?? "",
                                          lifecycle: lifecycle.classification, console: remote ? log : tail?.descriptor ?? -1,
                                          runDirectory: dir, ktapLog: invocation.lane.ktap ? serialPath : nil, onEvent: onEvent)
        observation.account = account
        return finish(observation, matcher: matcher, dir: dir, serialPath: serialPath, startedAt: startedAt,
                      duration: (verdictTime ?? now) - start, name: name, stopLatency: stopLatency)
    }

    private func finish(_ observation: BootObservation, matcher: MarkerMatcher, dir: String, serialPath: String,
                        startedAt: String, duration: Double, name: String, stopLatency: Double? = nil) -> RunRecord {
        let lane = invocation.lane
        let verdict = Verdict.judge(observation, markers: markers, success: lane.success,
                                    idleTimeout: lane.idleTimeout, totalTimeout: lane.totalTimeout)
        let record = RunRecord(lane: lane.name, laneFile: lane.file, kernel: invocation.kernel, argv: [],
                               kernelCommandLine: invocation.kernelCommandLine, runDirectory: dir, serialLog: serialPath,
                               startedAt: startedAt, duration: duration, verdict: verdict, end: observation.end,
                               markers: observation.hits.values.sorted { ($0.line, $0.time) < ($1.line, $1.time) },
                               requiredCount: markers.required.count, consoleBytes: observation.consoleBytes,
                               stopLatency: stopLatency, backend: backend.name, domain: name, lifecycle: observation.lifecycle)
        return BootEnd.save(record, evidenceLost: observation.evidenceLost != nil, ktap: observation.ktap)
    }

    /// The last lines QEMU wrote to its log (embedded driver only: the file is local).
    private func qemuLogTail(_ name: String) -> String? {
        guard let path = hypervisor.qemuLog(domain: name), let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        let lines = text.split(separator: "\n").filter { !$0.hasPrefix("2") && !$0.contains("=") && !$0.hasPrefix("-") && !$0.hasPrefix("/") }
        // Enough lines for QEMU's error above a register dump ("KVM internal error", then ~30 lines).
        return lines.suffix(40).joined(separator: "\n")
    }

    private func copyQemuLog(_ name: String, to dir: String) {
        guard let path = hypervisor.qemuLog(domain: name) else { return }
        try? FileManager.default.copyItem(atPath: path, toPath: "\(dir)/qemu.log")
    }

    /// Why libvirt says the domain is paused (virDomainGetState), in libvirt's words.
    private func pausedReason(_ dom: OpaquePointer) -> String {
        var state: Int32 = 0, reason: Int32 = 0
        guard virDomainGetState(dom, &state, &reason, 0) == 0 else { virResetLastError(); return "paused" }
        guard state == Int32(VIR_DOMAIN_PAUSED.rawValue) else { return "state \(state)" }
        let names = ["unknown", "user", "migration", "save", "dump", "ioerror", "watchdog", "from-snapshot", "shutting-down",
                     "snapshot", "crashed", "starting-up", "postcopy", "postcopy-failed", "api-error"]
        return "paused: \(names.at(reason) ?? "reason \(reason)")"
    }

    /// The host path of the domain's pty serial port, once it runs.
    private func serialPTY(_ dom: OpaquePointer) -> String? {
        guard let text = virDomainGetXMLDesc(dom, 0) else { virResetLastError(); return nil }
        defer { free(text) }
        return DomainXML.serialPTYPath(inLiveXML: String(cString: text))
    }

    /// Opens the pty's other end in raw mode (no echo back into the guest, no newline translation).
    private func openRawPTY(_ path: String) -> Int32 {
        let fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return -1 }
        var t = termios()
        if tcgetattr(fd, &t) == 0 {
            cfmakeraw(&t)
            _ = tcsetattr(fd, TCSANOW, &t)
        }
        return fd
    }

    /// A listening UNIX socket at `path` (QEMU's serial port connects to it as QEMU starts), or -1.
    private func listenUnixSocket(_ path: String) -> Int32 {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return -1 }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return -1 }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(fd, 1) == 0 else { close(fd); return -1 }
        return fd
    }

    /// QEMU's connection to the listening socket (made while the domain was created), or -1.
    private func acceptConnection(_ listener: Int32, within seconds: Double) -> Int32 {
        var p = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
        guard Glibc.poll(&p, 1, Int32(seconds * 1000)) == 1 else { return -1 }
        let fd = accept(listener, nil, nil)
        guard fd >= 0 else { return -1 }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        return fd
    }

    private func randomSuffix() -> String {
        let alphabet = Array("abcdefghijkmnpqrstuvwxyz23456789")
        return String((0..<6).map { _ in alphabet.randomElement()! })
    }
}

/// Turns libvirt's lifecycle events into how the guest ended.
struct LifecycleTracker {
    var events: [(event: Int32, detail: Int32)] = []
    var rebooted = false
    /// The domain restarts on a reset (`on_reboot=restart`, lanes that pass by poweroff): a reset
    /// is a REBOOT event, and SHUTDOWN/guest can only be a poweroff.
    var resetIsReboot = false

    mutating func record(event: Int32, detail: Int32) { events.append((event, detail)) }

    /// QEMU paused the VM after it ran (SUSPENDED after the last RESUMED: os3ctl never pauses a
    /// running guest; the domain is created paused, which comes before its RESUMED).
    var suspendedByQemu: Bool {
        let suspended = Int32(VIR_DOMAIN_EVENT_SUSPENDED.rawValue), resumed = Int32(VIR_DOMAIN_EVENT_RESUMED.rawValue)
        guard let s = events.lastIndex(where: { $0.event == suspended }), let r = events.lastIndex(where: { $0.event == resumed }) else { return false }
        return s > r
    }

    var classification: GuestLifecycle? {
        let crashed = Int32(VIR_DOMAIN_EVENT_CRASHED.rawValue), stopped = Int32(VIR_DOMAIN_EVENT_STOPPED.rawValue)
        let shutdown = Int32(VIR_DOMAIN_EVENT_SHUTDOWN.rawValue)
        if events.contains(where: { $0.event == crashed }) { return .guestPanicked }
        if rebooted { return .guestReset }
        if suspendedByQemu { return .vmStopped }
        // The guest's own shutdown decides even if STOPPED comes after QEMU's reaped exit.
        if events.contains(where: { $0.event == shutdown && $0.detail == Int32(VIR_DOMAIN_EVENT_SHUTDOWN_GUEST.rawValue) }) {
            return resetIsReboot ? .guestShutdown : .guestReset
        }
        guard let stop = events.last(where: { $0.event == stopped }) else { return nil }
        switch UInt32(stop.detail) {
        case VIR_DOMAIN_EVENT_STOPPED_FAILED.rawValue: return .emulatorExited
        case VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN.rawValue: return .guestReset
        case VIR_DOMAIN_EVENT_STOPPED_CRASHED.rawValue: return .guestPanicked
        case VIR_DOMAIN_EVENT_STOPPED_DESTROYED.rawValue: return .destroyed
        default: return .other
        }
    }

    static func describe(event: Int32, detail: Int32) -> String {
        let names = ["DEFINED", "UNDEFINED", "STARTED", "SUSPENDED", "RESUMED", "STOPPED", "SHUTDOWN", "PMSUSPENDED", "CRASHED"]
        let e = event >= 0 && Int(event) < names.count ? names[Int(event)] : "EVENT\(event)"
        var d = "\(detail)"
        switch e {
        case "STOPPED": d = ["shutdown", "destroyed", "crashed", "migrated", "saved", "failed", "from-snapshot"].at(detail) ?? d
        case "SHUTDOWN": d = ["finished", "guest", "host"].at(detail) ?? d
        case "CRASHED": d = ["panicked", "crashloaded"].at(detail) ?? d
        case "STARTED": d = ["booted", "migrated", "restored", "from-snapshot", "wakeup"].at(detail) ?? d
        case "SUSPENDED": d = ["paused", "migrated", "ioerror", "watchdog", "restored", "from-snapshot", "api-error", "postcopy", "postcopy-failed"].at(detail) ?? d
        case "RESUMED": d = ["unpaused", "migrated", "from-snapshot", "postcopy", "postcopy-failed"].at(detail) ?? d
        default: break
        }
        return "\(e)/\(d)"
    }
}

extension Array {
    func at(_ i: Int32) -> Element? { i >= 0 && Int(i) < count ? self[Int(i)] : nil }
}

/// `events.log` in the run directory: what libvirt and os3ctl saw, with times from the start.
final class EventLog {
    private let fd: Int32

    init(path: String) {
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_APPEND, 0o600)
    }

    deinit { if fd >= 0 { close(fd) } }

    func note(_ source: String, _ text: String, at t: Double) {
        guard fd >= 0 else { return }
        let line = "\(Reports.seconds(t)) \(source): \(text)\n"
        _ = line.withCString { write(fd, $0, strlen($0)) }
    }
}

/// A file another process appends to (QEMU's console copy), read as it grows: inotify wakes the
/// reader when it is written (without inotify the caller polls).
final class FileTail {
    let path: String
    private var fd: Int32 = -1
    /// The open console file (-1 until QEMU made it): checked at the end for deletion.
    var descriptor: Int32 { fd }
    private(set) var notifyFD: Int32 = -1
    private var buffer = [UInt8](repeating: 0, count: 64 * 1024)

    init(path: String) {
        self.path = path
        notifyFD = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        openIfPresent()
    }

    deinit {
        if fd >= 0 { close(fd) }
        if notifyFD >= 0 { close(notifyFD) }
    }

    private func openIfPresent() {
        guard fd < 0 else { return }
        fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd >= 0 && notifyFD >= 0 && inotify_add_watch(notifyFD, path, UInt32(IN_MODIFY | IN_CLOSE_WRITE)) < 0 {
            close(notifyFD)
            notifyFD = -1
        }
    }

    /// Everything appended since the last call.
    func readNew() -> [UInt8] {
        if notifyFD >= 0 {
            var sink = [UInt8](repeating: 0, count: 4096)
            while read(notifyFD, &sink, sink.count) > 0 {}
        }
        openIfPresent()
        guard fd >= 0 else { return [] }
        var out: [UInt8] = []
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n > 0 { out += buffer[0..<n]; continue }
            if n < 0 && errno == EINTR { continue }
            return out
        }
    }
}

