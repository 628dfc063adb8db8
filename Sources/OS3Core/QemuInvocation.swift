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
        a += endEvidenceArgs
        a += lane.qemuArgs
        return a
    }

    /// The same command, quoted for a POSIX shell, for humans to copy and paste.
    public var shellCommand: String { replayArgv.map(shellQuote).joined(separator: " ") }
}

/// What os3ctl adds to learn how the guest ended, in QEMU's own words (docs/VERDICTS.md).
extension QemuInvocation {
    /// QEMU's machine protocol on fd 3, a socket os3ctl passes in already connected (no socket
    /// file, no connect race): SHUTDOWN (guest-shutdown / guest-reset), GUEST_PANICKED, STOP.
    public static let qmpArgs = ["-chardev", "socket,id=qmp,fd=3", "-mon", "chardev=qmp,mode=control"]

    /// Whether QEMU starts paused (-S) until os3ctl has done the QMP handshake: QEMU sends events
    /// only after it, so a guest that ends sooner would end without an account. Paid (a round trip
    /// before the guest runs, docs/BENCHMARKS.md) only where the account is the pass evidence:
    /// lanes that succeed by a clean poweroff.
    public var startsPaused: Bool { lane.success == .poweroff }

    /// `qmpArgs`, plus -S where the lane needs every event (`startsPaused`).
    public var endEvidenceArgs: [String] { Self.qmpArgs + (startsPaused ? ["-S"] : []) }

    /// The command without the QMP socket, which only os3ctl can pass in: what a human replays.
    public var replayArgv: [String] {
        var a = argv
        if let i = a.indices.first(where: { a[$0] == Self.qmpArgs[0] && a.indices.contains($0 + 3) && Array(a[$0..<$0 + 4]) == Self.qmpArgs }) {
            a.removeSubrange(i..<i + 4)
            // Paused until a QMP "cont" that a replay has nobody to send.
            if startsPaused, let s = a[i...].firstIndex(of: "-S") { a.remove(at: s) }
        }
        return a
    }
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
