/// The QEMU command for booting a lane, as a value: rendered to argv (never through a shell) and
/// tested as such. Only what the lane asks for, plus the console and how the guest ends.
public struct QemuInvocation: Sendable, Equatable, Codable {
    public var binary: String
    public var lane: Lane
    /// The image the run boots (for records): the kernel, or the disk, ISO or ESP of the lane's method.
    public var kernel: String
    /// Appended to the lane's own command line (`--append`).
    public var extraAppend: String
    /// What is booted, with the images resolved to the paths QEMU opens.
    public var boot: BootMethod
    /// The run's private copy of the UEFI variables store (in the run directory, copied from the
    /// lane's template by the runner before QEMU starts); nil until the run directory exists.
    public var varsCopy: String?

    /// The name of the variables copy in a run directory.
    public static let varsCopyName = "efivars.fd"
    /// Stands for the copy in argv rendered before a run directory exists (a skipped lane's record).
    public static let varsCopyPlaceholder = "RUN_DIRECTORY/\(varsCopyName)"

    /// `boot` nil: the lane's method, its kernel image (method kernel) being `kernel`.
    public init(binary: String = "qemu-system-x86_64", lane: Lane, kernel: String, extraAppend: String = "",
                boot: BootMethod? = nil, varsCopy: String? = nil) {
        self.binary = binary
        self.lane = lane
        self.kernel = kernel
        self.extraAppend = extraAppend
        self.boot = boot ?? lane.boot.withKernel(kernel)
        self.varsCopy = varsCopy
    }

    /// The kernel command line: the lane's, then the user's additions.
    public var kernelCommandLine: String {
        [lane.append, extraAppend].map { $0.trimmingSpaces() }.filter { !$0.isEmpty }.joined(separator: " ")
    }

    /// Whether the run directory must exist (and the variables copy be made in it) before QEMU starts.
    public var needsRunDirectory: Bool { boot.needsVarsCopy }

    /// The same invocation in the run directory `dir` (where its variables copy lives).
    public func inRunDirectory(_ dir: String) -> QemuInvocation {
        guard needsRunDirectory else { return self }
        var copy = self
        copy.varsCopy = "\(dir)/\(Self.varsCopyName)"
        return copy
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
                 "-no-reboot"]
        a += ArchProfile.consoleArguments
        // How the guest chooses QEMU's exit code (isa-debug-exit: writing v to port 0xf4 exits with (v << 1) | 1).
        a += lane.exitDevice.qemuArguments
        if let fw = lane.firmware { a += ["-bios", fw] }
        a += boot.qemuArguments(profile: lane.arch.profile, commandLine: kernelCommandLine, varsCopy: varsCopy)
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
    /// before the guest runs, docs/BENCHMARKS.md) where the account is the evidence: lanes that
    /// succeed by a clean poweroff, and lanes without isa-debug-exit (semihosting, sifive_test,
    /// none), whose guests end early by reset or poweroff as often as by a code (a riscv64 reset
    /// 20 ms in lost its event without it). The os3 lanes (isa-debug-exit, exit 33) do not pay:
    /// an event lost there gives "no evidence", never a pass.
    public var startsPaused: Bool { lane.success == .poweroff || lane.exitDevice != .isaDebugExit }

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
