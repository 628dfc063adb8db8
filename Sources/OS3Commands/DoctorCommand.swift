import ArgumentParser
import FoundationEssentials
import Glibc
import OS3Core
import OS3Libvirt
import OS3Runner

struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check QEMU, KVM and the toolchain, and say exactly what to install.",
        discussion: """
        Exits 4 when something a boot needs is missing (QEMU, the toolchain); KVM, the qboot \
        firmware and libvirt are optional, reported as warnings. The libvirt check opens the \
        in-process driver under the state directory (--state-dir).

        EXAMPLES:
          os3ctl doctor
          os3ctl doctor --connect qemu:///system
        """)

    @OptionGroup var options: ProjectOptions
    @OptionGroup var view: ViewOptions

    @Option(help: ArgumentHelp("The QEMU binary to check.", valueName: "path"))
    var qemu: String = HostProbe.defaultQemu

    @Option(name: .customLong("connect"), help: ArgumentHelp("Also check that this libvirt URI answers (repeatable).", valueName: "uri"))
    var connect: [String] = []

    struct Check {
        var name: String
        var ok: Bool
        var detail: String
        var fix: String?
        var required = true
    }

    func run() throws {
        view.apply()
        var checks: [Check] = []
        if let q = resolveExecutable(qemu) {
            checks.append(Check(name: "qemu", ok: true, detail: "\(q) (\(firstLine(of: [q, "--version"]) ?? "version unknown"))"))
        } else {
            checks.append(Check(name: "qemu", ok: false, detail: "\(qemu) not found",
                                fix: "apt-get install -y qemu-system-x86   (Debian/Ubuntu)"))
        }
        let fw = "/usr/share/qemu/qboot.rom"
        checks.append(Check(name: "qboot firmware", ok: FileManager.default.fileExists(atPath: fw),
                            detail: FileManager.default.fileExists(atPath: fw) ? fw : "\(fw) missing (q35 lanes boot in ~0.1 s with it, ~4 s without under KVM)",
                            fix: "apt-get install -y qemu-system-x86", required: false))
        if let why = HostProbe.kvmProblem() {
            checks.append(Check(name: "kvm", ok: false, detail: why,
                                fix: "enable virtualisation (or nested virtualisation) for this machine; KVM lanes are skipped without it",
                                required: false))
        } else {
            checks.append(Check(name: "kvm", ok: true, detail: "/dev/kvm usable (API 12)"))
        }
        do {
            let t = try Toolchain.locate()
            checks.append(Check(name: "swiftc", ok: true, detail: "\(t.swiftc) (\(firstLine(of: [t.swiftc, "--version"]) ?? "?"))"))
            checks.append(Check(name: "clang + ld.lld", ok: true, detail: "\(t.clang), \(t.lld)"))
            let embedded = FileManager.default.fileExists(atPath: t.embeddedStdlib)
            checks.append(Check(name: "embedded stdlib", ok: embedded, detail: embedded ? t.embeddedStdlib : "\(t.embeddedStdlib) missing",
                                fix: "install a swift.org toolchain (6.3 or later), which ships the Embedded Swift stdlib"))
        } catch let e as OS3Error {
            checks.append(Check(name: "swift toolchain", ok: false, detail: e.message, fix: e.fix))
        }
        checks += libvirtChecks()
        let located: Project?
        do {
            located = try options.locate()
            checks.append(Check(name: "project", ok: true, detail: "\(located!.root) (\(ProjectFile.fileName) parses)"))
        } catch let e as OS3Error {
            located = nil
            checks.append(Check(name: "project", ok: false, detail: e.description, fix: e.fix, required: false))
        }
        if let project = located {
            do {
                let lanes = try project.loadLanes()
                for lane in lanes { _ = try project.markers(for: lane) }
                checks.append(Check(name: "lanes", ok: true, detail: "\(lanes.count) lane files and their marker files parse"))
            } catch let e as OS3Error {
                checks.append(Check(name: "lanes", ok: false, detail: e.description, fix: e.fix))
            }
        }
        for c in checks {
            printOut("\(c.ok ? "ok  " : (c.required ? "FAIL" : "warn")) \(c.name.padding(to: 16)) \(c.detail)")
            if !c.ok, let fix = c.fix { printOut("     fix: \(fix)") }
        }
        if checks.contains(where: { !$0.ok && $0.required }) { throw ExitCode(4) }
    }

    /// The libvirt backend (optional: only `--backend libvirt` needs it): the library, the QEMU
    /// driver, the account Debian's libvirt insists on, the embedded driver, and each --connect.
    private func libvirtChecks() -> [Check] {
        var checks: [Check] = []
        let setup = "bash .ci/setup (apt-get install -y libvirt-dev libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients)"
        // Constructed first: it points libvirt's own log at the state directory before libvirt starts.
        let embedded = LibvirtBackend(state: options.state, log: { _ in })
        checks.append(Check(name: "libvirt", ok: true, detail: "library \(LibvirtBackend.libraryVersion) (--backend libvirt)", required: false))
        let driver = ["/usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_qemu.so",
                      "/usr/lib64/libvirt/connection-driver/libvirt_driver_qemu.so",
                      "/usr/lib/libvirt/connection-driver/libvirt_driver_qemu.so"].first { FileManager.default.fileExists(atPath: $0) }
        checks.append(Check(name: "libvirt driver", ok: driver != nil,
                            detail: driver ?? "libvirt's QEMU driver module is missing (the embedded driver and libvirtd need it)",
                            fix: setup, required: false))
        if getpwnam("libvirt-qemu") == nil {
            checks.append(Check(name: "libvirt account", ok: false, detail: "user libvirt-qemu missing: Debian's libvirt fails with \"Failed to parse user 'libvirt-qemu'\"",
                                fix: "groupadd --system libvirt-qemu; useradd --system --gid libvirt-qemu --home-dir /var/lib/libvirt --no-create-home --shell /usr/sbin/nologin libvirt-qemu   (bash .ci/setup does it)",
                                required: false))
        } else {
            checks.append(Check(name: "libvirt account", ok: true, detail: "user libvirt-qemu exists", required: false))
        }
        if driver != nil {
            let start = Clock.now
            do {
                try embedded.connect()
                let (_, kvm) = try embedded.describe()
                checks.append(Check(name: "libvirt embed", ok: true,
                                    detail: "\(embedded.uri) opens in \(Reports.seconds(Clock.now - start)) (no daemon); KVM through libvirt: \(kvm == nil ? "yes" : "no (\(kvm!))")",
                                    required: false))
            } catch {
                checks.append(Check(name: "libvirt embed", ok: false, detail: "\(embedded.uri): \(error)", fix: setup, required: false))
            }
        }
        for uri in connect {
            switch LibvirtBackend.probe(uri, state: options.state) {
            case .success(let what):
                checks.append(Check(name: "libvirt connect", ok: true, detail: "\(uri): \(what)", required: false))
            case .failure(let e):
                checks.append(Check(name: "libvirt connect", ok: false, detail: e.message, fix: e.fix, required: false))
            }
        }
        return checks
    }

    private func firstLine(of argv: [String]) -> String? {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { return nil }
        defer { close(fds[0]) }
        guard let child = try? ChildProcess.spawn(argv, stdout: fds[1], stderr: fds[1]) else { close(fds[1]); return nil }
        close(fds[1])
        var out = [UInt8]()
        var buf = [UInt8](repeating: 0, count: 4096)
        // A tool that hangs (or an interrupt) must not hold doctor: 10 s, then it is stopped.
        let cancellation = Cancellation.after(10)
        while true {
            guard let n = try? buf.withUnsafeMutableBytes({ try cancellation.read(fds[0], into: $0) }) else {
                child.terminate()
                return nil
            }
            if n <= 0 { break }
            out += buf[0..<n]
        }
        _ = child.wait()
        return String(decoding: out, as: UTF8.self).split(separator: "\n").first.map(String.init)
    }
}
