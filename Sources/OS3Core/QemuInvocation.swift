/// The QEMU command for booting a kernel in a lane, as a value: rendered to argv (never through a
/// shell) and tested as such.
public struct QemuInvocation: Sendable, Equatable, Codable {
    public var binary: String
    public var lane: Lane
    public var kernel: String
    /// Appended to the lane's own command line (`--append`).
    public var extraAppend: String

    public init(binary: String = "qemu-system-x86_64", lane: Lane, kernel: String, extraAppend: String = "") {
        self.binary = binary
        self.lane = lane
        self.kernel = kernel
        self.extraAppend = extraAppend
    }

    /// The kernel command line: the lane's, then the user's additions.
    public var kernelCommandLine: String {
        [lane.append, extraAppend].map { $0.trimmingSpaces() }.filter { !$0.isEmpty }.joined(separator: " ")
    }

    public var argv: [String] {
        var a = [binary,
                 "-name", "os3-\(lane.name)",
                 "-machine", lane.machine,
                 "-accel", lane.accelerator.rawValue,
                 "-cpu", lane.cpuModel,
                 "-m", lane.memory,
                 "-smp", String(lane.cpus),
                 // Only the devices asked for: no NIC, no VGA, no monitor, no ~/.config surprises.
                 "-nodefaults", "-no-user-config", "-display", "none",
                 // A triple fault must end the run (exit 0, judged as a wrong exit code), not reboot.
                 "-no-reboot",
                 // The serial console is QEMU's stdout; signal=off so a Ctrl-C reaches os3ctl, not the chardev.
                 "-chardev", "stdio,id=con0,signal=off", "-serial", "chardev:con0",
                 // Writing v to port 0xf4 makes QEMU exit with (v << 1) | 1: 0x10 -> 33.
                 "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]
        if let fw = lane.firmware { a += ["-bios", fw] }
        a += ["-kernel", kernel, "-append", kernelCommandLine]
        a += lane.qemuArgs
        return a
    }

    /// The same command, quoted for a POSIX shell, for humans to copy and paste.
    public var shellCommand: String { argv.map(shellQuote).joined(separator: " ") }
}

/// Quotes a word for a POSIX shell (for display and replay commands only; os3ctl never runs a shell).
public func shellQuote(_ word: String) -> String {
    if !word.isEmpty, word.utf8.allSatisfy({ c in
        (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || "-_./=:,+@%".utf8.contains(c)
    }) { return word }
    return "'" + word.replacingAll("'", with: "'\\''") + "'"
}

extension String {
    func replacingAll(_ target: String, with replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
