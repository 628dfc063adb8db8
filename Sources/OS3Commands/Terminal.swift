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
}

/// Shows a boot's markers as they arrive: a redrawn checklist on a terminal, plain lines otherwise.
final class BootProgress: @unchecked Sendable {
    private let lock = Lock()
    /// Known once the boot has started (it loads them while QEMU starts).
    private var markers: MarkerSet?
    private let lane: String
    private let live: Bool
    private let echoSerial: Bool
    private let quiet: Bool
    private var seen: [String: MarkerHit] = [:]
    private var drawn = 0

    init(lane: String, echoSerial: Bool, quiet: Bool) {
        self.lane = lane
        self.echoSerial = echoSerial
        self.quiet = quiet
        // Redrawing and echoing the console would fight over the screen: echo wins.
        self.live = Terminal.stderrIsTTY && !echoSerial && !quiet
    }

    func handle(_ event: BootEvent) {
        lock.lock()
        defer { lock.unlock() }
        switch event {
        case .started(let pid, let dir, let markers):
            self.markers = markers
            if !quiet { printErr("[\(lane)] \(pid > 0 ? "QEMU pid \(pid)" : "started"); run directory \(dir)") }
            if live { draw() }
        case .console(let data):
            if echoSerial { try? writeAll(2, Array(data)) }
        case .marker(let hit):
            seen[hit.id] = hit
            if live { draw() } else if !quiet { printErr("[\(lane)] marker \(hit.id) seen at \(Reports.seconds(hit.time)) (line \(hit.line))") }
        case .forbidden(let hit):
            if live { draw() }
            if !quiet { printErr("[\(lane)] FORBIDDEN marker \(hit.id) at \(Reports.seconds(hit.time)) (line \(hit.line))") }
        case .stopping(let reason):
            if !quiet { printErr("[\(lane)] stopping the guest: \(reason.rawValue)") }
        }
    }

    private func draw() {
        guard let markers else { return }
        var text = drawn > 0 ? "\u{1B}[\(drawn)A" : ""
        for m in markers.required {
            if let hit = seen[m.id] {
                text += "\u{1B}[2K  \u{1B}[32m✓\u{1B}[0m \(m.id.padding(to: 14)) \(Reports.seconds(hit.time))\n"
            } else {
                text += "\u{1B}[2K  \u{1B}[2m·\u{1B}[0m \(m.id.padding(to: 14)) \(m.patternText)\n"
            }
        }
        drawn = markers.required.count
        try? writeAll(2, Array(text.utf8))
    }
}
