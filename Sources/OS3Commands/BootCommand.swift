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
        if let timeout, timeout <= 0 { throw ValidationError("--timeout must be a positive number of seconds") }
        if let idleTimeout, idleTimeout <= 0 { throw ValidationError("--idle-timeout must be a positive number of seconds") }
    }

    func run() throws {
        let project = try options.locate()
        var lane = try project.loadLane(self.lane)
        if let timeout { lane.totalTimeout = timeout; lane.idleTimeout = min(lane.idleTimeout, timeout) }
        if let idleTimeout { lane.idleTimeout = idleTimeout }
        let (kernel, rebuilt) = try kernelOptions.resolveKernelNotingRebuild(project: project, quiet: json)
        // A QEMU started early from the cache read the image as it was: after a rebuild it must go.
        if rebuilt { BootCommand.discardEarlyStart() }
        var backend = backendOptions.makeBackend(state: options.state)
        let early = backend is QemuBackend ? BootCommand.takeEarlyStart() : nil
        if let early { backend = QemuBackend(prestarted: early) }
        // A skipped lane or another argv leaves the early QEMU unadopted: it is stopped here.
        defer { early?.discard() }
        let runner = LaneRunner(project: project, state: options.state, kernel: kernel, qemu: kernelOptions.qemuBinary,
                                extraAppend: kernelOptions.append, backend: backend)
        let progress = BootProgress(lane: lane.name, echoSerial: serial, quiet: json && !serial)
        let remember = backend is QemuBackend
        let (argv, state) = (runner.invocation(for: lane).argv, options.state)
        // Marker files are parsed and compiled while QEMU starts (they are checked before any verdict).
        let record = try runner.run(lane, markers: .deferred { [lane] in try project.markers(for: lane) }) { [lane] event in
            // Once QEMU runs, and while it runs: the cache entry is written off the boot's critical path.
            if remember, case .started = event { Self.rememberForEarlyStart(project: project, lane: lane, state: state, argv: argv) }
            progress.handle(event)
        }
        if json {
            printOut(encodeJSON(record))
        } else {
            printOut(summaryLine(record))
        }
        if record.verdict.kind == .skipped {
            printErr("[\(lane.name)] SKIPPED — this lane did NOT run: \(record.verdict.detail)")
        }
        if let status = Interrupts.exitStatus { throw ExitCode(status) }
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

    /// `boot` starts QEMU before ArgumentParser has looked at the command line: parsing takes about
    /// 2 ms (reflection over every command's options), on the critical path of every boot (issue 2:
    /// os3ctl may add at most 5% to QEMU by hand). For the plain forms — `boot` followed only by the
    /// options below, with `--kernel` given — this reads the lane, checks it can run here, and starts
    /// QEMU; ArgumentParser then parses as always (it alone decides what the command line means),
    /// and `BootRunner` adopts this QEMU only if the argv it would run is exactly this one. Anything
    /// else (another option, a usage error, a different reading of the options) stops it at once, and
    /// nothing is shown of it. Called once, first thing, from `OS3Command.runMain`.
    static func startEarly(_ arguments: [String]) {
        guard arguments.first == "boot" else { return }
        // Plain arrays: a Set or Dictionary would be the process's first, and setting up a generic
        // type the first time costs more than these few comparisons.
        let valued = ["--lane", "--kernel", "--qemu", "--append", "--project", "--state-dir", "--timeout", "--idle-timeout"]
        let flags = ["--serial", "--json"]
        var given = [String?](repeating: nil, count: valued.count)
        func value(_ name: String) -> String? { valued.firstIndex(of: name).flatMap { given[$0] } }
        var rest = arguments.dropFirst()
        while let arg = rest.popFirst() {
            if flags.contains(arg) { continue }
            if let eq = arg.firstIndex(of: "="), let k = valued.firstIndex(of: String(arg[..<eq])) {
                given[k] = String(arg[arg.index(after: eq)...])
                continue
            }
            guard let k = valued.firstIndex(of: arg), let v = rest.popFirst(), !v.hasPrefix("-") || arg == "--append" else { return }
            given[k] = v
        }
        guard let kernelArg = value("--kernel"),
              let project = try? Project.locate(explicit: value("--project")),
              let lane = try? project.loadLane(value("--lane") ?? "kvm"),
              HostProbe.skipReason(for: lane) == nil,
              let kernel = try? KernelOptions.givenKernel(kernelArg) else { return }
        let invocation = QemuInvocation(binary: KernelOptions.qemuBinary(value("--qemu")), lane: lane, kernel: kernel,
                                        extraAppend: value("--append") ?? "")
        let state = ProjectOptions.state(value("--state-dir"))
        earlyStart = try? StartedQemu.start(invocation.argv, state: state, label: lane.name)
    }

    /// The QEMU `startEarly` started, handed over once.
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
        let stampText = String(decoding: stamp.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
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
    if !r.runDirectory.isEmpty { line += "\n  run directory: \(r.runDirectory)" }
    return line
}
