import ArgumentParser
import Glibc
import OS3Core
import OS3Runner

/// `os3ctl`: build a kernel project (os3ctl.toml), boot it in lanes, judge each boot by markers and exit code.
public struct OS3Command: ParsableCommand {
    /// The version `--version` prints: os3ctl's, and the commit it was built from.
    public static let version = "0.1.0"
    /// `git describe` of the checkout os3ctl was built from (set by main before anything runs).
    nonisolated(unsafe) public static var commit = "unknown"

    public static var configuration: CommandConfiguration { CommandConfiguration(
        commandName: "os3ctl",
        abstract: "Build a kernel as its project's os3ctl.toml says, boot it in QEMU lanes, and judge every boot by its markers and exit code.",
        discussion: """
        A boot passes only when QEMU exits with the lane's success code (33) AND every required marker \
        appeared. See docs/VERDICTS.md.

        Exit codes: 0 pass, 10 missing markers, 11 forbidden marker, 12 wrong exit code, 13 order \
        violated, 14 hang, 15 timeout, 16 guest reset, 20 infrastructure error, 30 skipped, 2 bad input \
        file or name, 3 build or host tests failed, 4 a tool is missing, 5 I/O error, 64 command-line \
        usage error, 128+n interrupted by signal n.

        EXAMPLES:
          os3ctl init                          start a project here
          os3ctl lanes                         the lanes, and which this machine can run
          os3ctl boot --lane tiny              build, boot one lane, print its verdict
          os3ctl gate --junit junit.xml        host tests, build, every lane
          os3ctl stress --lane tiny --hog 2    how often a lane flakes under load
          os3ctl bisect --lane tiny --good v1  the first commit at which a lane flakes
          os3ctl scan --lane tiny serial.log   judge a saved console log

        ENVIRONMENT:
          OS3_PROJECT       the project's root (as --project)
          OS3_STATE_DIR     where run directories go (as --state-dir)
          XDG_STATE_HOME    else runs go to $XDG_STATE_HOME/os3ctl, else ~/.local/state/os3ctl
          NO_COLOR          set and not empty: no colour (unless --color always)
          TERM              dumb: no colour, no live checklist or table
          OS3_FORCE_NO_KVM  set and not empty: act as if KVM were unusable (KVM lanes are skipped)
          OS3_SWIFTC        the swiftc that builds the Embedded Swift kernel (default: on PATH)
          OS3_TRACE         set: print where os3ctl's own time went, on exit
          TMPDIR            where temporary files go (default /tmp)
          LAVA_TOKEN        --backend lava: USER:TOKEN (or TOKEN) for the lab, unless --token-file
          LAVA_USER         --backend lava: the user of a token given without one (default os3ctl)

        Shell completion: os3ctl --generate-completion-script bash|zsh|fish (lanes complete \
        from the project). The manual page: .ci/manpage (docs/COMMANDS.md).
        """,
        version: "\(version) (commit \(commit))",
        subcommands: [InitCommand.self, BuildCommand.self, BootCommand.self, GateCommand.self, StressCommand.self, BisectCommand.self, ScanCommand.self, LanesCommand.self, RunsCommand.self, DoctorCommand.self, HogCommand.self]
    ) }

    public init() {}

    /// Runs the command line and exits with os3ctl's documented codes.
    public static func runMain(commit: String) -> Never {
        Self.commit = commit
        Trace.mark("main")
        Interrupts.install()
        do {
            // A plain `boot` command line skips ArgumentParser (see BootRequest.plain).
            if let plain = BootRequest.plain(Array(CommandLine.arguments.dropFirst())) {
                try plain.run()
            } else {
                try checkCommandName(Array(CommandLine.arguments.dropFirst()))
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

/// `--project` alone: for commands that read the project but write no run (lanes, scan, build).
struct ProjectLocation: ParsableArguments {
    @Option(name: .customLong("project"), help: ProjectOptions.projectHelp, completion: .directory)
    var project: String?

    func locate() throws -> Project { try Project.locate(explicit: project) }
}

/// `--project` and `--state-dir`: for commands that boot (their runs go under the state directory).
struct ProjectOptions: ParsableArguments {
    static let projectHelp = ArgumentHelp("The project's root, where os3ctl.toml is (default: $OS3_PROJECT, else the first directory upwards from the current one with an os3ctl.toml).", valueName: "dir")

    @Option(name: .customLong("project"), help: projectHelp, completion: .directory)
    var project: String?

    @Option(name: .customLong("state-dir"), help: ArgumentHelp("Where run directories go (default: $OS3_STATE_DIR, else $XDG_STATE_HOME/os3ctl, else ~/.local/state/os3ctl).", valueName: "dir"), completion: .directory)
    var stateDir: String?

    func locate() throws -> Project { try Project.locate(explicit: project) }

    var state: StateDirectory { Self.state(stateDir) }

    /// `--state-dir`, else the default (see StateDirectory).
    static func state(_ stateDir: String?) -> StateDirectory {
        stateDir.map { StateDirectory(path: absolutePath($0)) } ?? StateDirectory()
    }
}

extension OS3Command {
    /// A first word that is no command (`os3ctl bot`): the nearest command is suggested, where
    /// ArgumentParser would only say "Unexpected argument".
    static func checkCommandName(_ arguments: [String]) throws {
        guard let first = arguments.first, !first.hasPrefix("-") else { return }
        let commands = configuration.subcommands.filter { $0.configuration.shouldDisplay }.compactMap { $0.configuration.commandName }
        guard !commands.contains(first), first != "help", first != HogCommand.configuration.commandName else { return }
        let guess = Suggestions.closest(to: first, among: commands).map { " Did you mean '\($0)'?" } ?? ""
        throw ValidationError("'\(excerpt(first))' is not an os3ctl command.\(guess) The commands: \(commands.joined(separator: ", ")).")
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
