import Testing
@testable import OS3Core

@Suite("QEMU command rendering")
struct QemuInvocationTests {
    static func lane(firmware: String? = nil, extra: [String] = []) throws -> Lane {
        try Lane(name: "kvm", accelerator: .kvm, machine: "microvm", memory: "256M", cpus: 2, cpuModel: "host,-arch-capabilities",
                 append: "os3.lane=kvm", markerFiles: ["boot"], firmware: firmware, qemuArgs: extra)
    }

    @Test("a lane renders to the exact argv, with the serial console on stdio and isa-debug-exit")
    func argv() throws {
        let q = QemuInvocation(binary: "/usr/bin/qemu-system-x86_64", lane: try Self.lane(), kernel: "/k/os3.elf", extraAppend: "os3.panic=1")
        #expect(q.argv == [
            "/usr/bin/qemu-system-x86_64", "-name", "os3-kvm", "-machine", "microvm", "-accel", "kvm",
            "-cpu", "host,-arch-capabilities", "-m", "256M", "-smp", "2",
            "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
            "-chardev", "stdio,id=con0,signal=off", "-serial", "chardev:con0",
            "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
            "-kernel", "/k/os3.elf", "-append", "os3.lane=kvm os3.panic=1",
            "-chardev", "socket,id=qmp,fd=3", "-mon", "chardev=qmp,mode=control",
        ])
    }

    @Test("QMP on fd 3 always; -S only for a lane that passes by poweroff; a replay drops both")
    func endEvidenceArgs() throws {
        var lane = try Self.lane()
        let byExit = QemuInvocation(lane: lane, kernel: "k")
        #expect(!byExit.startsPaused)
        #expect(!byExit.argv.contains("-S"))
        #expect(byExit.replayArgv == Array(byExit.argv.dropLast(4)))
        lane.success = .poweroff
        let byPoweroff = QemuInvocation(lane: lane, kernel: "k")
        #expect(byPoweroff.startsPaused)
        #expect(Array(byPoweroff.argv.suffix(5)) == QemuInvocation.qmpArgs + ["-S"])
        #expect(!byPoweroff.replayArgv.contains("-S"))
        #expect(!byPoweroff.replayArgv.contains("socket,id=qmp,fd=3"))
        #expect(!byPoweroff.shellCommand.contains("qmp"))
    }

    @Test("firmware and extra arguments come in their places; an empty --append adds nothing")
    func firmwareAndExtras() throws {
        let q = QemuInvocation(lane: try Self.lane(firmware: "/fw/qboot.rom", extra: ["-d", "int"]), kernel: "k")
        #expect(q.kernelCommandLine == "os3.lane=kvm")
        let argv = q.argv
        let bios = try #require(argv.firstIndex(of: "-bios"))
        #expect(argv[bios + 1] == "/fw/qboot.rom")
        #expect(Array(argv.suffix(2)) == ["-d", "int"])
    }

    @Test("the copy-paste command quotes what a shell would split or expand")
    func shellQuoting() {
        #expect(shellQuote("plain-word_1.2/x=y") == "plain-word_1.2/x=y")
        #expect(shellQuote("a b") == "'a b'")
        #expect(shellQuote("it's") == "'it'\\''s'")
        #expect(shellQuote("$(rm -rf /)") == "'$(rm -rf /)'")
        #expect(shellQuote("") == "''")
    }
}
