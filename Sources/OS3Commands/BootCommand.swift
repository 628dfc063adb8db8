import ArgumentParser
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
        let kernel = try kernelOptions.resolveKernel(project: project, quiet: json)
        let runner = LaneRunner(project: project, state: options.state, kernel: kernel, qemu: kernelOptions.qemuBinary,
                                extraAppend: kernelOptions.append, backend: backendOptions.makeBackend(state: options.state))
        let progress = BootProgress(lane: lane.name, echoSerial: serial, quiet: json && !serial)
        // Marker files are parsed and compiled while QEMU starts (they are checked before any verdict).
        let record = try runner.run(lane, markers: .deferred { [lane] in try project.markers(for: lane) }, onEvent: progress.handle)
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

/// One line per boot: verdict, lane, time, markers, detail, and where the evidence is.
func summaryLine(_ r: RunRecord) -> String {
    var line = "\(r.verdict.kind.rawValue.uppercased()) \(r.lane)"
    if r.verdict.kind != .skipped { line += " in \(Reports.seconds(r.duration)), markers \(r.seenCount)/\(r.requiredCount)" }
    line += ": \(r.verdict.detail)"
    if !r.runDirectory.isEmpty { line += "\n  run directory: \(r.runDirectory)" }
    return line
}
