import Testing
@testable import OS3Commands

/// The replay line of a stress run names every option that changes what the boot does (issue 17:
/// it once dropped --timeout and --state-dir). Run for real in StressTests.replayReproduces.
@Suite("The replay line of a stress run")
struct StressReplayTests {
    static let base = StressReplay(project: "/p", state: "/s t", lane: "kvm", kernel: "/k/os3.elf", qemu: "/q/qemu", backend: nil,
                                   connect: [], timeout: 2.5, hogs: 3, load: "vm", append: "inject.flake=0.4")

    @Test("a loaded run: project, state directory, lane, kernel, QEMU, timeout, load and the seed after the user's append")
    func everything() {
        #expect(Self.base.argv(seed: 42, underLoad: true, host: "qemu") == [
            "os3ctl", "boot", "--project", "/p", "--state-dir", "/s t", "--lane", "kvm", "--kernel", "/k/os3.elf", "--qemu", "/q/qemu",
            "--timeout", "2.5", "--hog", "3", "--load", "vm", "--append", "inject.flake=0.4 os3.seed=42",
        ])
        #expect(Self.base.command(seed: 42, underLoad: true, host: "qemu").contains("--state-dir '/s t'"))
    }

    @Test("an idle run of --compare-idle is replayed without the load; no timeout or append means none in the line")
    func idle() {
        var r = Self.base
        r.timeout = nil
        r.append = ""
        r.kernel = nil
        r.qemu = nil
        #expect(r.argv(seed: 7, underLoad: false, host: nil) == ["os3ctl", "boot", "--project", "/p", "--state-dir", "/s t", "--lane", "kvm", "--append", "os3.seed=7"])
    }

    @Test("with a pool of hypervisors the replay boots on the member the run went to; one --connect is kept as given")
    func pool() {
        var r = Self.base
        r.backend = .libvirt
        r.connect = ["qemu+tcp://a/system", "qemu+tcp://b/system"]
        let argv = r.argv(seed: 1, underLoad: true, host: "libvirt qemu+tcp://b/system")
        #expect(argv.contains("--backend") && argv.filter { $0 == "--connect" }.count == 1)
        #expect(argv[argv.firstIndex(of: "--connect")! + 1] == "qemu+tcp://b/system")
        // A host the pool does not name (an older record): the whole pool, as given.
        #expect(r.argv(seed: 1, underLoad: true, host: "qemu").filter { $0 == "--connect" }.count == 2)
        r.connect = ["qemu:///system"]
        let one = r.argv(seed: 1, underLoad: true, host: "libvirt qemu:///system")
        #expect(one.filter { $0 == "--connect" }.count == 1 && one[one.firstIndex(of: "--connect")! + 1] == "qemu:///system")
    }
}
