/// What QEMU itself said about how the guest ended — through its machine protocol (QMP) when QEMU
/// runs directly, through libvirt's lifecycle events otherwise. A clean poweroff, a reset (a triple
/// fault under -no-reboot) and a panic all end QEMU with exit 0: only this account tells them apart.
public enum QemuAccount: Sendable, Codable, Equatable {
    /// SHUTDOWN with guest=true; `reason` as QEMU gives it: guest-shutdown, guest-reset, guest-panic.
    case shutdown(reason: String)
    /// GUEST_PANICKED: the guest wrote to the panic device (pvpanic).
    case panicked
    /// STOP that QEMU did on its own, with the run state it then reported (query-status):
    /// internal-error (a KVM internal error, an emulation failure), io-error, guest-panicked, …
    case stopped(status: String)
}

/// How the boot ended, from QEMU's exit status and its own account together: what a verdict rests on.
public enum EndEvidence: Sendable, Codable, Equatable {
    /// QEMU exited with this code and said nothing else (isa-debug-exit, a QEMU error, …).
    case exited(Int32)
    /// QEMU was killed by a signal that was not os3ctl's.
    case signalled(Int32)
    /// The guest powered off cleanly, as QEMU reported it (SHUTDOWN guest=true reason guest-shutdown).
    case guestShutdown
    /// The guest reset (SHUTDOWN reason guest-reset): a triple fault under -no-reboot.
    case guestReset
    /// The guest panicked (GUEST_PANICKED, or SHUTDOWN reason guest-panic).
    case guestPanic
    /// QEMU stopped the VM and kept running (e.g. "KVM internal error … emulation failure"):
    /// the run state QEMU reported and the tail of its stderr.
    case vmStopped(status: String, stderrTail: String)
    /// QEMU exited 0 and gave no account of why: no evidence of how the guest ended.
    case unknown

    /// The evidence, or nil when there is neither an exit status nor an account (a libvirtd: the
    /// verdict then rests on the final sentinel and libvirt's events). A panic or a stopped VM
    /// decides whatever the exit (os3ctl ends a stopped QEMU itself); a shutdown or reset account
    /// explains only an exit 0 or an end that is not QEMU's own (libvirt's signal, no exit status).
    public static func of(end: ProcessEnd?, account: QemuAccount?, stderrTail: String = "") -> EndEvidence? {
        switch account {
        case .panicked?, .shutdown(reason: "guest-panic")?:
            return .guestPanic
        case .stopped(let status)?:
            return .vmStopped(status: status, stderrTail: stderrTail)
        case .shutdown(let reason)?:
            switch end {
            case .exited(let code)? where code != 0: return .exited(code)
            case .failedToStart?: return nil
            default: break
            }
            switch reason {
            case "guest-shutdown": return .guestShutdown
            case "guest-reset": return .guestReset
            default: break
            }
        case nil:
            break
        }
        switch end {
        case .exited(0)?: return .unknown
        case .exited(let code)?: return .exited(code)
        case .signaled(let sig)?: return .signalled(sig)
        case .failedToStart?, nil: return nil
        }
    }

    /// For details: what QEMU said, in its own words.
    public var summary: String {
        switch self {
        case .exited(let code): "QEMU exited \(code)"
        case .signalled(let sig): "QEMU was killed by signal \(sig) (\(signalName(sig)))"
        case .guestShutdown: "the guest powered off cleanly (QEMU: SHUTDOWN guest-shutdown)"
        case .guestReset: "the guest reset (QEMU: SHUTDOWN guest-reset; a triple fault under -no-reboot)"
        case .guestPanic: "the guest panicked (QEMU: GUEST_PANICKED from the panic device)"
        case .vmStopped(let status, _): "QEMU stopped the VM (run state \(status))"
        case .unknown: "QEMU exited 0 without saying how the guest ended (no SHUTDOWN event)"
        }
    }
}
