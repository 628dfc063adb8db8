import Foundation
import Testing
import OS3Core
import OS3Runner

/// How a boot ended is QEMU's own account over QMP, never a guess from exit code 0: the real os3
/// kernel in real QEMU, ending each way it can.
@Suite("How the guest ended, in QEMU's words (QMP)", .tags(.integration), .serialized)
struct EndEvidenceTests {
    @Test("a triple fault is guest-reset from QEMU's SHUTDOWN event, not a guess from exit 0 (started paused: no event lost)")
    func tripleFaultIsGuestReset() throws {
        // success = poweroff starts QEMU with -S and `cont` queued behind the handshake: the
        // reset cannot come before QEMU sends events, however loaded the host.
        let r = try Fixture.boot("tiny", append: "os3.triplefault=1") { $0.success = .poweroff }
        #expect(r.argv.contains("-S"))
        #expect(r.end == .exited(0))
        #expect(r.verdict.kind == .guestReset, "\(r.verdict.detail) — \(r.runDirectory)")
        #expect(r.verdict.evidence == .qmp)
        #expect(r.verdict.detail.contains("SHUTDOWN guest-reset"))
    }

    @Test("a clean ACPI poweroff passes a lane with success = poweroff, on QEMU's account")
    func poweroffPasses() throws {
        let r = try Fixture.boot("tcg-bigmem", append: "os3.poweroff=1") { $0.success = .poweroff }
        #expect(r.end == .exited(0))
        #expect(r.verdict.kind == .pass, "\(r.verdict.detail) — \(r.runDirectory)")
        #expect(r.verdict.evidence == .qmp)
        #expect(r.verdict.detail.contains("powered off cleanly"))
    }

    @Test("the same kernel exiting through isa-debug-exit is no poweroff, and a poweroff is no exit code")
    func successFormsDoNotMix() throws {
        let exits = try Fixture.boot("tcg-bigmem") { $0.success = .poweroff }
        #expect(exits.end == .exited(33))
        #expect(exits.verdict.kind == .wrongExitCode, "\(exits.verdict.detail)")
        #expect(exits.verdict.detail.contains("expected a clean guest poweroff"))
        let powersOff = try Fixture.boot("tcg-bigmem", append: "os3.poweroff=1")
        #expect(powersOff.verdict.kind == .wrongExitCode, "\(powersOff.verdict.detail)")
        #expect(powersOff.verdict.evidence == .qmp)
        #expect(powersOff.verdict.detail.contains("powered off cleanly"))
    }

    /// OVMF under this kind of host's nested KVM dies with "KVM internal error … emulation
    /// failure": QEMU stops the VM and waits. Without QMP that was a `hang` after the idle timeout.
    @Test("a VM QEMU stopped (KVM internal error) is vm-stopped with QEMU's stderr, not a hang",
          .tags(.kvm), .enabled(if: Fixture.kvmUsable, "skipped: \(Fixture.kvmProblem ?? "")"),
          .enabled(if: FileManager.default.fileExists(atPath: Self.ovmf), "skipped: no \(Self.ovmf) (Debian package ovmf)"))
    func vmStopped() throws {
        let r = try Fixture.boot("kvm") {
            $0.machine = "q35"
            $0.firmware = Self.ovmf
            $0.consoleInput = nil
            // Far longer than QEMU takes to stop the VM: a hang verdict would mean the STOP was missed.
            $0.idleTimeout = 60
            $0.totalTimeout = 120
        }
        #expect(r.verdict.kind == .vmStopped, "\(r.verdict.detail) — \(r.runDirectory)")
        #expect(r.verdict.evidence == .qmp)
        #expect(r.verdict.detail.contains("run state internal-error"))
        #expect(r.verdict.detail.contains("KVM internal error"))
        let stderr = try String(contentsOfFile: "\(r.runDirectory)/qemu.stderr", encoding: .utf8)
        #expect(stderr.contains("emulation failure"))
    }

    static let ovmf = "/usr/share/ovmf/OVMF.fd"

    @Test("a fake QEMU that never speaks QMP gives no account: exit 0 is no evidence, never a pass")
    func silentQemu() throws {
        let qemu = try Fixture.fakeQemu("printf '\(Fixture.fakePassingConsole)\\n'; exit 0")
        let r = try Fixture.bootFake(qemu: qemu)
        #expect(r.verdict.kind == .wrongExitCode, "\(r.verdict.detail)")
        #expect(r.verdict.detail.contains("without saying how the guest ended"))
    }
}
