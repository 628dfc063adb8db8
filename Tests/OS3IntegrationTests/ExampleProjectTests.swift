import Foundation
import Testing
import OS3Core

/// The projects in examples/ as a newcomer runs them: `os3ctl gate --project examples/NAME` builds
/// the images from Debian packages and the toolchain's clang, then boots them under TCG and passes;
/// each documented broken variant fails with its own verdict and exit code.
@Suite("Example projects (examples/)", .tags(.integration))
struct ExampleProjectTests {
    struct Example: Sendable, CustomTestStringConvertible {
        let name: String
        /// Lanes the gate boots (those without gate = false).
        let gateLanes: Int
        /// Broken variants and the verdict each must get.
        let broken: [(lane: String, verdict: VerdictKind)]
        var testDescription: String { name }
    }

    static let examples: [Example] = [
        Example(name: "multiboot2-grub", gateLanes: 1, broken: [("cdrom-fault", .guestReset)]),
        Example(name: "aarch64-virt", gateLanes: 1, broken: [("virt-panic", .forbiddenMarker)]),
        Example(name: "riscv64-virt", gateLanes: 1, broken: [("virt-reset", .guestReset)]),
        Example(name: "uefi-grub", gateLanes: 1, broken: [("uefi-reboot", .guestReset)]),
        Example(name: "linux-initramfs", gateLanes: 2, broken: [("linux-panic", .forbiddenMarker),
                                                               ("linux-ktap-missing", .missingMarkers),
                                                               ("linux-ktap-fail", .testFailed)]),
    ]

    @Test("the example's gate passes, and each broken variant fails with its documented verdict", arguments: examples)
    func example(_ example: Example) throws {
        let dir = "\(Fixture.root)/examples/\(example.name)"
        let gate = try Fixture.os3ctl(["gate", "--project", dir])
        #expect(gate.status == 0, "gate of \(example.name) exited \(gate.status):\n\(gate.stdout)\n\(gate.stderr.suffix(3000))")
        #expect(gate.stdout.contains("gate: PASS (\(example.gateLanes)/\(example.gateLanes) lanes passed"), "\(gate.stdout)")
        for (lane, verdict) in example.broken {
            // The gate leaves broken variants out; `boot --lane` runs them.
            #expect(!gate.stdout.contains("\n\(lane) "), "the gate booted the broken variant \(lane)")
            let boot = try Fixture.os3ctl(["boot", "--project", dir, "--lane", lane])
            #expect(boot.status == verdict.exitCode, "\(lane): exit \(boot.status), expected \(verdict.exitCode) (\(verdict.rawValue))\n\(boot.stdout)\n\(boot.stderr.suffix(2000))")
            #expect(boot.stdout.hasPrefix("\(verdict.rawValue.uppercased()) \(lane) "), "\(lane): \(boot.stdout)")
        }
    }

    @Test("a KTAP lane's log judged again by scan gives the same verdict as the boot")
    func ktapScan() throws {
        let dir = "\(Fixture.root)/examples/linux-initramfs"
        let boot = try Fixture.os3ctl(["boot", "--project", dir, "--lane", "linux-ktap-fail", "--json"])
        #expect(boot.status == VerdictKind.testFailed.exitCode, "\(boot.stderr.suffix(2000))")
        guard let range = boot.stdout.range(of: #""serialLog" *: *"([^"]+)""#, options: .regularExpression) else {
            Issue.record("no serialLog in \(boot.stdout.prefix(2000))"); return
        }
        let log = String(boot.stdout[range].split(separator: "\"")[2])
        let scan = try Fixture.os3ctl(["scan", "--project", dir, "--lane", "linux-ktap-fail", log])
        #expect(scan.status == VerdictKind.testFailed.exitCode, "\(scan.stdout)\n\(scan.stderr)")
        #expect(scan.stdout.contains("KTAP result not ok, first 'cpu_count_positive'"), "\(scan.stdout)")
    }
}
