import COS3Sys
import FoundationEssentials
import Glibc
import OS3Core

/// What this machine can run now.
public enum HostProbe {
    /// nil when /dev/kvm is usable, else why not (and what to do).
    public static func kvmProblem(device: String = "/dev/kvm") -> String? {
        if let forced = environmentValue("OS3_FORCE_NO_KVM"), !forced.isEmpty {
            return "KVM disabled by OS3_FORCE_NO_KVM"
        }
        guard Path.exists(device) else {
            return "\(device) does not exist (no hardware virtualisation, or the kvm module is not loaded)"
        }
        let v = os3_kvm_api_version(device)
        if v == 12 { return nil }
        if v == -EACCES { return "\(device) is not accessible to this user (add yourself to the 'kvm' group)" }
        if v < 0 { return "\(device) cannot be used: \(String(cString: strerror(-v)))" }
        return "\(device) reports KVM API version \(v), expected 12"
    }

    /// nil when the lane can run here, else the reason it must be skipped.
    public static func skipReason(for lane: Lane) -> String? {
        // KVM runs guests of the host's own architecture only.
        if lane.accelerator == .kvm, let host = hostArch, lane.arch != host {
            return "needs KVM for \(lane.arch.rawValue), and this host is \(host.rawValue) (use accelerator = \"tcg\")"
        }
        if lane.accelerator == .kvm, let why = kvmProblem() { return "needs KVM: \(why)" }
        // "none" is QEMU's own word for no firmware (`-bios none`: riscv64 virt boots the ELF in M-mode).
        if let fw = lane.firmware, fw != "none", !Path.exists(fw) {
            return "firmware \(fw) is missing (apt-get install qemu-system-x86)"
        }
        // UEFI firmware comes from a system package; a firmware path relative to the project is the project's own.
        if case .uefi(let code, let vars, _) = lane.boot {
            let package = lane.arch == .x86_64 ? "ovmf" : lane.arch == .aarch64 ? "qemu-efi-aarch64" : "a UEFI firmware package"
            for file in [code] + (vars.map { [$0] } ?? []) where file.hasPrefix("/") && !Path.exists(file) {
                return "UEFI firmware \(file) is missing (apt-get install \(package))"
            }
        }
        return nil
    }

    public static let defaultQemu = "qemu-system-x86_64"

    /// The architecture this host's CPUs run, as a lane names it (nil: none os3ctl boots).
    public static var hostArch: Arch? {
        var u = utsname()
        guard uname(&u) == 0 else { return nil }
        let machine = withUnsafeBytes(of: &u.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        return Arch(rawValue: machine)
    }

    public static var cores: Int { ProcessInfo.processInfo.activeProcessorCount }
}
