import ArgumentParser
import COS3Early
import FoundationEssentials
import Glibc
import OS3Core
import OS3Runner

struct BootCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "boot",
        abstract: "Boot the kernel in one lane and judge it.",
        discussion: "Exits with the verdict's code (0 = pass). The run directory keeps the full serial log and the exact QEMU argv.")

    @OptionGroup var options: ProjectOptions
    @OptionGroup var kernelOptions: KernelOptions
    @OptionGroup var backendOptions: BackendOptions

    @Option(help: ArgumentHelp("The lane to boot (a file in lanes/).", valueName: "name"))
    var lane: String = "kvm"

    @Option(help: ArgumentHelp("Total timeout in seconds (overrides the lane's).", valueName: "seconds"))
    var timeout: Double?

    @Option(name: .customLong("idle-timeout"), help: ArgumentHelp("Seconds without console output that count as a hang (overrides the lane's).", valueName: "seconds"))
    var idleTimeout: Double?

    @Flag(help: "Echo the serial console to stderr as it arrives.")
    var serial = false

    @Flag(help: "Print one JSON result on stdout instead of the human summary.")
    var json = false

    func validate() throws {
        try NumericOptions.seconds(timeout, "--timeout")
        try NumericOptions.seconds(idleTimeout, "--idle-timeout")
    }

    /// What ArgumentParser made of the command line.
    var request: BootRequest {
        BootRequest(project: options.project, stateDir: options.stateDir, kernel: kernelOptions.kernel, qemu: kernelOptions.qemu,
                    append: kernelOptions.append, lane: lane, timeout: timeout, idleTimeout: idleTimeout, serial: serial, json: json,
                    backend: backendOptions.backend, connect: backendOptions.connect)
    }

    func run() throws { try request.run() }
}

extension BootRequest {
    /// Boots the lane, prints the verdict, and throws the verdict's exit code.
    func run() throws {
        let project = try Project.locate(explicit: self.project)
        let state = ProjectOptions.state(stateDir)
        var lane = try project.loadLane(self.lane)
        if let timeout { lane.totalTimeout = timeout; lane.idleTimeout = min(lane.idleTimeout, timeout) }
        if let idleTimeout { lane.idleTimeout = idleTimeout }
        Trace.mark("lane read")
        let (kernel, rebuilt) = try KernelOptions.resolveKernelNotingRebuild(self.kernel, project: project, quiet: json)
        // A QEMU started early from the cache read the image as it was: after a rebuild it must go.
        if rebuilt { BootCommand.discardEarlyStart() }
        var backend = BackendOptions.makeBackend(backend: self.backend, connect: connect, state: state)
        let early = backend is QemuBackend ? BootCommand.takeEarlyStart() : nil
        if let early { backend = QemuBackend(prestarted: early) }
        // A skipped lane or another argv leaves the early QEMU unadopted: it is stopped here.
        defer { early?.discard() }
        let runner = LaneRunner(project: project, state: state, kernel: kernel, qemu: KernelOptions.qemuBinary(qemu),
                                extraAppend: append, backend: backend)
        let progress = BootProgress(lane: lane.name, echoSerial: serial, quiet: json && !serial)
        let argv = runner.invocation(for: lane).argv
        let remember = backend is QemuBackend
        // Marker files are parsed and compiled while QEMU starts (they are checked before any verdict).
        let record = try runner.run(lane, markers: .deferred { [lane] in try project.markers(for: lane) }) { [lane] event in
            // Once QEMU runs, and while it runs: the cache entry is written off the boot's critical path.
            if remember, case .started = event { BootCommand.rememberForEarlyStart(project: project, lane: lane, state: state, argv: argv) }
            progress.handle(event)
        }
        Trace.mark("record back")
        if json {
            printOut(encodeJSON(record))
        } else {
            printOut(summaryLine(record))
        }
        if record.verdict.kind == .skipped {
            printErr("[\(lane.name)] SKIPPED — this lane did NOT run: \(record.verdict.detail)")
        }
        let lost = Outputs.reportFailures("boot", records: [record], failures: [])
        if let status = Interrupts.exitStatus { throw ExitCode(status) }
        if lost { throw ExitCode(ioErrorExit) }
        throw ExitCode(record.verdict.kind.exitCode)
    }
}

// MARK: Starting QEMU before the command line is parsed

extension BootCommand {
    nonisolated(unsafe) private static var earlyStart: StartedQemu?
    /// Where this command line's early-start cache entry belongs (COS3Early), if it has one.
    nonisolated(unsafe) static var earlyCachePath: String?

    /// A QEMU the executable's C start-up already started from the cache.
    static func adoptEarly(_ started: StartedQemu) { earlyStart = started }

    /// The QEMU the C start-up started, handed over once.
    static func takeEarlyStart() -> StartedQemu? {
        defer { earlyStart = nil }
        return earlyStart
    }

    /// Stops an early QEMU nobody adopted (the command line turned out to mean something else).
    static func discardEarlyStart() { takeEarlyStart()?.discard() }

    /// Records what this command line started, so that next time the executable's C start-up
    /// (COS3Early) can start the same QEMU before any Swift runs. Only for a QEMU started directly;
    /// the entry holds the lane file's identity, so editing the lane invalidates it.
    static func rememberForEarlyStart(project: Project, lane: Lane, state: StateDirectory, argv: [String]) {
        guard let path = earlyCachePath, let program = argv.first, let executable = resolveExecutable(program),
              !argv.contains(where: { $0.contains("\n") }) else { return }
        let laneFile = "\(project.lanesDirectory)/\(lane.name).toml"
        var stamp = [CChar](repeating: 0, count: 256)
        guard os3_early_file_stamp(laneFile, &stamp, UInt(stamp.count)) == 0 else { return }
        let stampText = String(nulTerminated: stamp)
        let entry = (["os3ctl-early 1", laneFile, stampText, state.path, lane.name, absolutePath(executable),
                      String(argv.count)] + argv).joined(separator: "\n") + "\n"
        if (try? String(contentsOfFile: path, encoding: .utf8)) == entry { return }
        let dir = Path.directory(path)
        _ = mkdir(dir, 0o700)
        // Written aside and renamed: a reader sees the old entry or the new one, never half.
        let temporary = "\(path).\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        let written = (try? writeAll(fd, Array(entry.utf8))) != nil
        close(fd)
        if !written || rename(temporary, path) != 0 { unlink(temporary) }
    }
}

/// One line per boot: verdict, lane, time, markers, detail, and where the evidence is.
func summaryLine(_ r: RunRecord) -> String {
    var line = "\(r.verdict.kind.rawValue.uppercased()) \(r.lane)"
    if r.verdict.kind != .skipped { line += " in \(Reports.seconds(r.duration)), markers \(r.seenCount)/\(r.requiredCount)" }
    line += ": \(r.verdict.detail)"
    if !r.runDirectory.isEmpty { line += "\n  run directory: \(r.runDirectory)\(Path.exists(r.runDirectory) ? "" : " (no longer exists)")" }
    return line
}
