import COS3Sys
import Foundation
import Testing
import OS3Core
import OS3Libvirt
import OS3Runner

extension LibvirtFixture {
    /// A fresh state directory whose embedded root already has the capabilities cache of this
    /// process's root (a cold embedded root probes QEMU for seconds).
    static func warmState() throws -> String {
        _ = try embedded.describe()  // opens this process's embedded root and has QEMU probed (cached)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("os3-lv-state-\(UUID().uuidString.prefix(8))").path
        let from = "\(embedded.embeddedRoot ?? "\(Fixture.state.path)/libvirt")/cache/qemu/capabilities"
        let to = "\(dir)/libvirt/cache/qemu/capabilities"
        try FileManager.default.createDirectory(atPath: to, withIntermediateDirectories: true)
        for f in (try? FileManager.default.contentsOfDirectory(atPath: from)) ?? [] {
            try FileManager.default.copyItem(atPath: "\(from)/\(f)", toPath: "\(to)/\(f)")
        }
        return dir
    }

    /// Waits for a QEMU pid file under an embedded root; returns the pid.
    static func waitForQemu(root: String, timeout: Double = 20) -> Int32? {
        let deadline = Clock.now + timeout
        while Clock.now < deadline {
            if let names = try? FileManager.default.contentsOfDirectory(atPath: "\(root)/run/qemu") {
                for n in names where n.hasPrefix("os3-") && n.hasSuffix(".pid") {
                    if let text = try? String(contentsOfFile: "\(root)/run/qemu/\(n)", encoding: .utf8),
                       let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) { return pid }
                }
            }
            usleep(20_000)
        }
        return nil
    }

    /// True once `backend` lists none of os3ctl's domains (a domain that ended on its own is
    /// removed by libvirt's own threads a moment after the verdict).
    static func noDomainsLeft(_ backend: LibvirtBackend, within timeout: Double = 2) throws -> Bool {
        let deadline = Clock.now + timeout
        while Clock.now < deadline {
            if try backend.runningDomains().isEmpty { return true }
            usleep(20_000)
        }
        return try backend.runningDomains().isEmpty
    }

    static func waitGone(_ pid: Int32, timeout: Double = 10) -> Bool {
        let deadline = Clock.now + timeout
        while Clock.now < deadline {
            if !Fixture.isAlive(pid) { return true }
            usleep(20_000)
        }
        return !Fixture.isAlive(pid)
    }
}

extension LibvirtTests {
    @Suite("no domain outlives os3ctl")
    struct Lifecycle {
        /// Starts `os3ctl boot --backend libvirt` on a hanging guest as a plain child of this process
        /// (not under a supervisor of this process, which would take QEMU down by itself); returns
        /// it and its QEMU's pid once that runs.
        private static func hangingLibvirtBoot(state: String) throws -> (Process, qemu: Int32) {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: Fixture.binary)
            p.arguments = ["boot", "--lane", "tiny", "--backend", "libvirt", "--kernel", try Fixture.kernelImage(),
                           "--append", "os3.hang=1", "--timeout", "120", "--idle-timeout", "120", "--project", Fixture.root]
            p.environment = ProcessInfo.processInfo.environment.merging(["OS3_STATE_DIR": state]) { $1 }
            p.standardInput = FileHandle.nullDevice
            p.standardOutput = FileHandle.nullDevice
            let errFile = "\(state)-stderr"
            FileManager.default.createFile(atPath: errFile, contents: nil)
            p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errFile))
            try p.run()
            guard let qemu = LibvirtFixture.waitForQemu(root: "\(state)/libvirt", timeout: 60) else {
                // Not left running (with its domain) after the test.
                kill(p.processIdentifier, SIGTERM)
                p.waitUntilExit()
                throw OS3Error(.io, "no QEMU started under os3ctl within 60 s: \((try? String(contentsOfFile: errFile, encoding: .utf8)) ?? "")")
            }
            // libvirt writes the pid file before its child execs QEMU; a kill before the exec would
            // stop that child instead. Wait (bounded) for QEMU itself.
            let deadline = Date().addingTimeInterval(60)
            while !(((try? String(contentsOfFile: "/proc/\(qemu)/comm", encoding: .utf8)) ?? "").hasPrefix("qemu")) && Date() < deadline {
                usleep(10_000)
            }
            return (p, qemu)
        }

        /// "pid comm" of every child of `parent` (for messages).
        private static func childList(of parent: Int32) -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap(Int32.init).compactMap { pid in
                guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return nil }
                let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
                return fields.count > 1 && Int32(fields[1]) == parent ? String(stat[...close]) : nil
            }
        }

        /// Pids of `parent`'s children named `comm`.
        private static func children(of parent: Int32, named comm: String) -> [Int32] {
            ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap(Int32.init).filter { pid in
                guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                      let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")") else { return false }
                let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
                return stat[stat.index(after: open)..<close] == comm && fields.count > 1 && Int32(fields[1]) == parent
            }
        }

        @Test("a SIGKILLed os3ctl takes its embedded driver's QEMU along (its watchdog kills it)")
        func sigkillTakesQemu() throws {
            let state = try LibvirtFixture.warmState()
            defer { try? FileManager.default.removeItem(atPath: state) }
            // The orphaned QEMU may come to this process (a subreaper in other tests): reap it.
            let (first, qemu) = try Self.hangingLibvirtBoot(state: state)
            let reaper = Thread { var s: Int32 = 0; _ = waitpid(qemu, &s, 0) }
            reaper.start()
            kill(first.processIdentifier, SIGKILL)
            first.waitUntilExit()
            #expect(LibvirtFixture.waitGone(qemu, timeout: 20), "QEMU \(qemu) outlived the SIGKILLed os3ctl")
        }

        @Test("a domain left when os3ctl and its watchdog are both SIGKILLed is found and destroyed by the next os3ctl")
        func leftoverAfterKill() throws {
            let state = try LibvirtFixture.warmState()
            defer { try? FileManager.default.removeItem(atPath: state) }
            let kernel = try Fixture.kernelImage()
            let (first, qemu) = try Self.hangingLibvirtBoot(state: state)
            // The orphaned QEMU comes to this process, which reaps it once the next os3ctl destroys
            // it. Only now: libvirt's orphans while it starts (its QEMU probe) must not come here,
            // where nothing reaps them and libvirt would wait for them to vanish.
            _ = os3_set_child_subreaper()
            // os3ctl forks the watchdog once it has read QEMU's pid file, just after libvirt wrote it.
            var watchdogs: [Int32] = []
            let deadline = Date().addingTimeInterval(20)
            while watchdogs.isEmpty && Date() < deadline {
                watchdogs = Self.children(of: first.processIdentifier, named: "os3ctl-watch")
                if watchdogs.isEmpty { usleep(10_000) }
            }
            #expect(watchdogs.count == 1, "os3ctl watches its QEMU: \(watchdogs); os3ctl's children: \(Self.childList(of: first.processIdentifier))")
            // What nothing can clean up after: the watchdog killed first, then os3ctl.
            for w in watchdogs { kill(w, SIGKILL) }
            kill(first.processIdentifier, SIGKILL)
            first.waitUntilExit()
            #expect(Fixture.isAlive(qemu), "with its watchdog gone first, a killed os3ctl leaves its QEMU behind")
            let reaper = Thread { var s: Int32 = 0; _ = waitpid(qemu, &s, 0) }
            reaper.start()
            let second = try Fixture.os3ctl(["boot", "--lane", "tiny", "--backend", "libvirt", "--kernel", kernel], environment: ["OS3_STATE_DIR": state])
            #expect(second.status == 0, "\(second.stdout)\n\(second.stderr)")
            #expect(second.stderr.contains("destroyed leftover domain os3-tiny-\(first.processIdentifier)-"), "\(second.stderr)")
            #expect(LibvirtFixture.waitGone(qemu), "the leftover QEMU is gone")
        }

        @Test("an interrupted boot destroys its domain: exit 130 and no QEMU left")
        func interrupt() throws {
            let state = try LibvirtFixture.warmState()
            defer { try? FileManager.default.removeItem(atPath: state) }
            let child = try ChildProcess.spawn([Fixture.binary, "boot", "--lane", "tiny", "--backend", "libvirt", "--kernel", try Fixture.kernelImage(),
                                                "--append", "os3.hang=1", "--timeout", "120", "--idle-timeout", "120", "--project", Fixture.root],
                                               stdin: -1, stdout: -1, stderr: -1, environment: ProcessInfo.processInfo.environment.merging(["OS3_STATE_DIR": state]) { $1 })
            let qemu = try #require(LibvirtFixture.waitForQemu(root: "\(state)/libvirt"))
            usleep(300_000)
            kill(child.pid, SIGINT)
            let end = child.wait(upTo: 20)
            #expect(end == .exited(130), "\(String(describing: end))")
            #expect(LibvirtFixture.waitGone(qemu, timeout: 5), "the domain's QEMU is gone when os3ctl returns")
        }
    }

    @Suite("command line")
    struct CommandLine {
        @Test("boot --backend libvirt --json records the backend, the domain and the evidence")
        func bootJSON() throws {
            let r = try Fixture.os3ctl(["boot", "--lane", "tiny", "--backend", "libvirt", "--kernel", try Fixture.kernelImage(), "--json"])
            #expect(r.status == 0, "\(r.stderr)")
            let record = try JSONDecoder().decode(RunRecord.self, from: Data(r.stdout.utf8))
            #expect(record.verdict.kind == .pass)
            #expect(record.verdict.evidence == .exitCode)
            #expect(record.backend?.hasPrefix("libvirt qemu:///embed?root=") == true)
            #expect(record.domain?.hasPrefix("os3-tiny-") == true)
            #expect(r.stdout.contains("\"evidence\" : \"exit-code\""))
        }

        @Test("gate --connect boots every lane through libvirtd and the table says why each passed",
              .enabled(if: TestLibvirtd.unavailable == nil, "skipped: \(TestLibvirtd.unavailable ?? "")"))
        func gateThroughDaemon() throws {
            let daemon = try LibvirtFixture.local()
            let r = try Fixture.os3ctl(["gate", "--connect", daemon.uri, "--lane", "tiny", "--lane", "tcg-bigmem", "--kernel", try Fixture.kernelImage(),
                                        "--skip-host-tests"])
            #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
            #expect(r.stdout.contains("gate: PASS (2/2"))
            #expect(r.stdout.contains("final sentinel 'done'"), "\(r.stdout)")
        }

        @Test("--connect with --backend qemu is refused before any work")
        func connectNeedsLibvirt() throws {
            let r = try Fixture.os3ctl(["boot", "--backend", "qemu", "--connect", "qemu:///system"])
            #expect(r.status != 0)
            #expect(r.stderr.contains("--connect"))
        }

        @Test("doctor checks libvirt: the library, its QEMU driver, the account, the embedded driver and --connect",
              .enabled(if: TestLibvirtd.unavailable == nil, "skipped: \(TestLibvirtd.unavailable ?? "")"))
        func doctor() throws {
            let daemon = try LibvirtFixture.remote()
            let r = try Fixture.os3ctl(["doctor", "--connect", daemon.uri])
            for name in ["libvirt ", "libvirt driver", "libvirt account", "libvirt embed", "libvirt connect"] {
                #expect(r.stdout.contains("ok   \(name)"), "\(name): \(r.stdout)")
            }
            #expect(r.stdout.contains(daemon.uri))
        }
    }
}
