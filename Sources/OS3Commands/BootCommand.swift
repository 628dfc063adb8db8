import ArgumentParser
import FoundationEssentials
import Glibc
import OS3Core
import OS3Runner

struct BootCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "boot",
        abstract: "Boot the kernel in one lane and judge it.",
        discussion: """
        Builds the project first (unless --kernel is given), boots the lane, and exits with the \
        verdict's code (0 = pass). The run directory keeps the full serial log, the exact QEMU command \
        and result.json; its path is printed.

        EXAMPLES:
          os3ctl boot --lane tiny
          os3ctl boot --lane kvm --serial --append os3.panic=1
          os3ctl boot --lane tiny --kernel build/other.elf --json
          os3ctl boot --lane tiny --backend libvirt
        """)

    @OptionGroup var options: ProjectOptions
    @OptionGroup var kernelOptions: KernelOptions
    @OptionGroup var backendOptions: BackendOptions
    @OptionGroup var laneAsArgument: LaneAsArgument
    @OptionGroup var view: ViewOptions

    @Option(help: ArgumentHelp("The lane to boot (a file in lanes/, without .toml).", valueName: "name"), completion: LaneNames.completion)
    var lane: String = "kvm"

    @Option(parsing: .unconditional, help: ArgumentHelp("Total timeout in seconds (overrides the lane's).", valueName: "seconds"))
    var timeout: Double?

    @Option(name: .customLong("idle-timeout"), parsing: .unconditional, help: ArgumentHelp("Seconds without console output that count as a hang (overrides the lane's).", valueName: "seconds"))
    var idleTimeout: Double?

    @Flag(help: "Echo the serial console to stderr as it arrives.")
    var serial = false

    @Flag(help: "Print one JSON result on stdout instead of the human summary.")
    var json = false

    @Option(name: .customLong("json-file"), help: ArgumentHelp("Also write the JSON result to this file (atomically; stdout is unchanged).", valueName: "file"), completion: .file(extensions: ["json"]))
    var jsonFile: String?

    @Option(help: ArgumentHelp("Boot under this many busy processes loading the host, as stress --hog does (stress's replay lines use it).", valueName: "n"))
    var hog: Int = 0

    @Option(help: ArgumentHelp("--hog: what the hogs do: cpu (os3ctl's own busy loops), or through stress-ng: vm, cache, io, mixed.", valueName: "recipe"))
    var load: String = "cpu"

    func validate() throws {
        try NumericOptions.seconds(timeout, "--timeout")
        try NumericOptions.seconds(idleTimeout, "--idle-timeout")
        try NumericOptions.count(hog, "--hog", NumericOptions.hogs)
        if HostLoad.Recipe(rawValue: load) == nil {
            throw ValidationError("--load must be one of: \(HostLoad.Recipe.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    /// What ArgumentParser made of the command line.
    var request: BootRequest {
        BootRequest(project: options.project, stateDir: options.stateDir, kernel: kernelOptions.kernel, qemu: kernelOptions.qemu,
                    append: kernelOptions.append, lane: lane, timeout: timeout, idleTimeout: idleTimeout, serial: serial, json: json,
                    backend: backendOptions.backend, connect: backendOptions.connect, tokenFile: backendOptions.tokenFile, color: view.color, quiet: view.quiet,
                    verbose: view.verbose, jsonFile: jsonFile, hog: hog, load: load)
    }

    func run() throws { try request.run() }
}

extension BootRequest {
    /// Boots the lane, prints the verdict, and throws the verdict's exit code.
    func run() throws {
        ViewOptions.apply(color: color, quiet: quiet, verbose: verbose)
        // Output paths are checked before the boot: a typo must not cost it.
        try Outputs.check(jsonFile, option: "--json-file")
        let project = try Project.locate(explicit: self.project)
        let state = ProjectOptions.state(stateDir)
        var lane = try project.loadLane(self.lane)
        if let timeout { lane.totalTimeout = timeout; lane.idleTimeout = min(lane.idleTimeout, timeout) }
        if let idleTimeout { lane.idleTimeout = idleTimeout }
        Trace.mark("lane read")
        let kernel = try KernelOptions.resolveKernel(self.kernel, project: project, lanes: [lane], quiet: json || Terminal.quiet)
        let backend = try BackendOptions.makeBackend(backend: self.backend, connect: connect, tokenFile: tokenFile, state: state)
        let runner = LaneRunner(project: project, state: state, kernel: kernel, kernelOverridesLanes: self.kernel != nil, qemu: KernelOptions.qemuBinary(qemu),
                                extraAppend: append, backend: backend)
        let progress = BootProgress(lane: lane.name, echoSerial: serial, quiet: json && !serial)
        if Terminal.verbose, let argv = try? runner.invocation(for: lane).argv, !argv.isEmpty {
            printErr("[\(lane.name)] \(argv.map(shellQuote).joined(separator: " "))")
        }
        // --hog: the same synthetic load a stress run had (started before, stopped after the boot).
        let hostLoad = try HostLoad.start(hogs: hog, recipe: HostLoad.Recipe(rawValue: load) ?? .cpu)
        if hog > 0 {
            printProgress("[\(lane.name)] booting under load: \(hog) hog(s) (\(load))")
            usleep(300_000)  // as stress does: the hogs reach the run queue before the boot
        }
        // Marker files are parsed and compiled while QEMU starts (they are checked before any verdict).
        let record: RunRecord
        do {
            record = try runner.run(lane, markers: .deferred { [lane] in try project.markers(for: lane) }) { event in
                progress.handle(event)
            }
        } catch {
            _ = hostLoad.stop()
            throw error
        }
        _ = hostLoad.stop()
        progress.finish(record)
        Trace.mark("record back")
        if json {
            printOut(encodeJSON(record))
        } else {
            printOut(summaryLine(record, colorOn: 1))
        }
        if record.verdict.kind == .skipped {
            printErr("[\(lane.name)] SKIPPED — this lane did NOT run: \(record.verdict.detail)")
        }
        var failures: [String] = []
        if let jsonFile { Outputs.write(absolutePath(jsonFile), encodeJSON(record) + "\n", failures: &failures) }
        let lost = Outputs.reportFailures("boot", records: [record], failures: failures)
        if let status = Interrupts.exitStatus { throw ExitCode(status) }
        if lost { throw ExitCode(ioErrorExit) }
        throw ExitCode(record.verdict.kind.exitCode)
    }
}

/// One line per boot: verdict, lane, time, markers, detail, and where the evidence is.
/// `colorOn`: the descriptor it is printed on, to colour the verdict when that takes colour.
func summaryLine(_ r: RunRecord, colorOn fd: Int32? = nil) -> String {
    let sgr = r.verdict.kind == .pass ? "32" : r.verdict.kind == .skipped ? "33" : "31"
    let word = r.verdict.kind.rawValue.uppercased()
    var line = "\(fd.map { Terminal.paint(word, sgr, on: $0) } ?? word) \(r.lane)"
    if r.verdict.kind != .skipped { line += " in \(Reports.seconds(r.duration)), markers \(r.seenCount)/\(r.requiredCount)" }
    line += ": \(r.verdict.detail)"
    if !r.runDirectory.isEmpty { line += "\n  run directory: \(r.runDirectory)\(Path.exists(r.runDirectory) ? "" : " (no longer exists)")" }
    return line
}
