import ArgumentParser
import FoundationEssentials
import Glibc
import OS3Core
import OS3Runner

func printErr(_ text: String) {
    try? writeAll(2, Array((text + "\n").utf8))
}

func printOut(_ text: String) {
    try? writeAll(1, Array((text + "\n").utf8))
}

/// Progress goes to stderr; results to stdout. A live checklist only when stderr is a terminal.
enum Terminal {
    static var stderrIsTTY: Bool { isatty(2) == 1 && environmentValue("TERM") != "dumb" }

    /// Set once by the command, before any thread starts (ViewOptions.apply).
    nonisolated(unsafe) static var color: ColorChoice = .auto
    nonisolated(unsafe) static var verbosity: Verbosity = .normal

    /// Colour on `fd`: `--color always|never` decides; `auto` means a terminal (not TERM=dumb)
    /// and no NO_COLOR (https://no-color.org: set and not empty).
    static func colors(_ fd: Int32) -> Bool {
        switch color {
        case .always: true
        case .never: false
        case .auto: isatty(fd) == 1 && environmentValue("TERM") != "dumb" && (environmentValue("NO_COLOR") ?? "").isEmpty
        }
    }

    static var quiet: Bool { verbosity == .quiet }
    static var verbose: Bool { verbosity == .verbose }

    /// `text` in an SGR colour (e.g. "32" green, "31" red, "2" dim) when `fd` takes colour.
    static func paint(_ text: String, _ sgr: String, on fd: Int32) -> String {
        colors(fd) ? "\u{1B}[\(sgr)m\(text)\u{1B}[0m" : text
    }
}

enum ColorChoice: String, CaseIterable, ExpressibleByArgument, Sendable {
    case auto, always, never
}

enum Verbosity: Sendable {
    case quiet, normal, verbose
}

/// `--color`, `--quiet`, `--verbose`: the same on every command.
struct ViewOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Colour: auto (on a terminal, unless NO_COLOR is set), always, or never.", valueName: "when"))
    var color: ColorChoice = .auto

    @Flag(help: "Print results, warnings and errors only: no progress lines.")
    var quiet = false

    @Flag(help: "Print more: the QEMU command line of a boot, the kernel host tests' output even when they pass.")
    var verbose = false

    func validate() throws {
        if quiet && verbose { throw ValidationError("--quiet and --verbose contradict each other: give one of them") }
    }

    /// Makes these the process's settings (call first in `run()`).
    func apply() { Self.apply(color: color, quiet: quiet, verbose: verbose) }

    static func apply(color: ColorChoice, quiet: Bool, verbose: Bool) {
        Terminal.color = color
        Terminal.verbosity = quiet ? .quiet : verbose ? .verbose : .normal
    }
}

/// A progress line on stderr, unless --quiet.
func printProgress(_ text: String) {
    if !Terminal.quiet { printErr(text) }
}

/// The terminal's size on `fd` (nil when it is not a terminal or will not say).
func terminalSize(_ fd: Int32) -> (columns: Int, rows: Int)? {
    var size = winsize()
    guard ioctl(fd, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0, size.ws_row > 0 else { return nil }
    return (Int(size.ws_col), Int(size.ws_row))
}

/// `text` cut to `width` characters (an ellipsis marks the cut).
func truncated(_ text: String, to width: Int) -> String {
    guard text.count > width else { return text }
    return width <= 1 ? String(text.prefix(max(0, width))) : String(text.prefix(width - 1)) + "…"
}

/// Rows kept in place directly above the cursor. A redraw rewrites only the rows that changed
/// (the cursor goes up to each and back); a different number of rows, or rows after `forget()`,
/// are drawn anew below.
struct InPlaceRows {
    private var rows: [String] = []

    var isEmpty: Bool { rows.isEmpty }

    /// What to write to bring the screen from the rows drawn last to `new`.
    mutating func redraw(_ new: [String]) -> String {
        var text = ""
        if rows.count == new.count {
            for (i, row) in new.enumerated() where row != rows[i] {
                let up = new.count - i
                text += "\u{1B}[\(up)A\r\u{1B}[2K\(row)\r\u{1B}[\(up)B"
            }
        } else {
            for row in new { text += "\u{1B}[2K\(row)\n" }
        }
        rows = new
        return text
    }

    /// Something else was written below the rows: the next redraw starts afresh.
    mutating func forget() { rows = [] }
}

/// Shows a boot's markers as they arrive: a checklist redrawn in place on a terminal tall enough
/// for it, plain lines otherwise. One writer: the console echo (`--serial`) and progress share
/// this lock, and the echo is written in whole lines only, so neither cuts into the other.
final class BootProgress: @unchecked Sendable {
    private let lock = Lock()
    /// Known once the boot has started (it loads them while QEMU starts).
    private var markers: MarkerSet?
    private let lane: String
    private var live: Bool
    private let echoSerial: Bool
    private let quiet: Bool
    private var seen: [String: MarkerHit] = [:]
    /// The checklist on screen, directly above the cursor (empty: none drawn).
    private var screen = InPlaceRows()
    private var width = 80
    /// Console bytes after the last newline, held back until their line is complete.
    private var partial: [UInt8] = []
    private var startedAt = 0.0
    private var lastOutput = 0.0
    private var finished = false
    /// Lines held back while the checklist is live, printed under it once the boot is judged.
    private var pending: [String] = []

    init(lane: String, echoSerial: Bool, quiet: Bool) {
        self.lane = lane
        self.echoSerial = echoSerial
        self.quiet = quiet || Terminal.quiet
        // Redrawing and echoing the console would fight over the screen: echo wins.
        self.live = Terminal.stderrIsTTY && !echoSerial && !self.quiet
    }

    func handle(_ event: BootEvent) {
        lock.lock()
        defer { lock.unlock() }
        switch event {
        case .started(let pid, let dir, let markers):
            self.markers = markers
            if !quiet { line("[\(lane)] \(pid > 0 ? "QEMU pid \(pid)" : "started"); run directory \(dir)") }
            if live {
                // Too short a terminal scrolls a redrawn table into a smear: plain lines then.
                if let size = terminalSize(2), size.rows >= markers.required.count + 4 { width = size.columns } else { live = false }
            }
            startedAt = Clock.now
            lastOutput = startedAt
            if live { draw(); startTicker() }
        case .console(let data):
            lastOutput = Clock.now
            if echoSerial { echo(Array(data)) }
        case .marker(let hit):
            seen[hit.id] = hit
            if live { draw() } else if !quiet { line("[\(lane)] marker \(hit.id) seen at \(Reports.seconds(hit.time)) (line \(hit.line))") }
        case .forbidden(let hit):
            if !quiet { line("[\(lane)] \(Terminal.paint("FORBIDDEN", "31", on: 2)) marker \(hit.id) at \(Reports.seconds(hit.time)) (line \(hit.line))") }
        case .stopping(let reason):
            if !quiet { line("[\(lane)] stopping the guest: \(reason.rawValue)") }
        }
    }

    /// The boot is judged: the rest of the echoed console, missing markers as ✗, and for a boot
    /// that did not pass, its last console lines (unless they were echoed already).
    func finish(_ record: RunRecord) {
        lock.lock()
        defer { lock.unlock() }
        finished = true
        if !partial.isEmpty { writeErr(String(decoding: partial, as: UTF8.self) + "\n"); partial = [] }
        if live && !screen.isEmpty { draw(missing: record.verdict.kind.passed ? [] : Set(record.verdict.missing)) }
        if !pending.isEmpty { writeErr(pending.map { $0 + "\n" }.joined()); pending = [] }
        guard !quiet, !echoSerial, !record.verdict.kind.passed, record.verdict.kind != .skipped else { return }
        let tail = Outputs.consoleTail(record.serialLog, lines: 10)
        guard !tail.isEmpty else { return }
        var text = "[\(lane)] last console lines (\(record.serialLog)):\n"
        for l in tail.split(separator: "\n", omittingEmptySubsequences: false) {
            text += "  \(truncated(String(l), to: max(20, width - 3)))\n"
        }
        writeErr(text)
        screen.forget()
    }

    /// A progress line: under a live checklist, held until the end (the checklist stays in place).
    private func line(_ text: String) {
        if live && !screen.isEmpty && !finished { pending.append(text); return }
        writeErr(text + "\n")
        screen.forget()
    }

    private func echo(_ bytes: [UInt8]) {
        guard let last = bytes.lastIndex(of: UInt8(ascii: "\n")) else { partial += bytes; return }
        let whole = partial + bytes[...last]
        partial = Array(bytes[(last + 1)...])
        try? writeAll(2, whole)
    }

    private func writeErr(_ text: String) { try? writeAll(2, Array(text.utf8)) }

    private func row(_ m: Marker, missing: Set<String>) -> String {
        let id = m.id.padding(to: 14)
        if let hit = seen[m.id] {
            return "  \(Terminal.paint("✓", "32", on: 2)) \(truncated("\(id) \(Reports.seconds(hit.time))", to: width - 5))"
        }
        if missing.contains(m.id) {
            return "  \(Terminal.paint("✗", "31", on: 2)) \(truncated("\(id) missing: \(m.patternText)", to: width - 5))"
        }
        return "  \(Terminal.paint("·", "2", on: 2)) \(truncated("\(id) \(m.patternText)", to: width - 5))"
    }

    /// Redraws the elapsed and idle time four times a second until the boot is judged.
    private func startTicker() {
        startThread(name: "os3ctl-progress") { [self] in
            while true {
                usleep(250_000)
                lock.lock()
                let stop = finished || !live || Interrupts.signal != nil
                if !stop { draw() }
                lock.unlock()
                if stop { return }
            }
        }
    }

    /// The markers seen in the order the console showed them, then the ones still awaited in
    /// the marker files' order.
    private func ordered(_ markers: MarkerSet) -> [Marker] {
        let seenInOrder = markers.required.filter { seen[$0.id] != nil }
            .sorted { (seen[$0.id]!.line, seen[$0.id]!.time) < (seen[$1.id]!.line, seen[$1.id]!.time) }
        return seenInOrder + markers.required.filter { seen[$0.id] == nil }
    }

    /// Rewrites only the rows that changed (all of them the first time, or after a line below);
    /// the last row is the elapsed and idle time.
    private func draw(missing: Set<String> = []) {
        guard let markers else { return }
        let now = Clock.now
        var status = "  \(Reports.seconds(now - startedAt)) elapsed, \(seen.count)/\(markers.required.count) markers"
        if finished { status += ", done" } else if now - lastOutput >= 1 { status += ", console idle \(Reports.seconds(now - lastOutput))" }
        let text = screen.redraw(ordered(markers).map { row($0, missing: missing) } + [Terminal.paint(truncated(status, to: width - 1), "2", on: 2)])
        if !text.isEmpty { writeErr(text) }
    }
}

/// `gate`'s lanes while they boot: on a terminal tall enough, a table redrawn in place (lane,
/// state, markers n/m, time); otherwise one line per lane as it ends.
final class GateProgress: @unchecked Sendable {
    private struct Row {
        var lane: String
        var required: Int
        var seen = 0
        var state = "queued"
        var started: Double?
        var ended: Double?
        var failed = false
    }

    private let lock = Lock()
    private var rows: [Row]
    private var index: [String: Int] = [:]
    private let live: Bool
    private var width = 80
    private var screen = InPlaceRows()
    private var finished = false

    init(_ plans: [(Lane, MarkerSet)]) {
        rows = plans.map { Row(lane: $0.0.name, required: $0.1.required.count) }
        for (i, r) in rows.enumerated() { index[r.lane] = i }
        var live = Terminal.stderrIsTTY && !Terminal.quiet
        if live, let size = terminalSize(2), size.rows >= rows.count + 4 { width = size.columns } else { live = false }
        self.live = live
    }

    /// Starts the table (and its clock) on a terminal.
    func start() {
        guard live else { return }
        lock.lock()
        draw()
        lock.unlock()
        startThread(name: "os3ctl-gate-view") { [self] in
            while true {
                usleep(250_000)
                lock.lock()
                let stop = finished || Interrupts.signal != nil
                if !stop { draw() }
                lock.unlock()
                if stop { return }
            }
        }
    }

    func event(_ lane: String, _ event: BootEvent) {
        lock.lock()
        defer { lock.unlock() }
        guard let i = index[lane] else { return }
        switch event {
        case .started: rows[i].state = "booting"; rows[i].started = Clock.now
        case .marker: rows[i].seen += 1
        case .forbidden: rows[i].state = "forbidden marker"
        case .stopping(let reason): rows[i].state = "stopping (\(reason.rawValue))"
        case .console: break
        }
    }

    func ended(_ record: RunRecord) {
        lock.lock()
        defer { lock.unlock() }
        if let i = index[record.lane] {
            rows[i].state = record.verdict.kind.rawValue
            rows[i].seen = record.seenCount
            rows[i].ended = Clock.now
            rows[i].failed = !record.verdict.kind.passed
        }
        if !live { printProgress("gate: \(summaryLine(record, colorOn: 2).split(separator: "\n").first!)") }
    }

    /// The last redraw; the table then stays as the lanes ended.
    func finish() {
        lock.lock()
        defer { lock.unlock() }
        guard live, !finished else { return }
        draw()
        finished = true
    }

    private func draw() {
        let now = Clock.now
        let laneWidth = max(4, rows.map(\.lane.count).max() ?? 4)
        let header: String = "  \("LANE".padding(to: laneWidth))  \("STATE".padding(to: 18))  MARKERS  TIME"
        let body: [String] = rows.map { (r: Row) -> String in
            var time = "-"
            if let started = r.started { time = Reports.seconds((r.ended ?? now) - started) }
            let state = r.state.padding(to: 18)
            let painted = r.ended == nil ? state : Terminal.paint(state, r.failed ? "31" : "32", on: 2)
            let markers = "\(r.seen)/\(r.required)".padding(to: 7)
            let plain = "  \(r.lane.padding(to: laneWidth))  \(state)  \(markers)  \(time)"
            guard plain.count < width else { return truncated(plain, to: width - 1) }
            return "  \(r.lane.padding(to: laneWidth))  \(painted)  \(markers)  \(time)"
        }
        let text = screen.redraw([header] + body)
        if !text.isEmpty { try? writeAll(2, Array(text.utf8)) }
    }
}
