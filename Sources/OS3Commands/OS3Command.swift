import ArgumentParser
import Glibc
import OS3Core
import OS3Runner

/// `os3ctl`: build a kernel project (os3ctl.toml), boot it in lanes, judge each boot by markers and exit code.
public struct OS3Command: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "os3ctl",
        abstract: "Build a kernel as its project's os3ctl.toml says, boot it in QEMU lanes, and judge every boot by its markers and exit code.",
        discussion: """
        A boot passes only when QEMU exits with the lane's success code (33) AND every required marker
        appeared. Exit codes: 0 pass, 10 missing markers, 11 forbidden marker, 12 wrong exit code,
        13 order violated, 14 hang, 15 timeout, 20 infrastructure error, 30 skipped, 2 bad input file
        or name, 3 build or host tests failed, 4 a tool is missing, 5 I/O error, 64 command-line usage
        error, 128+n interrupted by signal n. See docs/VERDICTS.md.
        """,
        version: "0.1.0",
        subcommands: [InitCommand.self, BuildCommand.self, BootCommand.self, GateCommand.self, StressCommand.self, BisectCommand.self, ScanCommand.self, LanesCommand.self, RunsCommand.self, DoctorCommand.self, HogCommand.self]
    )

    public init() {}

    /// Runs the command line and exits with os3ctl's documented codes.
    public static func runMain() -> Never {
        Trace.mark("main")
        Interrupts.install()
        do {
            // A plain `boot` command line skips ArgumentParser (see BootRequest.plain).
            if let plain = BootRequest.plain(Array(CommandLine.arguments.dropFirst())) {
                try plain.run()
            } else {
                var command = try parseAsRoot()
                try command.run()
            }
            exit(withError: nil)
        } catch let code as ExitCode {
            // A command's own exit status (e.g. a verdict's): nothing to print, so straight out —
            // ArgumentParser's exit(withError:) would first build a message for it.
            Interrupts.killAllChildren()
            fflush(nil)  // anything print() left in stdio buffers
            Trace.mark("exit")
            Trace.report()
            Glibc.exit(code.rawValue)
        } catch let error as OS3Error {
            printErr(error.description)
            Interrupts.killAllChildren()
            fflush(nil)
            Glibc.exit(error.exitCode)  // the message is printed: nothing for ArgumentParser to add
        } catch {
            Interrupts.killAllChildren()
            exit(withError: error)
        }
    }
}

/// Options every command that touches the project shares.
struct ProjectOptions: ParsableArguments {
    @Option(name: .customLong("project"), help: ArgumentHelp("The project's root, where os3ctl.toml is (default: found upwards from the current directory, or $OS3_PROJECT).", valueName: "dir"))
    var project: String?

    @Option(name: .customLong("state-dir"), help: ArgumentHelp("Where run directories go (default: $OS3_STATE_DIR, else $XDG_STATE_HOME/os3ctl, else ~/.local/state/os3ctl).", valueName: "dir"))
    var stateDir: String?

    func locate() throws -> Project { try Project.locate(explicit: project) }

    var state: StateDirectory { Self.state(stateDir) }

    /// `--state-dir`, else the default (see StateDirectory).
    static func state(_ stateDir: String?) -> StateDirectory {
        stateDir.map { StateDirectory(path: absolutePath($0)) } ?? StateDirectory()
    }
}

extension OS3Error {
    /// os3ctl's exit status for an error that stopped it before any verdict.
    var exitCode: Int32 {
        switch code {
        case .invalidLane, .invalidMarkers, .invalidProject, .notFound, .invalidInput, .usage: 2
        case .buildFailed: 3
        case .toolMissing: 4
        case .io: 5
        case .interrupted: 128 + (Interrupts.signal ?? 2)
        }
    }
}
