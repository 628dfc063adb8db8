import Foundation
import Testing
import OS3Core
import OS3Libvirt
import OS3Runner

/// One row of the verdict matrix: a kernel argument (or an extra marker it never prints) and the
/// verdict and evidence each backend must arrive at.
struct MatrixCase: Sendable, CustomTestStringConvertible {
    var name: String
    var append: String
    var extraMarker: Marker?
    var expected: VerdictKind
    /// Evidence with QEMU's exit code (embedded driver) and without it (a libvirtd).
    var withExitCode: VerdictEvidence
    var withoutExitCode: VerdictEvidence
    var testDescription: String { name }

    static let never = Marker(id: "never", pattern: .literal("os3: this line is never printed"))

    static let all: [MatrixCase] = [
        MatrixCase(name: "a good boot passes", append: "", expected: .pass,
                   withExitCode: .exitCode, withoutExitCode: .sentinelAndLifecycle),
        MatrixCase(name: "a required marker the kernel never prints fails as missing", append: "", extraMarker: never,
                   expected: .missingMarkers, withExitCode: .exitCode, withoutExitCode: .sentinelAndLifecycle),
        MatrixCase(name: "a panic line stops the guest at once", append: "os3.panic=1", expected: .forbiddenMarker,
                   withExitCode: .console, withoutExitCode: .console),
        MatrixCase(name: "a triple fault is a guest reset by libvirt's account, never a pass", append: "os3.triplefault=1", expected: .guestReset,
                   withExitCode: .lifecycle, withoutExitCode: .lifecycle),
    ]
}

extension LibvirtTests {
    @Suite("embedded driver (qemu:///embed, no daemon)")
    struct Embedded {
        static func expectPass(_ r: RunRecord) {
            #expect(r.verdict.kind == .pass, "\(r.verdict.detail) — \(r.runDirectory)")
            #expect(r.end == .exited(33), "QEMU's real exit status, reaped by os3ctl")
            #expect(r.verdict.evidence == .exitCode)
            #expect(r.seenCount == r.requiredCount)
            #expect(r.backend?.hasPrefix("libvirt qemu:///embed?root=") == true)
        }

        @Test("every TCG lane boots through the embedded driver and passes on QEMU's exit code", arguments: ["tcg-bigmem", "tiny"])
        func tcgLanes(_ lane: String) throws {
            Self.expectPass(try LibvirtFixture.boot(lane, on: LibvirtFixture.embedded))
        }

        @Test("every KVM lane boots through the embedded driver and passes on QEMU's exit code", .tags(.kvm),
              .enabled(if: Fixture.kvmUsable, "skipped: \(Fixture.kvmProblem ?? "")"), arguments: ["kvm", "kvm-hugemem"])
        func kvmLanes(_ lane: String) throws {
            Self.expectPass(try LibvirtFixture.boot(lane, on: LibvirtFixture.embedded))
        }

        @Test("a lane that types into the console gets its input through the pty", .tags(.kvm),
              .enabled(if: Fixture.kvmUsable, "skipped: \(Fixture.kvmProblem ?? "")"))
        func consoleInput() throws {
            let r = try LibvirtFixture.boot("kvm", on: LibvirtFixture.embedded)
            Self.expectPass(r)
            let events = try String(contentsOfFile: "\(r.runDirectory)/events.log", encoding: .utf8)
            #expect(events.contains("typed 4 byte(s) of console input"))
        }

        @Test("the verdict matrix through the embedded driver", arguments: MatrixCase.all)
        func matrix(_ c: MatrixCase) throws {
            let r = try LibvirtFixture.boot("tiny", on: LibvirtFixture.embedded, append: c.append,
                                            extraMarkers: c.extraMarker.map { [$0] } ?? [])
            #expect(r.verdict.kind == c.expected, "\(r.verdict.detail) — \(r.runDirectory)")
            #expect(r.verdict.evidence == c.withExitCode, "\(r.verdict.detail)")
            #expect(try LibvirtFixture.noDomainsLeft(LibvirtFixture.embedded), "no domain outlives its boot")
        }

        @Test("the run directory keeps the domain XML, the whole console, libvirt's events and the record")
        func runDirectory() throws {
            let r = try LibvirtFixture.boot("tiny", on: LibvirtFixture.embedded, append: "test.token=xyzzy")
            let log = try String(contentsOfFile: r.serialLog, encoding: .utf8)
            #expect(log.contains("test.token=xyzzy"))
            #expect(log.contains("os3: ALL OK"))
            #expect(r.consoleBytes == log.utf8.count, "every byte the guest wrote, none twice")
            let xml = try String(contentsOfFile: "\(r.runDirectory)/domain.xml", encoding: .utf8)
            #expect(xml.contains("<cmdline>\(r.kernelCommandLine)</cmdline>"))
            #expect(r.kernelCommandLine.hasSuffix(" test.token=xyzzy"))
            #expect(xml.contains("<log file='\(r.serialLog)' append='off'/>"), "QEMU writes the complete console copy")
            #expect(xml.contains("<name>\(r.domain ?? "?")</name>"))
            #expect(r.domain?.hasPrefix("os3-tiny-\(getpid())-") == true)
            #expect(r.argv.isEmpty, "domain.xml, not argv.txt, says what ran")
            let events = try String(contentsOfFile: "\(r.runDirectory)/events.log", encoding: .utf8)
            #expect(events.contains("qemu: exited: exited(33)"))
            #expect(events.contains("domain created paused"))
            #expect(FileManager.default.fileExists(atPath: "\(r.runDirectory)/qemu.log"))
            let saved = try JSONDecoder().decode(RunRecord.self, from: Data(contentsOf: URL(fileURLWithPath: "\(r.runDirectory)/result.json")))
            #expect(saved == r)
        }
    }
}
