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
        if lane.accelerator == .kvm, let why = kvmProblem() { return "needs KVM: \(why)" }
        if let fw = lane.firmware, !Path.exists(fw) {
            return "firmware \(fw) is missing (apt-get install qemu-system-x86)"
        }
        return nil
    }

    public static let defaultQemu = "qemu-system-x86_64"

    public static var cores: Int { ProcessInfo.processInfo.activeProcessorCount }
}
