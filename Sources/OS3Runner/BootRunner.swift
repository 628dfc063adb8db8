import COS3Sys
import FoundationEssentials
import Glibc
import OS3Core

/// The markers a boot is judged by: already loaded (gate and stress load them once for many
/// boots), or loaded by the boot itself once QEMU is starting (a single `boot`).
public struct MarkerSource: Sendable {
    public let load: @Sendable () throws -> MarkerSet

    public static func loaded(_ markers: MarkerSet) -> MarkerSource { MarkerSource { markers } }
    public static func deferred(_ load: @escaping @Sendable () throws -> MarkerSet) -> MarkerSource { MarkerSource(load: load) }
}

/// QEMU spawned for an argv, with its run directory and os3ctl's ends of its console and pipes: the
/// first step of a boot.
///
/// QEMU's console (its stdout: `-chardev stdio`) goes straight into the run's `serial.log`, which
/// os3ctl reads as it grows (every 1–4 ms, see `BootRunner.run`). Not a pipe: QEMU writes the console a byte at a
/// time, and every write to a pipe with a blocked reader wakes that reader (an inter-processor
/// interrupt on QEMU's side each time) — measurably slower QEMU; and os3ctl no longer copies
/// every byte into the log itself. QEMU's stdin and stderr stay pipes.
public final class StartedQemu: @unchecked Sendable {
    public let argv: [String]
    public let statePath: String
    /// The run directory; `serial.log` in it is QEMU's console.
    public let directory: String
    /// The child, or why it could not be started (a verdict, not an exception).
    public let spawned: Result<ChildProcess, any Error>
    /// The boot's clock starts just before the spawn.
    public let start: Double
    public let startedAt: String
    /// os3ctl's read end of serial.log, and of QEMU's stderr; its write end of QEMU's stdin.
    let consoleRead: Int32, errRead: Int32, inWrite: Int32
    /// os3ctl's end of QEMU's QMP socket (QEMU's fd 3), or -1 when argv asks for none.
    let qmpFD: Int32
    private let lock = Lock()
    private var closed = false

    private init(argv: [String], statePath: String, directory: String, spawned: Result<ChildProcess, any Error>,
                 start: Double, startedAt: String, consoleRead: Int32, errRead: Int32, inWrite: Int32, qmpFD: Int32 = -1) {
        self.argv = argv
        self.qmpFD = qmpFD
        self.statePath = statePath
        self.directory = directory
        self.spawned = spawned
        self.start = start
        self.startedAt = startedAt
        self.consoleRead = consoleRead
        self.errRead = errRead
        self.inWrite = inWrite
    }

    /// `resume`: QEMU starts paused (-S) and the QMP handshake ends with `cont`.
    public static func start(_ argv: [String], state: StateDirectory, label: String, resume: Bool = false) throws -> StartedQemu {
        try start(state: state, label: label, resume: resume) { _ in argv }
    }

    /// Starts QEMU for `invocation` in a new run directory, after making the files its argv names
    /// there (a UEFI lane's private copy of the variables store).
    public static func start(_ invocation: QemuInvocation, state: StateDirectory, label: String) throws -> StartedQemu {
        try start(state: state, label: label, resume: invocation.startsPaused) { dir in
            let inRun = invocation.inRunDirectory(dir)
            if let copy = inRun.varsCopy, case .uefi(_, let template?, _) = inRun.boot { try copyFile(template, to: copy) }
            return inRun.argv
        }
    }

    private static func start(state: StateDirectory, label: String, resume: Bool,
                              argvInRunDirectory: (String) throws -> [String]) throws -> StartedQemu {
        let startedAt = iso8601.string(from: Date())
        let dir = try state.makeRunDirectory(label: label)
        let argv = try argvInRunDirectory(dir)
        var fds = [Int32](repeating: -1, count: 6)
        guard os3_open_boot_files(dir, &fds) == 0 else {
            throw OS3Error(.io, "cannot create \(dir)/serial.log and QEMU's pipes: \(String(cString: strerror(errno)))")
        }
        let (consoleWrite, consoleRead, stdinRead, stdinWrite, stderrRead, stderrWrite) = (fds[0], fds[1], fds[2], fds[3], fds[4], fds[5])
        var qmp: (ours: Int32, qemus: Int32) = (-1, -1)
        if usesQmp(argv) {
            do {
                qmp = try QmpChannel.socketPair()
                try QmpChannel.sendHandshake(qmp.ours, resume: resume)
            } catch {
                for fd in fds { close(fd) }
                if qmp.ours >= 0 { close(qmp.ours); close(qmp.qemus) }
                throw error
            }
        }
        let start = Clock.now
        let spawned = Result { try ChildProcess.spawn(argv, stdin: stdinRead, stdout: consoleWrite, stderr: stderrWrite, fd3: qmp.qemus) }
        close(consoleWrite); close(stderrWrite); close(stdinRead)
        if qmp.qemus >= 0 { close(qmp.qemus) }
        return StartedQemu(argv: argv, statePath: state.path, directory: dir, spawned: spawned.mapError { $0 }, start: start,
                           startedAt: startedAt, consoleRead: consoleRead, errRead: stderrRead, inWrite: stdinWrite, qmpFD: qmp.ours)
    }

    /// Whether argv gives QEMU the QMP socket on fd 3 (`QemuInvocation.qmpArgs`).
    public static func usesQmp(_ argv: [String]) -> Bool {
        argv.contains(QemuInvocation.qmpArgs[1])
    }

    /// Stops QEMU at once and closes the pipes (the boot that owns it gives up).
    func stop() {
        if case .success(let child) = spawned { child.terminate(grace: 0) }
        closePipes()
    }

    func closePipes() {
        lock.lock()
        defer { lock.unlock() }
        guard !closed else { return }
        closed = true
        close(inWrite); close(consoleRead); close(errRead)
        if qmpFD >= 0 { close(qmpFD) }
    }
}

/// What a running boot reports as it goes (for live checklists and `--serial`).
public enum BootEvent: Sendable {
    /// QEMU runs; `markers` are the ones this boot is judged by (loaded while QEMU started).
    case started(pid: Int32, runDirectory: String, markers: MarkerSet)
    case console(Data)
    case marker(MarkerHit)
    case forbidden(MarkerHit)
    case stopping(StopReason)
}

/// Boots one lane once: starts QEMU, streams its console through the marker matcher into the
/// run's serial log, enforces the idle and total timeouts, stops the guest on a forbidden
/// marker at once, and returns the record with its verdict. Blocking; run it on its own thread.
///
/// QEMU is started first and everything else (marker files parsed and compiled, the run directory
/// and its files) is done while it starts up: QEMU needs tens of milliseconds before the guest
/// prints anything, and its console waits in serial.log meanwhile. That keeps os3ctl's own cost off
/// the boot's critical path (issue 2: `boot` adds at most 5% to QEMU by hand).
public struct BootRunner: Sendable {
    public var invocation: QemuInvocation
    public var markers: MarkerSource
    public var state: StateDirectory
    /// Grace between SIGTERM and SIGKILL when os3ctl stops a guest.
    public var killGrace: Double = 0.2
    /// How long to wait for the rest of a forbidden line before stopping the guest.
    public var forbiddenLineGrace: Double = 0.02
    /// How often the console file is read while the guest prints...
    public var consoleInterval: Double = 0.001
    /// ...and at least how often while it is silent.
    public var quietInterval: Double = 0.004

    public init(invocation: QemuInvocation, markers: MarkerSource, state: StateDirectory) {
        self.invocation = invocation
        self.markers = markers
        self.state = state
    }

    public func run(onEvent: @Sendable (BootEvent) -> Void = { _ in }) throws -> RunRecord {
        let lane = invocation.lane
        // Every wait of the loop below is a `Cancellation` wait: the interrupt pipe is in its poll set.
        let cancellation = Cancellation()
        let qemu = try StartedQemu.start(invocation, state: state, label: lane.name)
        Trace.mark("QEMU started")
        // The command as run: files in the run directory (a UEFI variables copy) named.
        let invocation = self.invocation.inRunDirectory(qemu.directory)
        let argv = invocation.argv
        let (spawned, start, startedAt, dir) = (qemu.spawned, qemu.start, qemu.startedAt, qemu.directory)
        let (consoleRead, errRead, inWrite) = (qemu.consoleRead, qemu.errRead, qemu.inWrite)
        // Our end of the guest's stdin stays open (EOF on a chardev can stop QEMU); closed at the end.
        defer { qemu.closePipes() }
        // While QEMU starts: the markers, then the rest of the run directory. A failure here must
        // not leave a running guest.
        let markers: MarkerSet
        do {
            markers = try self.markers.load()
            Trace.mark("markers loaded")
            try writeFile("\(dir)/argv.txt", argv.joined(separator: "\n") + "\n")
            try writeFile("\(dir)/command.sh", "#!/bin/sh\n# The exact QEMU command of this run.\nexec \(invocation.shellCommand)\n")
        } catch {
            qemu.stop()
            throw error
        }
        Trace.mark("run directory written")
        let serialPath = "\(dir)/serial.log"
        let errLog = open("\(dir)/qemu.stderr", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        defer { if errLog >= 0 { close(errLog) } }

        var matcher = MarkerMatcher(markers)
        var stopReason: StopReason?
        var stderrTail = [UInt8]()
        var verdictTime: Double?

        let child: ChildProcess
        switch spawned {
        case .success(let c): child = c
        case .failure(let error):
            let observation = BootObservation(end: .failedToStart("\(error)"))
            return finish(observation, invocation: invocation, markers: markers, dir: dir, serialPath: serialPath, startedAt: startedAt,
                          duration: Clock.now - start)
        }
        _ = fcntl(errRead, F_SETFL, fcntl(errRead, F_GETFL) | O_NONBLOCK)
        // QEMU's own account of how the guest ends (answered as QEMU greets, while it starts).
        let qmp = qemu.qmpFD >= 0 ? QmpChannel(fd: qemu.qmpFD) : nil
        onEvent(.started(pid: child.pid, runDirectory: dir, markers: markers))
        // Hand the set-up's freed memory back to the kernel now, while QEMU starts: what is left
        // mapped at exit is torn down on the critical path (expensive on this kind of host).
        _ = os3_malloc_trim()
        Trace.mark("set-up done")
        var inputPending = lane.consoleInput
        // The console input not yet taken by QEMU's stdin. The pipe is non-blocking and written as
        // it has room (POLLOUT in the loop below): a QEMU that never reads its stdin cannot hold
        // os3ctl past the lane's timeouts or an interrupt, however long the input.
        var typing: [UInt8] = []
        var typed = 0
        setNonBlocking(inWrite)
        /// Types the lane's console input once its trigger marker has been seen, as far as the pipe takes it.
        func typeInputIfDue() {
            if let input = inputPending, input.after.map({ matcher.hits[$0] != nil }) ?? true {
                inputPending = nil
                typing = Array(input.text.utf8)
            }
            while typed < typing.count {
                let n = typing.withUnsafeBytes { write(inWrite, $0.baseAddress! + typed, typing.count - typed) }
                if n > 0 { typed += n; continue }
                if n < 0 && errno == EINTR { continue }
                if n < 0 && errno == EAGAIN { return }
                // EPIPE: QEMU closed its stdin (or exited); there is no one left to type to.
                typing = []
                typed = 0
                return
            }
        }
        typeInputIfDue()

        // Not zeroed first (16 pages touched for nothing): only what read() returns is ever looked at.
        var buffer = [UInt8](unsafeUninitializedCapacity: 64 * 1024) { _, count in count = 64 * 1024 }
        var errOpen = true
        var lastOutput = start
        var end: ProcessEnd?

        /// Reads what QEMU has added to the console file since the last call; true if there was any.
        @discardableResult
        func drainConsole() -> Bool {
            var any = false
            while true {
                let n = buffer.withUnsafeMutableBytes { read(consoleRead, $0.baseAddress, $0.count) }
                if n > 0 {
                    any = true
                    let now = Clock.now
                    lastOutput = now
                    onEvent(.console(Data(buffer[0..<n])))
                    let events = buffer.withUnsafeBytes { matcher.feed(UnsafeRawBufferPointer(rebasing: $0[0..<n]), at: now - start) }
                    for event in events {
                        switch event {
                        case .seen(let hit): onEvent(.marker(hit))
                        case .forbidden(let hit):
                            onEvent(.forbidden(hit))
                            if stopReason == nil {
                                stopReason = .forbiddenMarker
                                verdictTime = now
                            }
                        }
                    }
                    // A short read reached the end of the file: the rest is for the next round.
                    if n < buffer.count { return true }
                    continue
                }
                if n < 0 && errno == EINTR { continue }
                return any
            }
        }

        func drainStderr() -> Bool {
            while true {
                let n = buffer.withUnsafeMutableBytes { read(errRead, $0.baseAddress, $0.count) }
                if n > 0 {
                    if errLog >= 0 { buffer.withUnsafeBytes { try? writeAll(errLog, UnsafeRawBufferPointer(rebasing: $0[0..<n])) } }
                    stderrTail += buffer[0..<n]
                    if stderrTail.count > 4096 { stderrTail.removeFirst(stderrTail.count - 4096) }
                    continue
                }
                if n == 0 { return false }
                if errno == EINTR { continue }
                return true
            }
        }

        // The console file is read every millisecond while the guest prints, and less often the
        // longer it is silent (doubling up to `quietInterval`): a QEMU starting up or a guest
        // waiting is not polled a thousand times a second, and each wake-up here is CPU taken from
        // a TCG guest. (inotify would wake the loop only on writes, but closing an inotify
        // descriptor waits for an RCU grace period, measured at up to 7 ms, on the way out.)
        var interval = consoleInterval
        var fds: [pollfd] = []
        fds.reserveCapacity(5)
        while end == nil && stopReason == nil {
            let now = Clock.now
            let idleDeadline = lastOutput + lane.idleTimeout
            let totalDeadline = start + lane.totalTimeout
            // Silence is a hang even when the total budget ran out at the same moment. os3ctl itself
            // may have been held up (a loaded host): look at the console file once more first.
            if now >= idleDeadline {
                drainConsole()
                if stopReason != nil { break }
                if now >= lastOutput + lane.idleTimeout { stopReason = .idleTimeout; verdictTime = now; break }
                continue
            }
            if now >= totalDeadline { stopReason = .totalTimeout; verdictTime = now; break }
            let wait = min(idleDeadline, totalDeadline) - now
            fds.removeAll(keepingCapacity: true)
            if errOpen { fds.append(pollfd(fd: errRead, events: Int16(POLLIN), revents: 0)) }
            if child.exitFD >= 0 { fds.append(pollfd(fd: child.exitFD, events: Int16(POLLIN), revents: 0)) }
            if let qmp, !qmp.closed { fds.append(pollfd(fd: qmp.fd, events: Int16(POLLIN), revents: 0)) }
            if typed < typing.count { fds.append(pollfd(fd: inWrite, events: Int16(POLLOUT), revents: 0)) }
            // QEMU's exit, its stderr, a QMP message, room in its stdin and an interrupt wake the loop at once.
            _ = cancellation.wait(&fds, timeout: max(0.001, min(wait, interval)))
            interval = drainConsole() ? consoleInterval : min(interval * 2, quietInterval)
            if inputPending != nil || typed < typing.count { typeInputIfDue() }
            if stopReason == .forbiddenMarker {
                // Give the panic line a moment to finish so the report shows all of it; the
                // verdict and its time are already fixed, and the guest is stopped well within 50 ms.
                let lineDeadline = Clock.now + forbiddenLineGrace
                while matcher.forbiddenLineIncomplete && Clock.now < lineDeadline {
                    usleep(UInt32(consoleInterval * 1_000_000))
                    drainConsole()
                }
                break
            }
            // Read only when poll says there is something (one system call less per round).
            if errOpen, fds.contains(where: { $0.fd == errRead && $0.revents != 0 }) { errOpen = drainStderr() }
            // QEMU stopped the VM and waits (a KVM internal error): end the boot now, not at the idle timeout.
            if let qmp, fds.contains(where: { $0.fd == qmp.fd && $0.revents != 0 }), qmp.service() {
                Trace.mark("QMP: VM stopped")
                stopReason = .vmStopped
                verdictTime = Clock.now
                break
            }
            if Interrupts.signal != nil { stopReason = .interrupted; verdictTime = Clock.now; break }
            // With a pidfd, waitpid only once it says the child is gone; without, every round.
            let exited = child.exitFD < 0 || fds.contains { $0.fd == child.exitFD && $0.revents != 0 }
            if exited, let e = child.poll() {
                // The guest may have written its last bytes just before exiting: take them all.
                drainConsole()
                if errOpen { errOpen = drainStderr() }
                // QEMU sent its SHUTDOWN just before exiting: read it too.
                qmp?.service()
                end = e
                Trace.mark("QEMU exit seen")
                verdictTime = Clock.now
            }
        }
        var stopLatency: Double?
        if let reason = stopReason {
            onEvent(.stopping(reason))
            end = child.terminate(grace: killGrace)
            stopLatency = Clock.now - (verdictTime ?? Clock.now)
        } else {
            // Anything QEMU left in its group (a fake QEMU's children) goes too.
            child.killGroup(SIGKILL)
        }
        drainConsole()
        if errOpen { _ = drainStderr() }
        qmp?.service()
        let now = Clock.now
        var observation = BootEnd.observe(&matcher, at: now - start, end: end ?? child.wait(), stopReason: stopReason,
                                          stderrTail: String(decoding: stderrTail, as: UTF8.self), console: consoleRead,
                                          runDirectory: dir, ktapLog: invocation.lane.ktap ? serialPath : nil, onEvent: onEvent)
        observation.account = qmp?.account
        return finish(observation, invocation: invocation, markers: markers, dir: dir, serialPath: serialPath, startedAt: startedAt,
                      duration: (verdictTime ?? now) - start, stopLatency: stopLatency)
    }

    private func finish(_ observation: BootObservation, invocation: QemuInvocation, markers: MarkerSet, dir: String, serialPath: String,
                        startedAt: String, duration: Double, stopLatency: Double? = nil) -> RunRecord {
        let lane = invocation.lane
        let verdict = Verdict.judge(observation, markers: markers, success: lane.success,
                                    idleTimeout: lane.idleTimeout, totalTimeout: lane.totalTimeout)
        let record = RunRecord(lane: lane.name, laneFile: lane.file, kernel: invocation.kernel, argv: invocation.argv,
                               kernelCommandLine: invocation.kernelCommandLine, runDirectory: dir, serialLog: serialPath,
                               startedAt: startedAt, duration: duration, verdict: verdict, end: observation.end,
                               markers: observation.hits.values.sorted { ($0.line, $0.time) < ($1.line, $1.time) },
                               requiredCount: markers.required.count, consoleBytes: observation.consoleBytes,
                               stopLatency: stopLatency, backend: "qemu")
        Trace.mark("verdict")
        let saved = BootEnd.save(record, evidenceLost: observation.evidenceLost != nil, ktap: observation.ktap)
        Trace.mark("result.json written")
        return saved
    }
}
