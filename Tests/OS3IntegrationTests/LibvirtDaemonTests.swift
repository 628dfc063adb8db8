import Foundation
import Testing
import OS3Core
import OS3Libvirt
import OS3Runner

extension LibvirtTests {
    @Suite("a local libvirtd on a private socket", .enabled(if: TestLibvirtd.unavailable == nil, "skipped: \(TestLibvirtd.unavailable ?? "")"))
    struct LocalDaemon {
        @Test("a lane boots through libvirtd and passes on the final sentinel plus libvirt's STOPPED event")
        func tiny() throws {
            let daemon = try LibvirtFixture.local()
            let r = try LibvirtFixture.boot("tiny", on: LibvirtFixture.backend(daemon.uri))
            #expect(r.verdict.kind == .pass, "\(r.verdict.detail) — \(r.runDirectory)\n\(daemon.log)")
            #expect(r.end == nil, "libvirtd's QEMU is not os3ctl's child: no exit status")
            #expect(r.verdict.evidence == .sentinelAndLifecycle)
            #expect(r.lifecycle == .emulatorExited)
            #expect(r.verdict.detail.contains("no exit code"), "the output says which evidence decided")
            // Same host: the kernel is booted where it is, no upload.
            let xml = try String(contentsOfFile: "\(r.runDirectory)/domain.xml", encoding: .utf8)
            #expect(xml.contains("<kernel>\(try Fixture.kernelImage())</kernel>"))
            #expect(try LibvirtFixture.noDomainsLeft(LibvirtFixture.backend(daemon.uri)))
        }

        @Test("KVM lanes boot through libvirtd, kvm typing into the console too", .tags(.kvm),
              .enabled(if: Fixture.kvmUsable, "skipped: \(Fixture.kvmProblem ?? "")"), arguments: ["kvm", "kvm-hugemem"])
        func kvm(_ lane: String) throws {
            let daemon = try LibvirtFixture.local()
            let r = try LibvirtFixture.boot(lane, on: LibvirtFixture.backend(daemon.uri))
            #expect(r.verdict.kind == .pass, "\(r.verdict.detail) — \(r.runDirectory)")
            #expect(r.verdict.evidence == .sentinelAndLifecycle)
        }
    }

    @Suite("a remote libvirtd over TCP on a loopback address (a host that cannot see os3ctl's files)",
           .enabled(if: TestLibvirtd.unavailable == nil, "skipped: \(TestLibvirtd.unavailable ?? "")"))
    struct RemoteDaemon {
        @Test("the kernel image is uploaded into the remote host's storage pool, intact, and boots from there")
        func upload() throws {
            let daemon = try LibvirtFixture.remote()
            let kernel = try Fixture.kernelImage()
            // The remote daemon really cannot read the image where os3ctl has it.
            let daemonPid = try #require(daemon.namespacePids.first { pid in
                (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8))?.hasPrefix("libvirtd") == true
            })
            #expect(!FileManager.default.fileExists(atPath: "/proc/\(daemonPid)/root\(kernel)"))
            let r = try LibvirtFixture.boot("tiny", on: LibvirtFixture.backend(daemon.uri))
            #expect(r.verdict.kind == .pass, "\(r.verdict.detail) — \(r.runDirectory)\n\(daemon.log)")
            #expect(r.verdict.evidence == .sentinelAndLifecycle)
            let xml = try String(contentsOfFile: "\(r.runDirectory)/domain.xml", encoding: .utf8)
            let remotePath = try #require(xml.split(separator: "\n").first { $0.contains("<kernel>") }
                .map { $0.replacingOccurrences(of: "<kernel>", with: "").replacingOccurrences(of: "</kernel>", with: "").trimmingCharacters(in: .whitespaces) })
            #expect(remotePath.hasPrefix("/var/lib/libvirt/images/os3ctl/os3-"))
            let events = try String(contentsOfFile: "\(r.runDirectory)/events.log", encoding: .utf8)
            #expect(events.contains("uploaded the kernel") || events.contains("kernel already on the host"))
            // The bytes on the remote host are the image's.
            let copy = try Data(contentsOf: URL(fileURLWithPath: "/proc/\(daemonPid)/root\(remotePath)"))
            #expect(copy == (try Data(contentsOf: URL(fileURLWithPath: kernel))))
        }

        @Test("the verdict matrix through a remote libvirtd (no exit code: sentinel and lifecycle events)", arguments: MatrixCase.all)
        func matrix(_ c: MatrixCase) throws {
            let daemon = try LibvirtFixture.remote()
            let backend = LibvirtFixture.backend(daemon.uri)
            let r = try LibvirtFixture.boot("tiny", on: backend, append: c.append, extraMarkers: c.extraMarker.map { [$0] } ?? [])
            #expect(r.verdict.kind == c.expected, "\(r.verdict.detail) — \(r.runDirectory)")
            #expect(r.verdict.evidence == c.withoutExitCode, "\(r.verdict.detail)")
            #expect(r.end == nil)
            #expect(try LibvirtFixture.noDomainsLeft(backend), "no domain outlives its boot")
        }

        @Test("a lane that types into the console is skipped on a remote host, and says why")
        func consoleInputSkipped() throws {
            let daemon = try LibvirtFixture.remote()
            let r = try LibvirtFixture.boot("kvm", on: LibvirtFixture.backend(daemon.uri))
            #expect(r.verdict.kind == .skipped)
            #expect(r.verdict.detail.contains("console-input"), "\(r.verdict.detail)")
        }

        @Test("one pool over two hypervisors: boots are spread over both and all pass")
        func pool() throws {
            let pool = BackendPool([LibvirtFixture.backend(try LibvirtFixture.local().uri), LibvirtFixture.backend(try LibvirtFixture.remote().uri)])
            let records = ResultsBox()
            DispatchQueue.concurrentPerform(iterations: 4) { _ in
                records.add(Result { try LibvirtFixture.boot("tiny", on: pool) })
            }
            let all = try records.results.map { try $0.get() }
            #expect(all.count == 4)
            for r in all { #expect(r.verdict.kind == .pass, "\(r.verdict.detail) — \(r.runDirectory)") }
            #expect(Set(all.compactMap(\.backend)).count == 2, "both hypervisors booted: \(all.compactMap(\.backend))")
            #expect(pool.inFlight == [0, 0])
        }
    }
}

final class ResultsBox: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var results: [Result<RunRecord, Error>] = []
    func add(_ r: Result<RunRecord, Error>) { lock.lock(); results.append(r); lock.unlock() }
}
