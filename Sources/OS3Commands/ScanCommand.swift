import ArgumentParser
import FoundationEssentials
import Glibc
import OS3Core
import OS3Runner

/// Judges an existing console log against marker files, with the same engine `boot` uses.
/// Useful for a log from another machine or a kernel run by hand — and for benchmarking the matcher.
struct ScanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scan",
        abstract: "Check a saved serial log against a lane's markers (or marker files), without booting.",
        discussion: """
        Exits 0 when every required marker appears (in order) and no forbidden one does, 10 if some \
        are missing, 11 on a forbidden marker, 13 on an order violation. The log may be a file, a \
        pipe, or - for standard input.

        EXAMPLES:
          os3ctl scan --lane tiny ~/.local/state/os3ctl/runs/LATEST/serial.log
          os3ctl scan --markers markers/boot.toml serial.log
          ssh board cat /var/log/console | os3ctl scan --lane tiny -
        """)

    @OptionGroup var options: ProjectLocation
    @OptionGroup var view: ViewOptions

    @Option(help: ArgumentHelp("Use this lane's marker files.", valueName: "name"), completion: LaneNames.completion)
    var lane: String?

    @Option(name: .customLong("markers"), help: ArgumentHelp("A marker file (repeatable) instead of a lane's.", valueName: "file"), completion: .file(extensions: ["toml"]))
    var markerFiles: [String] = []

    @Argument(help: ArgumentHelp("The log to scan; - reads standard input.", valueName: "log"), completion: .file())
    var log: String

    @Flag(help: "Print the result as JSON.")
    var json = false

    func validate() throws {
        if (lane == nil) == markerFiles.isEmpty { throw ValidationError("give either --lane NAME or one or more --markers FILE") }
    }

    struct Result: Codable {
        var log: String
        var bytes: Int
        var seconds: Double
        var verdict: Verdict
        var hits: [MarkerHit]
    }

    func run() throws {
        view.apply()
        let markers: MarkerSet
        // A KTAP lane's log is judged by its KTAP too, read in the same pass.
        var ktap: KTAPConsole?
        if let lane {
            let project = try options.locate()
            let lane = try project.loadLane(lane)
            markers = try project.markers(for: lane)
            if lane.ktap { ktap = KTAPConsole() }
        } else {
            markers = try MarkerSet.merging(markerFiles.map { file in
                guard let bytes = try InputFile.read(file, shown: file, code: .invalidMarkers) else {
                    throw OS3Error(.notFound, "marker file \(file) does not exist", fix: "give the path of a marker file, e.g. markers/boot.toml")
                }
                return try MarkerSet.parse(file: file, bytes: bytes)
            })
        }
        let fd = try Self.openLog(log)
        defer { close(fd) }
        var matcher = MarkerMatcher(markers)
        let start = Clock.now
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        // Every read waits through `Cancellation`: a FIFO nobody writes cannot hold scan past SIGINT/SIGTERM.
        let cancellation = Cancellation()
        while matcher.forbiddenHit == nil {
            let n: Int
            do {
                n = try buffer.withUnsafeMutableBytes { try cancellation.read(fd, into: $0) }
            } catch Cancellation.Reason.interrupted(let signal) {
                // A log may be a pipe that never ends: a signal stops the scan without a verdict.
                throw OS3Error(.interrupted, "interrupted by signal \(signal) (\(signalName(signal))) while reading the log; no verdict", file: log)
            } catch let error as OS3Error {
                // A read error is not the end of the log: judging what was read would be a verdict on part of it.
                throw OS3Error(.io, "the log cannot be read: \(error.message)", file: log)
            }
            guard n > 0 else { break }
            // Times are byte offsets' arrival: all "at" 0 — a log has no clock.
            _ = buffer.withUnsafeBytes { matcher.feed(UnsafeRawBufferPointer(rebasing: $0[0..<n]), at: 0) }
            buffer.withUnsafeBytes { ktap?.feed(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        }
        _ = matcher.finish(at: 0)
        let seconds = Clock.now - start
        // The same conversion every backend uses: a forbidden hit (last line included) decides.
        var observation = BootObservation(end: .exited(33), stopReason: nil, matcher: matcher)
        observation.ktap = ktap?.finish()
        var verdict = Verdict.judge(observation, markers: markers, successExitCode: 33, idleTimeout: 0, totalTimeout: 0)
        // A log has no exit code: say what the markers alone show.
        switch verdict.kind {
        case .pass: verdict.detail = "all \(markers.required.count) required markers seen, no forbidden marker"
        case .missingMarkers: verdict.detail = "\(verdict.missing.count) required marker(s) never appear: \(verdict.missing.joined(separator: ", "))"
        default: break
        }
        let hits = matcher.hits.values.sorted { $0.line < $1.line }
        if json {
            printOut(encodeJSON(Result(log: log, bytes: matcher.bytes, seconds: seconds, verdict: verdict, hits: hits)))
        } else {
            for hit in hits { printOut("line \(hit.line): \(hit.id)") }
            printOut("\(verdict.kind.rawValue.uppercased()): \(verdict.detail)")
            printErr("scan: \(matcher.bytes) bytes in \(Reports.seconds(seconds))")
        }
        throw ExitCode(verdict.kind.exitCode)
    }

    /// The log, opened for reading: a file, or a pipe or device (`scan /dev/stdin`). Anything that
    /// cannot be read is an input error (exit 2) — never an empty log judged `missing-markers`.
    static func openLog(_ log: String) throws -> Int32 {
        // `-`: standard input (a pipe, a file or a terminal), duplicated so the scan may close it.
        if log == "-" {
            let fd = fcntl(0, F_DUPFD_CLOEXEC, 3)
            guard fd >= 0 else {
                throw OS3Error(.invalidInput, "standard input cannot be read: \(String(cString: strerror(errno)))", fix: "pipe the log in, e.g. os3ctl scan --lane tiny - < serial.log")
            }
            return fd
        }
        // Non-blocking: opening a FIFO would otherwise wait for a writer, deaf to signals; the
        // reads wait (for a writer and for data) through `Cancellation` instead.
        let fd = open(log, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            let error = errno
            throw OS3Error(error == ENOENT ? .notFound : .invalidInput,
                           error == ENOENT ? "the log does not exist" : "the log cannot be opened: \(String(cString: strerror(error)))",
                           file: log, fix: error == EACCES ? "make it readable, or scan a copy you can read" : "give the path of a serial log (a run directory's serial.log)")
        }
        var st = stat()
        if fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFDIR {
            close(fd)
            let inside = "\(log.hasSuffix("/") ? String(log.dropLast()) : log)/serial.log"
            throw OS3Error(.invalidInput, "this is a directory, not a log", file: log,
                           fix: Path.exists(inside) ? "to scan that run's console, give its log: os3ctl scan \(inside)" : "give the path of a serial log file")
        }
        return fd
    }
}
