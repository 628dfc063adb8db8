import ArgumentParser
import Dispatch
import FoundationEssentials
import Glibc
import OS3Core
import OS3Runner

struct GateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gate",
        abstract: "Run the project's host tests, build it, boot every lane in parallel, and summarise (os3ctl.toml says how).",
        discussion: """
        Exit 0 only if every lane passed. Skipped lanes (this machine cannot run them) fail the gate \
        unless --allow-skipped is given. With --kernel the host tests and the build are skipped.

        EXAMPLES:
          os3ctl gate
          os3ctl gate --lane tiny --lane kvm --jobs 2
          os3ctl gate --junit junit.xml --allow-skipped
          os3ctl gate --json > gate.json
        """)

    @OptionGroup var options: ProjectOptions
    @OptionGroup var view: ViewOptions
    @OptionGroup var kernelOptions: KernelOptions
    @OptionGroup var backendOptions: BackendOptions
    @OptionGroup var laneAsArgument: LaneAsArgument

    @Option(name: .customLong("lane"), help: ArgumentHelp("Only these lanes (repeatable; default: every lane in lanes/ without gate = false).", valueName: "name"), completion: LaneNames.completion)
    var lanes: [String] = []

    @Option(parsing: .unconditional, help: ArgumentHelp("Lanes booted at once (default: the number of cores).", valueName: "n"))
    var jobs: Int?

    @Option(help: ArgumentHelp("Write JUnit XML here.", valueName: "file"), completion: .file(extensions: ["xml"]))
    var junit: String?

    @Flag(help: "Print the records as JSON on stdout instead of the table.")
    var json = false

    @Option(name: .customLong("json-file"), help: ArgumentHelp("Also write the JSON of --json to this file (atomically; the table or --json still goes to stdout).", valueName: "file"), completion: .file(extensions: ["json"]))
    var jsonFile: String?

    @Flag(name: .customLong("allow-skipped"), help: "Lanes this machine cannot run do not fail the gate (they are still reported).")
    var allowSkipped = false

    @Flag(name: .customLong("skip-host-tests"), help: "Do not run the project's host tests ([test] in os3ctl.toml) first.")
    var skipHostTests = false

    func validate() throws {
        try NumericOptions.count(jobs, "--jobs", NumericOptions.jobs)
    }

    func run() throws {
        view.apply()
        // Every output path is checked before anything runs: a typo must not cost the boots.
        try Outputs.check(junit, option: "--junit")
        try Outputs.check(jsonFile, option: "--json-file")
        let project = try options.locate()
        // Load and check every lane and marker file before any work: a typo fails fast.
        // `gate = false` lanes (broken variants, slow lanes) run only when named.
        let selected = try lanes.isEmpty ? project.loadLanes().filter(\.inGate) : lanes.map(project.loadLane)
        guard !selected.isEmpty else {
            throw OS3Error(.usage, "every lane in \(project.relative(project.lanesDirectory)) says gate = false: the gate would check nothing",
                           fix: "set gate = true (or remove the key) in the lanes the gate must boot, or name lanes with --lane")
        }
        let plans = try selected.map { ($0, try project.markers(for: $0)) }

        if kernelOptions.kernel == nil && !skipHostTests {
            try runHostTests(project)
        }
        let kernel = try kernelOptions.resolveKernel(project: project, lanes: selected, quiet: false)
        let runner = LaneRunner(project: project, state: options.state, kernel: kernel, kernelOverridesLanes: kernelOptions.kernel != nil,
                                qemu: kernelOptions.qemuBinary,
                                extraAppend: kernelOptions.append, backend: try backendOptions.makeBackend(state: options.state))
        let width = jobs ?? HostProbe.cores
        NumericOptions.warnAboveCores(jobs, command: "gate")
        printProgress("gate: booting \(plans.count) lane(s), \(width) at a time")
        let start = Clock.now
        let progress = GateProgress(plans)
        progress.start()
        let records = try runParallel(plans, width: width) { lane, markers in
            // A lane os3ctl could not boot (its run directory, its pipes) is that lane's row; the
            // other lanes' verdicts stand.
            let record: RunRecord
            do {
                record = try runner.run(lane, markers: markers) { progress.event(lane.name, $0) }
            } catch {
                record = .infraError(lane: lane, markers: markers, kernel: kernel, backend: runner.backend.name,
                                     startedAt: iso8601.string(from: Date()), detail: Outputs.describe(error))
            }
            progress.ended(record)
            return record
        }
        progress.finish()
        let wall = Clock.now - start
        let outcome = GateOutcome(records: records, allowSkipped: allowSkipped)
        var failures: [String] = []
        if let junit {
            Outputs.write(absolutePath(junit), Outputs.gateJUnit(records, allowSkipped: allowSkipped), failures: &failures)
        }
        let document = json || jsonFile != nil ? GateJSON.document(outcome, wall: wall).pretty : ""
        if let jsonFile { Outputs.write(absolutePath(jsonFile), document + "\n", failures: &failures) }
        if json {
            printOut(document)
        } else {
            // On a terminal, DETAIL is cut to the screen's width rather than wrapped.
            printOut(Reports.table(records, width: isatty(1) == 1 ? terminalSize(1)?.columns : nil))
            printOut("gate: \(outcome.passed ? "PASS" : "FAIL") (\(records.filter { $0.verdict.kind == .pass }.count)/\(records.count) lanes passed, wall \(Reports.seconds(wall)))")
        }
        let skipped = records.filter { $0.verdict.kind == .skipped }
        for r in skipped {
            printErr("gate: WARNING lane \(r.lane) was SKIPPED and proves nothing: \(r.verdict.detail)\(allowSkipped ? "" : " (pass --allow-skipped to accept)")")
        }
        for r in records where !r.runDirectory.isEmpty && !r.verdict.kind.passed {
            printErr("gate: \(r.lane) evidence: \(r.serialLog)\(Path.exists(r.serialLog) ? "" : " (no longer exists)")")
        }
        // [runs] keep-passes: old passing runs go once this gate's are recorded.
        let pruneFailed = RunsPruneCommand.automatic(project, state: options.state, command: "gate")
        let lost = Outputs.reportFailures("gate", records: records, failures: failures) || pruneFailed
        if let status = Interrupts.exitStatus { throw ExitCode(status) }
        if lost { throw ExitCode(ioErrorExit) }
        throw ExitCode(outcome.exitCode)
    }

    /// `[test]` of os3ctl.toml: its output is shown when it fails (or with --verbose); a failure fails the gate (exit 3).
    private func runHostTests(_ project: Project) throws {
        guard let test = project.file.test else {
            printProgress("gate: \(project.file.file) has no [test] section: no host tests to run")
            return
        }
        printProgress("gate: running the host tests ([test] in \(project.file.file): \(test.argv.joined(separator: " ")))")
        let start = Clock.now
        // Their output is shown only when they fail (its tail), or as it comes with --verbose;
        // when they pass, the count their runner's summary gives.
        let output = try project.runTests(quiet: !Terminal.verbose)
        let count = output.flatMap(HostTestCount.passed(in:)).map { ": \($0) test\($0 == 1 ? "" : "s")" }
            ?? (output == nil ? "" : " (their output gives no test count os3ctl can read; --verbose shows it)")
        printProgress("gate: host tests passed\(count) in \(Reports.seconds(Clock.now - start))")
    }
}

/// Runs `work` for every item with at most `width` at once, each on its own thread (boots block
/// in poll(), so they must not occupy the shared pool). Results keep the input order.
func runParallel<T: Sendable, R: Sendable>(_ items: [T], width: Int, _ work: @escaping @Sendable (T) throws -> R) throws -> [R] {
    let box = ResultBox<R>(items.count)
    let slots = DispatchSemaphore(value: max(1, width))
    let group = DispatchGroup()
    for (index, item) in items.enumerated() {
        slots.wait()
        group.enter()
        startThread(name: "os3ctl-lane") {
            let result = Result { try work(item) }
            box.lock.lock()
            box.results[index] = result
            box.lock.unlock()
            slots.signal()
            group.leave()
        }
    }
    group.wait()
    return try box.results.map { try $0!.get() }
}

func runParallel<R: Sendable>(_ plans: [(Lane, MarkerSet)], width: Int, _ work: @escaping @Sendable (Lane, MarkerSet) throws -> R) throws -> [R] {
    try runParallel(plans.map { Plan(lane: $0.0, markers: $0.1) }, width: width) { try work($0.lane, $0.markers) }
}

struct Plan: Sendable {
    var lane: Lane
    var markers: MarkerSet
}

private final class ResultBox<R>: @unchecked Sendable {
    var results: [Result<R, Error>?]
    let lock = Lock()
    init(_ n: Int) { results = Array(repeating: nil, count: n) }
}

/// `gate --json` (docs/JSON.md): a summary object and every lane's record.
enum GateJSON {
    static func document(_ outcome: GateOutcome, wall: Double) -> JSONText {
        let records = outcome.records
        func count(_ kind: VerdictKind) -> Int { records.filter { $0.verdict.kind == kind }.count }
        let summary: JSONText = .object([
            ("passed", .bool(outcome.passed)), ("verdict", .string(outcome.worst.rawValue)), ("exitCode", .int(Int(outcome.exitCode))),
            ("lanes", .int(records.count)), ("pass", .int(count(.pass))), ("skipped", .int(count(.skipped))),
            ("failed", .int(records.count - count(.pass) - count(.skipped))), ("allowSkipped", .bool(outcome.allowSkipped)),
            ("wall", .double(wall)),
        ])
        return .object([("format", .string(JSONContract.gateFormat)), ("version", .int(JSONContract.version)),
                        ("summary", summary), ("records", .array(records.map(\.jsonText)))])
    }
}
