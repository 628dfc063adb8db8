import ArgumentParser
import Glibc
import OS3Core
import OS3Runner

/// `os3ctl runs`: the run directories of the state directory, from their records (docs/RUNS.md).
struct RunsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runs",
        abstract: "List recent runs (lane, verdict, time, directory), or remove old passing ones (runs prune).",
        discussion: """
        `os3ctl runs` is `os3ctl runs list`. Every run directory is read from its record (result.json); docs/RUNS.md says more.

        EXAMPLES:
          os3ctl runs
          os3ctl runs --lane tiny --failed --limit 5
          os3ctl runs prune --keep-passes 20 --dry-run
        """,
        subcommands: [RunsListCommand.self, RunsPruneCommand.self],
        defaultSubcommand: RunsListCommand.self)
}

/// The state directory alone (no project needed to list runs).
struct StateOptions: ParsableArguments {
    @Option(name: .customLong("state-dir"), help: ArgumentHelp("The state directory whose runs/ to read (default: $OS3_STATE_DIR, else $XDG_STATE_HOME/os3ctl, else ~/.local/state/os3ctl).", valueName: "dir"), completion: .directory)
    var stateDir: String?

    var state: StateDirectory { ProjectOptions.state(stateDir) }
}

struct RunsListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List recent runs, newest first: lane, verdict, time, directory.",
        discussion: "A directory without a readable result.json is listed as running (its os3ctl is alive) or incomplete, never with a verdict. runs/latest points at the run whose record was written last.")

    @OptionGroup var stateOptions: StateOptions
    @OptionGroup var view: ViewOptions

    @Option(parsing: .unconditional, help: ArgumentHelp("At most this many runs (the newest).", valueName: "n"))
    var limit: Int = 20

    @Option(help: ArgumentHelp("Only runs of this lane.", valueName: "name"), completion: LaneNames.completion)
    var lane: String?

    @Flag(help: "Only failed runs (a record with a verdict other than pass or skipped).")
    var failed = false

    @Flag(help: "Print the runs as JSON on stdout (format os3ctl-runs, docs/JSON.md).")
    var json = false

    func validate() throws {
        try NumericOptions.count(limit, "--limit", NumericOptions.runs)
    }

    func run() throws {
        view.apply()
        let store = RunStore(state: stateOptions.state)
        let shown = try store.entries(limit: limit) { entry in
            (lane == nil || entry.lane == lane) && (!failed || entry.failed)
        }
        if json {
            printOut(RunListing.json(shown, stateDirectory: store.state.path).pretty)
            return
        }
        guard !shown.isEmpty else {
            let what = [lane.map { "of lane \($0)" }, failed ? "that failed" : nil].compactMap { $0 }.joined(separator: " ")
            printErr("runs: no runs\(what.isEmpty ? "" : " \(what)") in \(store.runsPath)")
            return
        }
        printOut(RunListing.table(shown))
        if let latest = store.latest() { printProgress("runs: latest -> \(store.runsPath)/\(latest)") }
    }
}

struct RunsPruneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Remove old passing runs: keep the newest N passes (and N skips) of each lane, every failure, every run without a record.",
        discussion: "N is --keep-passes, else `keep-passes` of [runs] in the project's os3ctl.toml. A run still going (no result.json yet) and the run runs/latest points to are never removed.")

    @OptionGroup var options: ProjectOptions
    @OptionGroup var view: ViewOptions

    @Option(name: .customLong("keep-passes"), parsing: .unconditional, help: ArgumentHelp("Passing runs of each lane to keep (default: [runs] keep-passes of os3ctl.toml).", valueName: "n"))
    var keepPasses: Int?

    @Flag(name: .customLong("dry-run"), help: "Say what would be removed, and remove nothing.")
    var dryRun = false

    func validate() throws {
        try NumericOptions.count(keepPasses, "--keep-passes", ProjectFile.keepPassesRange)
    }

    func run() throws {
        view.apply()
        let keep: Int
        if let keepPasses {
            keep = keepPasses
        } else {
            let project = try options.locate()
            guard let retention = project.file.retention else {
                throw OS3Error(.usage, "runs prune: how many passing runs to keep is not said: \(project.file.file) has no [runs] keep-passes",
                               fix: "give --keep-passes N, or add `[runs]` with `keep-passes = 20` to \(project.file.file)")
            }
            keep = retention.keepPasses
        }
        let pruning = try RunStore(state: options.state).prune(keepPasses: keep, dryRun: dryRun)
        for line in RunsPruneCommand.describe(pruning, keep: keep, dryRun: dryRun, command: "runs prune") { printOut(line) }
        for failure in pruning.failures { printErr("runs prune: ERROR: \(failure)") }
        if !pruning.failures.isEmpty { throw ExitCode(ioErrorExit) }
    }

    /// What a pruning did, one line per run removed and a summary last.
    static func describe(_ pruning: RunStore.Pruning, keep: Int, dryRun: Bool, command: String) -> [String] {
        let verb = dryRun ? "would remove" : "removed"
        var lines = pruning.removed.map { "\(command): \(verb) \($0.path) (\($0.lane), \($0.state), \($0.startedAt))" }
        let removed = Set(pruning.removed.map(\.name))
        let left = pruning.entries.filter { !removed.contains($0.name) }
        let failures = left.filter(\.failed).count
        let unrecorded = left.filter { $0.record == nil }.count
        lines.append("\(command): \(verb) \(pruning.removed.count) run(s), keeping the newest \(keep) pass(es) of each lane; "
                     + "\(left.count) left (\(failures) failed, \(unrecorded) running or incomplete)")
        return lines
    }

    /// `[runs] keep-passes` after gate or stress: prune if the project asks for it. What could not
    /// be removed is said on stderr; true then (the command exits 5; its verdicts stand).
    static func automatic(_ project: Project, state: StateDirectory, command: String) -> Bool {
        // Interrupted: the command stops as soon as it can; pruning can wait for the next run.
        guard let retention = project.file.retention, Interrupts.signal == nil else { return false }
        var failures: [String] = []
        do {
            let pruning = try RunStore(state: state).prune(keepPasses: retention.keepPasses)
            if !pruning.removed.isEmpty {
                printProgress("\(command): removed \(pruning.removed.count) old passing run(s) ([runs] keep-passes = \(retention.keepPasses) in \(project.file.file))")
            }
            failures = pruning.failures
        } catch {
            failures = [Outputs.describe(error)]
        }
        for failure in failures { printErr("\(command): ERROR: could not remove old runs ([runs] keep-passes): \(failure)") }
        return !failures.isEmpty
    }
}
