import ArgumentParser
import FoundationEssentials
import Glibc
import OS3Core
import OS3Runner

/// `os3ctl bisect`: the commit that made a lane flaky, each step decided by a sequential test on
/// many seeded boots, in a scratch worktree (the user's checkout is never touched). The search is
/// OS3Core's `Bisection`; git and the worktree are OS3Runner's `GitRepository`/`ScratchWorktree`.
struct BisectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bisect",
        abstract: "Find the first commit between --good and --bad at which a lane became flaky, with a stated error bound.",
        discussion: """
        Every commit tested is checked out into a scratch git worktree (your checkout is never touched), built with its own os3ctl.toml, and booted with its own lane and markers, many times (seeded, os3.seed=N), until Wald's sequential test decides "flaky" (rate ≥ --p1) or "not flaky" (rate ≤ --p0). Infrastructure errors and skipped boots are never counted as failures: they are retried.

        --bad must be shown flaky and --good not flaky first. A commit that does not build is skipped (as git bisect skip), and so is a step still undecided after --max-runs runs.

        stdout begins with the first flaky commit's full hash alone on a line, then its subject; then every step and the search's error bound (union bound over the decisions taken). Exit 0 when one commit is named, 1 when the search could not name one.

        EXAMPLES:
          os3ctl bisect --lane tiny --good v1.0 --bad HEAD
          os3ctl bisect --lane kvm --good HEAD~20 --hog 2 --p1 0.2 --json > bisect.json
        """)

    @OptionGroup var options: ProjectOptions
    @OptionGroup var view: ViewOptions
    @OptionGroup var backendOptions: BackendOptions
    @OptionGroup var laneAsArgument: LaneAsArgument

    @Option(help: ArgumentHelp("The lane to boot (as each commit defines it).", valueName: "name"), completion: LaneNames.completion)
    var lane: String

    @Option(help: ArgumentHelp("A commit where the lane is not flaky.", valueName: "rev"))
    var good: String

    @Option(help: ArgumentHelp("A later commit where the lane is flaky.", valueName: "rev"))
    var bad: String = "HEAD"

    @Option(parsing: .unconditional, help: ArgumentHelp("Busy processes loading the host while a step boots.", valueName: "n"))
    var hog: Int = 0

    @Option(help: ArgumentHelp("What the hogs do: cpu (os3ctl's own busy loops), or through stress-ng: vm, cache, io, mixed.", valueName: "recipe"), completion: .list(HostLoad.Recipe.allCases.map(\.rawValue)))
    var load: String = "cpu"

    @Option(parsing: .unconditional, help: ArgumentHelp("Boots at once.", valueName: "j"))
    var jobs: Int = 1

    @Option(help: ArgumentHelp("Appended to every boot's kernel command line.", valueName: "args"))
    var append: String = ""

    @Option(help: ArgumentHelp("The QEMU binary to run (default: the lane's qemu-binary, else qemu-system-<arch> on PATH).", valueName: "path"), completion: .file())
    var qemu: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("A rate at or below this is \"not flaky\".", valueName: "p"))
    var p0: Double = 0.02

    @Option(parsing: .unconditional, help: ArgumentHelp("A rate at or above this is \"flaky\".", valueName: "p"))
    var p1: Double = 0.2

    @Option(parsing: .unconditional, help: ArgumentHelp("The probability of a step deciding \"flaky\" when the rate is p0.", valueName: "a"))
    var alpha: Double = 0.05

    @Option(parsing: .unconditional, help: ArgumentHelp("The probability of a step deciding \"not flaky\" when the rate is p1.", valueName: "b"))
    var beta: Double = 0.05

    @Option(name: .customLong("max-runs"), parsing: .unconditional, help: ArgumentHelp("Counted runs per step; a step still undecided then is skipped.", valueName: "n"))
    var maxRuns: Int = 200

    @Option(name: .customLong("max-retries"), parsing: .unconditional, help: ArgumentHelp("Runs per step that may end as no evidence (infrastructure error, skipped) and be retried.", valueName: "n"))
    var maxRetries: Int = 20

    @Option(parsing: .unconditional, help: ArgumentHelp("Base seed for the per-run kernel seeds, the same at every commit (default: random, printed).", valueName: "n"))
    var seed: UInt64?

    @Option(parsing: .unconditional, help: ArgumentHelp("Total timeout per boot in seconds (overrides the lane's).", valueName: "seconds"))
    var timeout: Double?

    @Flag(help: "Print the search (steps, runs, conclusion, error bound) as JSON on stdout.")
    var json = false

    @Option(help: ArgumentHelp("Also write the search's text summary and every boot here.", valueName: "file"), completion: .file())
    var report: String?

    func validate() throws {
        try NumericOptions.count(jobs, "--jobs", NumericOptions.jobs)
        try NumericOptions.count(hog, "--hog", NumericOptions.hogs)
        try NumericOptions.count(maxRuns, "--max-runs", NumericOptions.runs)
        try NumericOptions.count(maxRetries, "--max-retries", 0...NumericOptions.runs.upperBound)
        if HostLoad.Recipe(rawValue: load) == nil {
            throw ValidationError("--load must be one of: \(HostLoad.Recipe.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        for (name, p) in [("--alpha", alpha), ("--beta", beta), ("--p0", p0), ("--p1", p1)] { try NumericOptions.rate(p, name) }
        guard p0 > 0, p1 < 1, p0 < p1 else { throw ValidationError("need 0 < --p0 < --p1 < 1 (got --p0 \(p0), --p1 \(p1))") }
        guard alpha + beta < 1 else { throw ValidationError("--alpha plus --beta must be below 1") }
        try NumericOptions.seconds(timeout, "--timeout")
    }

    /// `bisect --json` and bisect.json (docs/BISECT.md).
    struct Output: Encodable {
        var experimentDirectory: String
        var summary: BisectSummary
        private enum Keys: String, CodingKey { case format, version, experimentDirectory, summary }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: Keys.self)
            try c.encode(JSONContract.bisectFormat, forKey: .format)
            try c.encode(JSONContract.version, forKey: .version)
            try c.encode(experimentDirectory, forKey: .experimentDirectory)
            try c.encode(summary, forKey: .summary)
        }
    }

    func run() throws {
        view.apply()
        try Outputs.check(report, option: "--report")
        let project = try options.locate()
        let repo = try GitRepository.containing(project.root)
        let goodCommit = try repo.resolve(good, option: "--good")
        let badCommit = try repo.resolve(bad, option: "--bad")
        guard goodCommit != badCommit, try repo.isAncestor(goodCommit, of: badCommit) else {
            throw OS3Error(.usage, goodCommit == badCommit ? "--good \(good) and --bad \(bad) are the same commit (\(goodCommit.prefix(12)))"
                                                           : "--good \(good) (\(goodCommit.prefix(12))) is not an ancestor of --bad \(bad) (\(badCommit.prefix(12)))",
                           fix: "give an older --good, on the history of --bad (`git log --oneline --first-parent \(bad)` lists it)")
        }
        let chain = try repo.firstParentChain(from: goodCommit, to: badCommit)
        guard chain.last == badCommit else {
            throw OS3Error(.usage, "--bad \(bad) is not reached from --good \(good) along first parents", fix: "give a --good on the first-parent history of --bad")
        }
        NumericOptions.warnAboveCores(jobs, command: "bisect")
        let base = seed ?? UInt64.random(in: 0...UInt64.max)
        let experiment = try options.state.makeExperimentDirectory(label: "bisect-\(lane)")
        printProgress("bisect: lane \(lane), \(chain.count) commit(s) after \(goodCommit.prefix(12)) up to \(badCommit.prefix(12)); \(jobs) boot(s) at a time, \(hog) hog(s); base seed \(base)")
        printProgress("bisect: results in \(experiment)")

        let scratchDirectory = "\(options.state.path)/bisect"
        for stale in ScratchWorktree.removeStale(under: scratchDirectory, repository: repo) {
            printProgress("bisect: removed \(stale), left by a bisect that was killed")
        }
        let scratch = try ScratchWorktree(repository: repo, under: scratchDirectory, at: badCommit)
        printProgress("bisect: scratch worktree \(scratch.path)")
        var steps: [BisectStep] = []
        let conclusion: BisectConclusion
        let lostRecords = LostRecords()
        do {
            conclusion = try search(chain: chain, good: goodCommit, repo: repo, scratch: scratch, base: base, lost: lostRecords, steps: &steps)
        } catch {
            scratch.remove()
            throw error
        }
        if let problem = scratch.remove() { printErr("bisect: WARNING could not remove the scratch worktree: \(problem)") }

        let summary = BisectSummary(lane: lane, good: goodCommit, bad: badCommit, commits: chain.count, p0: p0, p1: p1, alpha: alpha, beta: beta,
                                    maxRuns: maxRuns, baseSeed: base, steps: steps, conclusion: conclusion)
        let output = Output(experimentDirectory: experiment, summary: summary)
        var failures = lostRecords.all
        let document = encodeJSON(output)
        Outputs.write("\(experiment)/bisect.json", document, failures: &failures)
        let text = summary.text()
        let full = text + "\n\n" + bootLines(steps).joined(separator: "\n") + "\n"
        Outputs.write("\(experiment)/summary.txt", full, failures: &failures)
        if let report { Outputs.write(absolutePath(report), full, failures: &failures) }
        printOut(json ? document : text)
        let lost = Outputs.reportFailures("bisect", records: [], failures: failures)
        if let status = Interrupts.exitStatus { throw ExitCode(status) }
        if lost { throw ExitCode(ioErrorExit) }
        throw ExitCode(conclusion.status == .found ? 0 : 1)
    }

    /// Every boot of every step, with where its console log is and how to replay it.
    private func bootLines(_ steps: [BisectStep]) -> [String] {
        steps.flatMap { s in
            ["\(s.commit) \(s.mark.rawValue): \(s.subject)"] + s.boots.map { b in
                let extra = [append, "os3.seed=\(b.seed)"].filter { !$0.isEmpty }.joined(separator: " ")
                return "  #\(b.index) \(b.verdict) (\(b.counts.rawValue)) \(Reports.seconds(b.duration)) seed \(b.seed) \(b.serialLog)\n"
                    + "    replay in a checkout of \(s.commit.prefix(12)): os3ctl boot --lane \(shellQuote(lane)) --append \(shellQuote(extra))"
            }
        }
    }

    /// Confirms --bad and --good, then halves the chain until one commit is left or only skipped
    /// and undecided commits separate the two sides.
    private func search(chain: [String], good: String, repo: GitRepository, scratch: ScratchWorktree, base: UInt64, lost: LostRecords,
                        steps: inout [BisectStep]) throws -> BisectConclusion {
        func subject(_ c: String) -> String { (try? repo.subject(c)) ?? "" }
        func short(_ c: String) -> String { String(c.prefix(12)) }
        let interrupted = BisectConclusion(status: .interrupted, message: "interrupted: the steps measured so far are below; nothing is concluded")

        // An interrupt (during a build or the boots) ends the search with what was measured so far.
        func step(_ commit: String, _ role: BisectStep.Role) throws -> BisectStep? {
            do {
                let s = try test(commit, subject: subject(commit), role: role, scratch: scratch, base: base, lost: lost)
                steps.append(s)
            } catch let e as OS3Error where e.code == .interrupted {
                printErr("bisect: \(e.message)")
                return nil
            }
            return Interrupts.signal == nil ? steps.last : nil
        }
        guard let badStep = try step(chain.last!, .confirmBad) else { return interrupted }
        guard badStep.mark == .flaky else {
            return BisectConclusion(status: .badNotFlaky, message: "--bad \(short(badStep.commit)) was not shown flaky (\(describe(badStep))): "
                + "nothing to bisect. Give a --bad where the lane fails at least \(pctText(p1)) of boots, lower --p1, or raise --max-runs")
        }
        guard let goodStep = try step(good, .confirmGood) else { return interrupted }
        guard goodStep.mark == .notFlaky else {
            let why = goodStep.mark == .flaky
                ? "--good \(short(good)) is already flaky (\(describe(goodStep))): the flake is older than --good. Give an older --good"
                : "--good \(short(good)) was not shown not flaky (\(describe(goodStep))). Give another --good, raise --p0 or --max-runs"
            return BisectConclusion(status: .goodNotClean, message: why)
        }
        var bisection = Bisection(count: chain.count)
        while case .searching(let next) = bisection.outcome {
            guard let tested = try step(chain[next], .search) else { return interrupted }
            bisection.mark(next, tested.mark)
        }
        switch bisection.outcome {
        case .found(let i):
            let parent = i == 0 ? good : chain[i - 1]
            return BisectConclusion(status: .found, firstFlaky: chain[i], candidates: [chain[i]],
                                    message: "the first flaky commit is \(short(chain[i])) (decided flaky; its parent \(short(parent)) decided not flaky)")
        case .ambiguous(let indices):
            let list = indices.map { "\(short(chain[$0])) (\(bisection.marks[$0]?.rawValue ?? "untested"))" }.joined(separator: ", ")
            return BisectConclusion(status: .ambiguous, candidates: indices.map { chain[$0] },
                                    message: "the first flaky commit is one of \(indices.count): \(list) — the commits before the last one were skipped or undecided, "
                                        + "so no single commit can be named (as `git bisect skip` leaves it)")
        case .searching:
            fatalError("the loop above ends only when the search does")
        }
    }

    private func describe(_ step: BisectStep) -> String {
        switch step.mark {
        case .skipped: "skipped: \(step.note ?? "")"
        default: "\(step.mark.rawValue), \(step.failures) of \(step.runs) runs failed"
        }
    }

    private func pctText(_ p: Double) -> String { "\((p * 1000).rounded() / 10)%" }

    /// One step: check out, build, boot until the sequential test decides. A commit that cannot be
    /// built or whose lane cannot be read is skipped (with the reason); a missing tool, an interrupt
    /// or a lane this machine cannot run stops the search.
    private func test(_ commit: String, subject: String, role: BisectStep.Role, scratch: ScratchWorktree, base: UInt64,
                      lost: LostRecords) throws -> BisectStep {
        let label = role == .search ? "" : " (\(role == .confirmBad ? "--bad" : "--good"))"
        printProgress("bisect: testing \(commit.prefix(12))\(label) \(subject)")
        try scratch.checkout(commit)
        let buildStart = Clock.now
        let prepared: (LaneRunner, Lane, MarkerSet)
        do {
            let project = try Project.load(root: scratch.projectRoot)
            var lane = try project.loadLane(self.lane)
            if let timeout { lane.totalTimeout = timeout; lane.idleTimeout = min(lane.idleTimeout, timeout) }
            let markers = try project.markers(for: lane)
            _ = try project.build(quiet: !Terminal.verbose)
            try project.checkImages(for: [lane])
            let runner = LaneRunner(project: project, state: options.state, kernel: (try? project.defaultImage()) ?? "",
                                    qemu: KernelOptions.qemuBinary(qemu), extraAppend: append,
                                    backend: try backendOptions.makeBackend(state: options.state))
            prepared = (runner, lane, markers)
        } catch let error as OS3Error where ![.toolMissing, .interrupted].contains(error.code) {
            let why = Outputs.describe(error)
            printProgress("bisect: \(commit.prefix(12)) skipped: \(why)")
            return BisectStep(role: role, commit: commit, subject: subject, mark: .skipped, note: "skipped (cannot be built or tested): \(why)")
        }
        let buildSeconds = Clock.now - buildStart
        let (runner, lane, markers) = prepared
        if let why = runner.backend.skipReason(for: lane) {
            printErr("bisect: lane \(lane.name) cannot run on this machine: \(why) — nothing can be bisected here")
            throw ExitCode(VerdictKind.skipped.exitCode)
        }
        let load = try HostLoad.start(hogs: hog, recipe: HostLoad.Recipe(rawValue: self.load)!)
        if hog > 0 { usleep(300_000) }  // let the hogs reach the run queue before the first boot
        let state = BisectStepState(BisectStepTest(SPRT(p0: p0, p1: p1, alpha: alpha, beta: beta), maxRuns: maxRuns, maxExcluded: maxRetries))
        defer { _ = load.stop() }
        let short = commit.prefix(12)
        _ = try runParallel(Array(0..<jobs), width: jobs) { _ in
            while let index = state.next() {
                // The same seeds at every commit: a seed-decided flake fails on the same runs wherever it is in.
                let runSeed = SplitMix64.runSeed(base: base, index: index)
                let record: RunRecord
                do {
                    record = try runner.run(lane, markers: markers, extraAppend: "os3.seed=\(runSeed)")
                } catch {
                    record = .infraError(lane: lane, markers: markers, kernel: runner.kernel, backend: runner.backend.name,
                                         startedAt: iso8601.string(from: Date()), detail: Outputs.describe(error))
                }
                if let e = record.recordError { lost.add("the record of \(lane.name) at \(short) run #\(index) (its result.json): \(e)") }
                let boot = BisectBoot(index: index, seed: runSeed, record: record)
                state.add(boot)
                if boot.counts != .passed {
                    printProgress("bisect: \(short) #\(index) \(boot.verdict)\(boot.counts == .excluded ? " (no evidence, retried)" : "") seed \(runSeed) — \(record.verdict.detail)")
                }
            }
            return ()
        }
        let test = state.test
        let boots = state.boots.sorted { $0.index < $1.index }
        var note: String?
        // What the search does with an undecided step: a confirmation must decide, a search step is gone around.
        let then = role == .search ? "treated as skipped, the search went around it" : "a confirmation must decide: the search stopped"
        switch test.end {
        case .cap?: note = "undecided after \(test.test.runs) runs (\(test.test.failures) failed): \(then)"
        case .excludedCap?: note = "undecided: \(test.excluded) runs were no evidence (infrastructure errors or skipped boots): \(then)"
        default: break
        }
        // Interrupted before the test decided: undecided (a decision already taken stands).
        let cut = Interrupts.signal != nil && test.end == nil
        if cut { note = "interrupted before the test decided" }
        let step = BisectStep(role: role, commit: commit, subject: subject, mark: cut ? .undecided : test.mark,
                              runs: test.test.runs, failures: test.test.failures, excluded: test.excluded, afterDecision: test.afterEnd,
                              end: test.end, note: note, buildSeconds: buildSeconds, boots: boots)
        printProgress("bisect: \(short) \(step.mark.rawValue): \(step.failures) of \(step.runs) runs failed\(step.excluded > 0 ? ", \(step.excluded) retried" : "")")
        return step
    }
}

/// Shared by one step's workers: hands out run indices while the test wants more (and no
/// interrupt came), and feeds finished runs to the test in run order.
private final class BisectStepState: @unchecked Sendable {
    private let lock = Lock()
    private var issued = 0
    private var _test: BisectStepTest
    private var _boots: [BisectBoot] = []

    init(_ test: BisectStepTest) { _test = test }

    var test: BisectStepTest { lock.lock(); defer { lock.unlock() }; return _test }
    var boots: [BisectBoot] { lock.lock(); defer { lock.unlock() }; return _boots }

    /// The next run index, or nil. Runs already in flight may finish after the test decided; the
    /// test leaves them out. Indices beyond what the caps could use are not started.
    func next() -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard Interrupts.signal == nil, _test.wantsMore, issued < _test.maxRuns + _test.maxExcluded + 1 else { return nil }
        issued += 1
        return issued - 1
    }

    func add(_ boot: BisectBoot) {
        lock.lock()
        defer { lock.unlock() }
        _boots.append(boot)
        _test.add(index: boot.index, boot.counts == .passed ? .passed : boot.counts == .failed ? .failed : .excluded)
    }
}

/// The run records (result.json) a step's boots could not write: reported loudly at the end (exit 5);
/// the verdicts stand.
private final class LostRecords: @unchecked Sendable {
    private let lock = Lock()
    private var messages: [String] = []
    func add(_ message: String) { lock.lock(); messages.append(message); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return messages }
}
