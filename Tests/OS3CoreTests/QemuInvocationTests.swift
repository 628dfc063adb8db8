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

    @Test("QMP on fd 3 always; -S only for a lane that passes by poweroff or has no isa-debug-exit; a replay drops both")
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
        lane.success = .exitCode(33)
        lane.exitDevice = .none
        #expect(QemuInvocation(lane: lane, kernel: "k").startsPaused, "a lane without isa-debug-exit needs every event")
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

@Suite("QEMU command rendering: boot methods and architectures")
/// Compared without the QMP socket os3ctl adds to every command (`replayArgv`; pinned by the tests above).
struct BootMethodRenderingTests {
    static func lane(_ arch: Arch = .x86_64, machine: String = "q35", cpu: String = "qemu64", append: String = "",
                     boot: BootMethod, exitDevice: ExitDevice? = nil, firmware: String? = nil) throws -> Lane {
        try Lane(name: "m", accelerator: .tcg, machine: machine, memory: "512M", cpus: 1, cpuModel: cpu, append: append,
                 markerFiles: ["boot"], firmware: firmware, arch: arch, boot: boot, exitDevice: exitDevice)
    }

    /// Everything before the exit device: the same for every method.
    static func head(_ binary: String = "qemu-system-x86_64", machine: String = "q35", cpu: String = "qemu64") -> [String] {
        [binary, "-name", "os3-m", "-machine", machine, "-accel", "tcg", "-cpu", cpu, "-m", "512M", "-smp", "1",
         "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
         "-chardev", "stdio,id=con0,signal=off", "-serial", "chardev:con0"]
    }
    static let debugExit = ["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]

    @Test("kernel: -kernel, -initrd, -append (the lane's and --append's command line)")
    func kernel() throws {
        let lane = try Self.lane(machine: "pc", append: "console=ttyS0", boot: .kernel(image: nil, initrd: "/b/initrd.gz"))
        let q = QemuInvocation(lane: lane, kernel: "/b/bzImage", extraAppend: "panic=-1")
        #expect(q.replayArgv == Self.head(machine: "pc") + Self.debugExit
                + ["-kernel", "/b/bzImage", "-initrd", "/b/initrd.gz", "-append", "console=ttyS0 panic=-1"])
        #expect(!q.needsRunDirectory)
    }

    @Test("uefi: code read-only on pflash 0, the run's variables copy on pflash 1, an ESP directory as fat:rw, no -kernel")
    func uefiDirectory() throws {
        let boot = BootMethod.uefi(code: "/fw/CODE.fd", varsTemplate: "/fw/VARS.fd", esp: .init(path: "/p/esp", isDirectory: true))
        let q = QemuInvocation(lane: try Self.lane(boot: boot, exitDevice: ExitDevice.none), kernel: "/p/esp").inRunDirectory("/runs/r1")
        #expect(q.needsRunDirectory)
        #expect(q.replayArgv == Self.head() + [
            "-drive", "if=pflash,format=raw,unit=0,readonly=on,file=/fw/CODE.fd",
            "-drive", "if=pflash,format=raw,unit=1,file=/runs/r1/efivars.fd",
            "-drive", "file=fat:rw:/p/esp,format=raw",
        ])
    }

    @Test("uefi: an ESP disk image is a raw drive; before the run directory exists the copy is a placeholder; commas are doubled")
    func uefiImage() throws {
        let boot = BootMethod.uefi(code: "/fw/CODE.fd", varsTemplate: "/fw/VARS.fd", esp: .init(path: "/p/a,b.img", isDirectory: false))
        let q = QemuInvocation(lane: try Self.lane(boot: boot), kernel: "/p/a,b.img")
        #expect(Array(q.replayArgv.suffix(6)) == [
            "-drive", "if=pflash,format=raw,unit=0,readonly=on,file=/fw/CODE.fd",
            "-drive", "if=pflash,format=raw,unit=1,file=RUN_DIRECTORY/efivars.fd",
            "-drive", "file=/p/a,,b.img,format=raw",
        ])
        // No variables template: no second pflash and nothing to copy.
        let codeOnly = QemuInvocation(lane: try Self.lane(boot: .uefi(code: "/fw/C.fd", varsTemplate: nil, esp: nil)), kernel: "/fw/C.fd")
        #expect(!codeOnly.needsRunDirectory)
        #expect(Array(codeOnly.replayArgv.suffix(2)) == ["-drive", "if=pflash,format=raw,unit=0,readonly=on,file=/fw/C.fd"])
    }

    @Test("disk: the first hard disk, booted by the BIOS; firmware stays -bios")
    func disk() throws {
        let lane = try Self.lane(machine: "pc", boot: .disk(image: "/p/disk.img"), firmware: "/fw/bios.bin")
        #expect(QemuInvocation(lane: lane, kernel: "/p/disk.img").replayArgv == Self.head(machine: "pc") + Self.debugExit
                + ["-bios", "/fw/bios.bin", "-drive", "file=/p/disk.img,format=raw", "-boot", "c"])
    }

    @Test("cdrom: -cdrom and -boot d, nothing else")
    func cdrom() throws {
        let lane = try Self.lane(machine: "pc", boot: .cdrom(image: "/p/os.iso"))
        #expect(QemuInvocation(lane: lane, kernel: "/p/os.iso").replayArgv == Self.head(machine: "pc") + Self.debugExit + ["-cdrom", "/p/os.iso", "-boot", "d"])
    }

    @Test("aarch64: qemu-system-aarch64 on virt, semihosting, no isa-debug-exit")
    func aarch64() throws {
        let lane = try Self.lane(.aarch64, machine: "virt", cpu: "cortex-a57", boot: .kernel(image: nil, initrd: nil), exitDevice: .semihosting)
        #expect(QemuInvocation(binary: lane.binary, lane: lane, kernel: "/k/Image").replayArgv == Self.head("qemu-system-aarch64", machine: "virt", cpu: "cortex-a57")
                + ["-semihosting-config", "enable=on,target=native", "-kernel", "/k/Image", "-append", ""])
    }

    @Test("aarch64 UEFI: the ESP on virtio (virt has no IDE bus)")
    func aarch64UEFI() throws {
        let boot = BootMethod.uefi(code: "/fw/AAVMF_CODE.fd", varsTemplate: nil, esp: .init(path: "/p/esp.img", isDirectory: false))
        let lane = try Self.lane(.aarch64, machine: "virt", cpu: "max", boot: boot)
        #expect(QemuInvocation(binary: lane.binary, lane: lane, kernel: "").replayArgv == Self.head("qemu-system-aarch64", machine: "virt", cpu: "max")
                + ["-drive", "if=pflash,format=raw,unit=0,readonly=on,file=/fw/AAVMF_CODE.fd", "-drive", "file=/p/esp.img,format=raw,if=virtio"])
    }

    @Test("riscv64: sifive-test adds nothing (it is part of virt); a disk goes on virtio without -boot")
    func riscv64() throws {
        let lane = try Self.lane(.riscv64, machine: "virt", cpu: "rv64", boot: .kernel(image: nil, initrd: nil), exitDevice: .sifiveTest)
        #expect(QemuInvocation(binary: lane.binary, lane: lane, kernel: "/k/rv.elf").replayArgv == Self.head("qemu-system-riscv64", machine: "virt", cpu: "rv64")
                + ["-kernel", "/k/rv.elf", "-append", ""])
        let disk = try Self.lane(.riscv64, machine: "virt", cpu: "rv64", boot: .disk(image: "/p/d.img"))
        #expect(Array(QemuInvocation(lane: disk, kernel: "/p/d.img").replayArgv.suffix(2)) == ["-drive", "file=/p/d.img,format=raw,if=virtio"])
    }

    @Test("images resolve: the lane's kernel unless --kernel overrides it; the ESP's kind is asked of the file system")
    func resolving() throws {
        let resolve = { (s: String) in s.hasPrefix("/") ? s : "/root/\(s)" }
        let kernel = BootMethod.kernel(image: "bzImage", initrd: "initrd")
        #expect(kernel.resolvingImages(defaultKernel: "/built/os3.elf", resolve, isDirectory: { _ in false })
                == .kernel(image: "/root/bzImage", initrd: "/root/initrd"))
        #expect(kernel.resolvingImages(defaultKernel: "/given/k", overrideKernel: true, resolve, isDirectory: { _ in false })
                == .kernel(image: "/given/k", initrd: "/root/initrd"))
        #expect(BootMethod.kernel(image: nil, initrd: nil).resolvingImages(defaultKernel: "/built/os3.elf", resolve, isDirectory: { _ in false })
                == .kernel(image: "/built/os3.elf", initrd: nil))
        let uefi = BootMethod.uefi(code: "/fw/C.fd", varsTemplate: "fw/V.fd", esp: .init(path: "esp", isDirectory: false))
        #expect(uefi.resolvingImages(defaultKernel: "/k", resolve, isDirectory: { $0 == "/root/esp" })
                == .uefi(code: "/fw/C.fd", varsTemplate: "/root/fw/V.fd", esp: .init(path: "/root/esp", isDirectory: true)))
    }
}
