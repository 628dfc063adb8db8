import COS3Early
import FoundationEssentials
import OS3Commands
import OS3Runner

// `boot` may already have started QEMU, before any Swift ran (Sources/COS3Early/early.c).
let early = os3_early_result().pointee
OS3Command.runMain(early: early.pid > 0 ? StartedQemu.adopting(
    pid: early.pid, executable: String(cString: early.exec_path), argv: (0..<Int(early.argc)).map { String(cString: early.argv[$0]!) },
    statePath: String(cString: early.state_path), directory: String(cString: early.directory),
    start: Double(early.start_ns) / 1e9, startedAt: Date(timeIntervalSince1970: Double(early.wall_sec) + Double(early.wall_nsec) / 1e9),
    consoleRead: early.console_fd, errRead: early.err_fd, inWrite: early.in_fd, qmpFD: early.qmp_fd) : nil,
    cachePath: os3_early_cache_path().map { String(cString: $0) })
