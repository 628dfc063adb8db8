import COS3Sys

/// SIGINT/SIGTERM/SIGHUP handling: running boots see the interrupt through a descriptor they
/// poll, stop their guests with the kill ladder, keep their logs, and report `interrupted`.
public enum Interrupts {
    /// Installs the handlers (idempotent) and returns the descriptor that becomes readable on a signal.
    @discardableResult
    public static func install() -> Int32 { os3_install_interrupt_pipe() }

    /// The signal that interrupted os3ctl, or nil.
    public static var signal: Int32? {
        let s = os3_interrupt_signal()
        return s == 0 ? nil : s
    }

    /// The conventional exit status after a signal (128 + n).
    public static var exitStatus: Int32? { signal.map { 128 + $0 } }

    /// Last resort on the way out: SIGKILL every child process group still alive.
    public static func killAllChildren() { LiveProcesses.shared.killAll() }
}
