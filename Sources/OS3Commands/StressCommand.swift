import ArgumentParser
import FoundationEssentials
import Glibc
import OS3Core
import OS3Runner

struct StressCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stress",
        abstract: "Boot a lane many times under synthetic host load and measure how often it flakes.",
        discussion: """
        Every run gets its own kernel seed (os3.seed=N, a hash of the base seed and the run's index) so \
        any run can be replayed. The summary gives the failure rate with two-sided 95% intervals \
        (Wilson and exact Clopper–Pearson) and, on request, an exact binomial test against a baseline \
        rate (the alternative chosen in advance with --alternative, level --alpha), Fisher's exact test \
        of load versus idle runs interleaved in randomised blocks, and a sequential test (α --alpha, \
        β --beta) that takes the runs in run order and stops as soon as they decide. Exits 0 only if \
        every run passed. docs/STRESS.md says more.

        EXAMPLES:
          os3ctl stress --lane tiny --hog 2 --runs 50
          os3ctl stress --lane tiny --hog 2 --load mixed --compare-idle --runs 40
          os3ctl stress --lane kvm --until-confident --p0 0.02 --p1 0.2
          os3ctl stress --lane tiny --runs 20 --baseline 0.1 --alternative less --report flakes.html
        """)

    @OptionGroup var options: ProjectOptions
    @OptionGroup var view: ViewOptions
    @OptionGroup var kernelOptions: KernelOptions
    @OptionGroup var backendOptions: BackendOptions
    @OptionGroup var laneAsArgument: LaneAsArgument

    @Option(help: ArgumentHelp("The lane to boot.", valueName: "name"), completion: LaneNames.completion)
    var lane: String = "kvm"

    @Option(parsing: .unconditional, help: ArgumentHelp("Busy processes loading the host for the whole experiment.", valueName: "n"))
    var hog: Int = 0

    @Option(help: ArgumentHelp("What the hogs do: cpu (os3ctl's own busy loops), or through stress-ng: vm, cache, io, mixed.", valueName: "recipe"), completion: .list(HostLoad.Recipe.allCases.map(\.rawValue)))
    var load: String = "cpu"

    @Option(parsing: .unconditional, help: ArgumentHelp("Boots under load.", valueName: "m"))
    var runs: Int = 16

    @Option(parsing: .unconditional, help: ArgumentHelp("Boots at once.", valueName: "j"))
    var jobs: Int = 1

    @Option(parsing: .unconditional, help: ArgumentHelp("Base seed for the per-run kernel seeds (default: random, printed).", valueName: "n"))
    var seed: UInt64?

    @Option(parsing: .unconditional, help: ArgumentHelp("Test the result against this flake rate (exact binomial test; see --alternative).", valueName: "p"))
    var baseline: Double?

    @Option(help: ArgumentHelp("--baseline: the claim to test, chosen before the data: less (the rate is below the baseline — did the fix lower it?), greater, or two-sided.", valueName: "less|greater|two-sided"), completion: .list(Stats.Alternative.allCases.map(\.rawValue)))
    var alternative: String = Stats.Alternative.twoSided.rawValue

    @Option(parsing: .unconditional, help: ArgumentHelp("Level of every test (--baseline, --compare-idle, hosts' agreement) and the sequential test's α.", valueName: "a"))
    var alpha: Double = 0.05

    @Flag(name: .customLong("compare-idle"), help: "Also boot the same number of times without load, interleaved with the loaded runs in randomised blocks, and compare (Fisher's exact test).")
    var compareIdle = false

    @Option(parsing: .unconditional, help: ArgumentHelp("--compare-idle: runs per idle or loaded phase of a block (default: 4, or --jobs if more).", valueName: "n"))
    var block: Int?

    @Flag(name: .customLong("until-confident"), help: "Stop as soon as a sequential probability ratio test decides between --p0 and --p1 (at most --max-runs).")
    var untilConfident = false

    @Option(parsing: .unconditional, help: ArgumentHelp("--until-confident: the acceptable flake rate.", valueName: "p"))
    var p0: Double = 0.02

    @Option(parsing: .unconditional, help: ArgumentHelp("--until-confident: the flake rate that must be detected.", valueName: "p"))
    var p1: Double = 0.2

    @Option(parsing: .unconditional, help: ArgumentHelp("--until-confident: the probability of deciding 'rate ≥ p1' when the rate is p0 (the test's α is --alpha).", valueName: "b"))
    var beta: Double = 0.05

    @Option(name: .customLong("max-runs"), parsing: .unconditional, help: ArgumentHelp("--until-confident: the cap on runs.", valueName: "n"))
    var maxRuns: Int = 200

    @Option(name: .customLong("target-rate"), parsing: .unconditional, help: ArgumentHelp("Report how many passing runs would bound the rate below this.", valueName: "p"))
    var targetRate: Double = 0.05

    @Option(parsing: .unconditional, help: ArgumentHelp("Total timeout per boot in seconds (overrides the lane's).", valueName: "seconds"))
    var timeout: Double?

    @Flag(help: "Print the summary, load and every run as JSON on stdout.")
    var json = false

    @Option(name: .customLong("json-file"), help: ArgumentHelp("Also write the JSON of --json to this file (atomically; the summary or --json still goes to stdout).", valueName: "file"), completion: .file(extensions: ["json"]))
    var jsonFile: String?

    @Option(help: ArgumentHelp("Write JUnit XML (one test case per run).", valueName: "file"), completion: .file(extensions: ["xml"]))
    var junit: String?

    @Option(help: ArgumentHelp("Write a self-contained HTML report.", valueName: "file"), completion: .file(extensions: ["html"]))
    var report: String?

    func validate() throws {
        try NumericOptions.count(runs, "--runs", NumericOptions.runs)
        try NumericOptions.count(jobs, "--jobs", NumericOptions.jobs)
        try NumericOptions.count(hog, "--hog", NumericOptions.hogs)
        if HostLoad.Recipe(rawValue: load) == nil {
            throw ValidationError("--load must be one of: \(HostLoad.Recipe.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if Stats.Alternative(rawValue: alternative) == nil {
            throw ValidationError("--alternative must be one of: \(Stats.Alternative.allCases.map(\.rawValue).joined(separator: ", ")) (got '\(alternative)')")
        }
        for (name, p) in [("--baseline", baseline), ("--alpha", alpha), ("--beta", beta), ("--p0", p0), ("--p1", p1), ("--target-rate", targetRate)] {
            try NumericOptions.rate(p, name)
        }
        try NumericOptions.count(block, "--block", NumericOptions.runs)
        // The idle arm needs a count fixed in advance, which a sequential stop does not give.
        if compareIdle && untilConfident { throw ValidationError("--compare-idle and --until-confident cannot be combined: give --runs for the comparison") }
        // Without load the "idle comparison" would compare idle with idle.
        if compareIdle && hog == 0 { throw ValidationError("--compare-idle compares runs under load with idle runs: give the load with --hog N") }
        if untilConfident && p0 >= p1 { throw ValidationError("--p0 must be below --p1") }
        if untilConfident && alpha + beta >= 1 { throw ValidationError("--alpha plus --beta must be below 1") }
        try NumericOptions.count(maxRuns, "--max-runs", NumericOptions.runs)
        try NumericOptions.seconds(timeout, "--timeout")
    }

    /// `stress --json` and stress.json (docs/JSON.md): the base seed as a string, `load` always
    /// present (null without hogs).
    struct Output: Encodable {
        var lane: String
        var baseSeed: UInt64
        var experimentDirectory: String
        var summary: StressSummary
        var load: LoadRecord?
        var hostTrace: HostTrace
        var runs: [StressRun]

        private enum Keys: String, CodingKey { case format, version, lane, baseSeed, experimentDirectory, summary, load, hostTrace, runs }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: Keys.self)
            try c.encode(JSONContract.stressFormat, forKey: .format)
            try c.encode(JSONContract.version, forKey: .version)
            try c.encode(lane, forKey: .lane)
            try c.encode(String(baseSeed), forKey: .baseSeed)
            try c.encode(experimentDirectory, forKey: .experimentDirectory)
            try c.encode(summary, forKey: .summary)
            try c.encodeOrNull(load, forKey: .load)
            try c.encode(hostTrace, forKey: .hostTrace)
            try c.encode(runs, forKey: .runs)
        }
    }

    func run() throws {
        view.apply()
        // Every output path is checked before anything runs: a typo must not cost the boots.
        try Outputs.check(junit, option: "--junit")
        try Outputs.check(report, option: "--report")
        try Outputs.check(jsonFile, option: "--json-file")
        let project = try options.locate()
        var lane = try project.loadLane(self.lane)
        if let timeout { lane.totalTimeout = timeout; lane.idleTimeout = min(lane.idleTimeout, timeout) }
        let markers = try project.markers(for: lane)
        let kernel = try kernelOptions.resolveKernel(project: project, lanes: [lane], quiet: json)
        let runner = LaneRunner(project: project, state: options.state, kernel: kernel, kernelOverridesLanes: kernelOptions.kernel != nil,
                                qemu: kernelOptions.qemuBinary,
                                extraAppend: kernelOptions.append, backend: try backendOptions.makeBackend(state: options.state))
        if let why = runner.backend.skipReason(for: lane) {
            printErr("stress: lane \(lane.name) cannot run on this machine: \(why) — nothing was measured")
            throw ExitCode(VerdictKind.skipped.exitCode)
        }
        NumericOptions.warnAboveCores(jobs, command: "stress")
        let base = seed ?? UInt64.random(in: 0...UInt64.max)
        let experiment = try options.state.makeExperimentDirectory(label: "stress-\(lane.name)")
        printProgress("stress: lane \(lane.name), \(untilConfident ? "up to \(maxRuns)" : "\(runs)") runs, \(jobs) at a time, \(hog) hog(s) (\(load)); base seed \(base)")
        printProgress("stress: results in \(experiment)")

        let replay = StressReplay(project: project.root, state: options.state.path, lane: lane.name,
                                  kernel: kernelOptions.kernel.map(absolutePath), qemu: kernelOptions.qemuBinary,
                                  backend: backendOptions.backend, connect: backendOptions.connect,
                                  tokenFile: backendOptions.tokenFile.map(absolutePath), timeout: timeout,
                                  hogs: hog, load: self.load, append: kernelOptions.append)
        var all: [StressRun] = []
        let clockStart = Clock.now
        // With --compare-idle, idle and loaded phases alternate in blocks whose order is drawn from the
        // seed, so drift in time is not confounded with load; otherwise one loaded phase.
        let phases = compareIdle ? StressSchedule.interleaved(runs: runs, block: block ?? max(4, jobs), seed: base)
                                 : [StressPhase(underLoad: true, indices: 0..<(untilConfident ? maxRuns : runs))]
        if compareIdle { printProgress("stress: \(runs) idle and \(runs) loaded runs in \(phases.count / 2) randomised blocks") }
        var load: LoadRecord?
        var sequential: StressSummary.Sequential?
        // The host's load is sampled for the whole experiment, so the report can show failures
        // against load spikes; it stops with the experiment, at an interrupt, or on an error.
        let sampler = HostSampler.start(origin: clockStart)
        do {
            for phase in phases where Interrupts.signal == nil {
                let sprt = untilConfident ? RunOrderSequentialTest(SPRT(p0: p0, p1: p1, alpha: alpha, beta: beta), cap: maxRuns) : nil
                guard phase.underLoad else {
                    all += try boots(count: phase.indices.count, firstIndex: phase.indices.lowerBound, underLoad: false, lane: lane, markers: markers,
                                     runner: runner, base: base, start: clockStart, replay: replay, sprt: nil).runs
                    continue
                }
                let hostLoad = try HostLoad.start(hogs: hog, recipe: HostLoad.Recipe(rawValue: self.load)!)
                let loadStart = Clock.now
                if hog > 0 { usleep(300_000) } // let the hogs reach the run queue before the first boot
                let loaded: [StressRun]
                do {
                    (loaded, sequential) = try boots(count: phase.indices.count, firstIndex: phase.indices.lowerBound, underLoad: true, lane: lane,
                                                     markers: markers, runner: runner, base: base, start: clockStart, replay: replay, sprt: sprt)
                } catch {
                    _ = hostLoad.stop()
                    throw error
                }
                let stretch = hostLoad.stop()
                if hog > 0 {
                    load = load.map { $0.merged(with: stretch) } ?? stretch
                    sampler.loadRan(from: loadStart, to: Clock.now)
                }
                all += loaded
            }
        } catch {
            _ = sampler.stop()
            throw error
        }
        let hostTrace = sampler.stop()
        let summary = StressSummary.make(lane: lane.name, runs: all, baselineRate: baseline, alternative: Stats.Alternative(rawValue: alternative)!,
                                         alpha: alpha, hogs: hog, sequential: sequential, targetRate: targetRate)
        let output = Output(lane: lane.name, baseSeed: base, experimentDirectory: experiment, summary: summary, load: load, hostTrace: hostTrace, runs: all)
        // Everything measured is written, each file whatever became of the others, then printed.
        var failures: [String] = []
        Outputs.write("\(experiment)/stress.json", encodeJSON(output), failures: &failures)
        let failing = all.filter(\.failed).map { "#\($0.index) seed \($0.seed) \($0.record.verdict.kind.rawValue) \($0.record.serialLog)\n  \($0.replay)" }
        Outputs.write("\(experiment)/failing-runs.txt", failing.joined(separator: "\n") + "\n", failures: &failures)
        let title = "os3ctl stress: lane \(lane.name), \(hog) hog(s), \(summary.runs) runs"
        // The console tail of each failure group's example run (read from its serial log).
        let tails = FailureGroup.make(all).prefix(HTMLReport.maxGroups).reduce(into: [Int: String]()) { $0[$1.runs[0].index] = Outputs.consoleTail($1.runs[0].record.serialLog, lines: 15) }
        let html = HTMLReport.render(summary: summary, runs: all, load: load,
                                     context: .init(title: title, lane: lane.name, kernel: runner.kernel, baseSeed: base, hostTrace: hostTrace, consoleTails: tails))
        Outputs.write("\(experiment)/report.html", html, failures: &failures)
        if let report { Outputs.write(absolutePath(report), html, failures: &failures) }
        if let junit {
            // Suite names from the run's place among the loaded (or idle) runs, never its seed or the
            // seed-drawn block order: the same names in every experiment, for CI to track.
            var ordinal: [Bool: Int] = [:]
            let boots = all.sorted { $0.index < $1.index }.map { r in
                let n = ordinal[r.underLoad, default: 0]
                ordinal[r.underLoad] = n + 1
                return Reports.JUnitBoot(record: r.record, suite: "os3ctl-stress.\(r.record.lane).\(r.underLoad ? "run" : "idle")-\(String(n).leftPadded(to: 3, with: "0"))",
                                         seed: String(r.seed), consoleTail: r.failed ? Outputs.consoleTail(r.record.serialLog) : "")
            }
            Outputs.write(absolutePath(junit), Reports.junit(boots, name: "os3ctl-stress", hostname: Outputs.hostname(), skippedFails: false),
                          failures: &failures)
        }
        if let jsonFile { Outputs.write(absolutePath(jsonFile), encodeJSON(output) + "\n", failures: &failures) }
        if json { printOut(encodeJSON(output)) } else { printOut(summary.text(runs: all, load: load)) }
        printProgress("stress: report \(report.map(absolutePath) ?? "\(experiment)/report.html")")
        // [runs] keep-passes: old passing runs go once this experiment's files are written.
        let pruneFailed = RunsPruneCommand.automatic(project, state: options.state, command: "stress")
        let lost = Outputs.reportFailures("stress", records: all.map(\.record), failures: failures) || pruneFailed
        if let status = Interrupts.exitStatus { throw ExitCode(status) }
        if lost { throw ExitCode(ioErrorExit) }
        let worst = all.map(\.record.verdict.kind).max() ?? .pass
        throw ExitCode(worst.exitCode)
    }

    private func boots(count: Int, firstIndex: Int, underLoad: Bool, lane: Lane, markers: MarkerSet, runner: LaneRunner,
                       base: UInt64, start: Double, replay: StressReplay,
                       sprt: RunOrderSequentialTest?) throws -> (runs: [StressRun], sequential: StressSummary.Sequential?) {
        let state = StressState(sprt: sprt)
        let total = count
        _ = try runParallel(Array(0..<jobs), width: jobs) { _ in
            while let i = state.next(limit: total) {
                let index = firstIndex + i
                let runSeed = SplitMix64.runSeed(base: base, index: index)
                let seedArg = "os3.seed=\(runSeed)"
                let offset = Clock.now - start
                // A run os3ctl could not boot is that run's infra-error (left out of the rate); the
                // experiment goes on.
                let record: RunRecord
                do {
                    record = try runner.run(lane, markers: markers, extraAppend: seedArg)
                } catch {
                    record = .infraError(lane: lane, markers: markers, kernel: runner.kernel, backend: runner.backend.name,
                                         startedAt: iso8601.string(from: Date()), detail: Outputs.describe(error))
                }
                let run = StressRun(index: index, seed: runSeed, offset: offset, underLoad: underLoad, host: record.backend ?? runner.backend.name,
                                    record: record, replay: replay.command(seed: runSeed, underLoad: underLoad, host: record.backend))
                let done = state.add(run, at: i)
                printProgress("stress: [\(done)/\(total)\(underLoad ? "" : " idle")] #\(index) \(record.verdict.kind.rawValue) \(Reports.seconds(record.duration)) seed \(runSeed)\(run.failed ? " — \(record.verdict.detail)" : "")")
            }
            return ()
        }
        return (state.runs.sorted { $0.index < $1.index }, state.sequential.map(StressSummary.Sequential.init))
    }
}

/// Shared by the workers of one batch of boots: hands out indices, collects runs, and stops
/// early when interrupted or when the sequential test has decided (on the runs in run order).
private final class StressState: @unchecked Sendable {
    private let lock = Lock()
    private var issued = 0
    private var test: RunOrderSequentialTest?
    private(set) var runs: [StressRun] = []

    init(sprt: RunOrderSequentialTest?) { self.test = sprt }

    var sequential: RunOrderSequentialTest? {
        lock.lock()
        defer { lock.unlock() }
        return test
    }

    func next(limit: Int) -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard issued < limit, Interrupts.signal == nil, test?.wants(issued) ?? true else { return nil }
        issued += 1
        return issued - 1
    }

    /// `position` is the run's place in this batch (0 = first issued).
    func add(_ run: StressRun, at position: Int) -> Int {
        lock.lock()
        defer { lock.unlock() }
        runs.append(run)
        test?.add(index: position, run.infra ? .excluded : (run.failed ? .failed : .passed))
        return runs.count
    }
}

/// The `os3ctl boot` command line that replays one stress run exactly: the same project, state
/// directory, lane, kernel, QEMU, backend (the pool member the run went to), timeout, load and
/// kernel command line with its seed. Everything is explicit, so the line works from any
/// directory and any environment (issue 17: the replay once dropped --timeout and --state-dir).
struct StressReplay: Sendable {
    var project: String
    var state: String
    var lane: String
    var kernel: String?
    var qemu: String?
    var backend: BackendOptions.Kind?
    var connect: [String]
    var tokenFile: String? = nil
    var timeout: Double?
    var hogs: Int
    var load: String
    var append: String

    /// The argv (`os3ctl` first). `host`: the record's backend ("libvirt URI") — with several
    /// `--connect`, the replay boots on the one the run went to.
    func argv(seed: UInt64, underLoad: Bool, host: String?) -> [String] {
        var argv = ["os3ctl", "boot", "--project", project, "--state-dir", state, "--lane", lane]
        if let kernel { argv += ["--kernel", kernel] }
        if let qemu { argv += ["--qemu", qemu] }
        if let backend { argv += ["--backend", backend.rawValue] }
        if connect.count > 1, let host, host.hasPrefix("libvirt "), connect.contains(String(host.dropFirst("libvirt ".count))) {
            argv += ["--connect", String(host.dropFirst("libvirt ".count))]
        } else {
            for uri in connect { argv += ["--connect", uri] }
        }
        if let tokenFile { argv += ["--token-file", tokenFile] }
        if let timeout { argv += ["--timeout", String(timeout)] }
        // The idle runs of --compare-idle ran without the load.
        if underLoad && hogs > 0 { argv += ["--hog", String(hogs), "--load", load] }
        argv += ["--append", [append, "os3.seed=\(seed)"].filter { !$0.isEmpty }.joined(separator: " ")]
        return argv
    }

    /// The same, quoted for a POSIX shell.
    func command(seed: UInt64, underLoad: Bool, host: String?) -> String {
        argv(seed: seed, underLoad: underLoad, host: host).map(shellQuote).joined(separator: " ")
    }
}
