import Testing
@testable import OS3Core

/// `arch`, `qemu-binary` and `[boot]` in lane files: what they parse to, and every refusal with its
/// line and a fix.
@Suite("Lane files: what a lane boots and how")
struct BootLaneParsingTests {
    /// A lane without machine and cpu (the architecture's defaults apply off x86_64); `extra` goes
    /// after `markers` (line 4 on), `boot` into a [boot] table (its first key on line 9).
    static func text(arch: String? = nil, machine: String? = nil, cpu: String? = nil, extra: String = "", boot: String? = nil) -> String {
        var t = """
        accelerator = "tcg"
        memory = "128M"
        cpus = 1
        markers = ["boot"]

        """
        t = (arch.map { "arch = \"\($0)\"\n" } ?? "") + (machine.map { "machine = \"\($0)\"\n" } ?? "") + (cpu.map { "cpu = \"\($0)\"\n" } ?? "") + t
        t += extra
        t += "[timeouts]\ntotal = 10\nidle = 5\n"
        if let boot { t += "[boot]\n" + boot + "\n" }
        return t
    }

    static func parse(_ text: String) throws -> Lane { try Lane.parse(name: "l", file: "lanes/l.toml", text: text) }

    static func error(_ text: String) -> OS3Error? {
        do { _ = try parse(text); return nil } catch { return error as? OS3Error }
    }

    /// The line of `needle` in `text` (1-based), so expectations do not count lines by hand.
    static func line(of needle: String, in text: String) -> Int? {
        text.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.contains(needle) }.map { $0 + 1 }
    }

    @Test("no arch and no [boot]: x86_64, direct kernel boot of os3ctl's kernel, isa-debug-exit (as every lane before)")
    func defaults() throws {
        let lane = try Self.parse(Self.text(machine: "q35", cpu: "qemu64"))
        #expect(lane.arch == .x86_64)
        #expect(lane.qemuBinary == nil)
        #expect(lane.binary == "qemu-system-x86_64")
        #expect(lane.boot == .kernel(image: nil, initrd: nil))
        #expect(lane.exitDevice == .isaDebugExit)
    }

    @Test("aarch64 and riscv64 default to -M virt, a 64-bit CPU, their own QEMU, and no exit device (a lane passing by poweroff)")
    func foreignDefaults() throws {
        let poweroff = "success = \"poweroff\"\n"
        let a = try Self.parse(Self.text(arch: "aarch64", extra: poweroff))
        #expect((a.machine, a.cpuModel, a.binary, a.exitDevice) == ("virt", "cortex-a57", "qemu-system-aarch64", .none))
        let r = try Self.parse(Self.text(arch: "riscv64", machine: "virt", cpu: "rv64,h=on", extra: poweroff))
        #expect((r.machine, r.cpuModel, r.binary, r.exitDevice) == ("virt", "rv64,h=on", "qemu-system-riscv64", .none))
    }

    @Test("x86_64 still requires machine and cpu: there is no one right default")
    func x86NeedsMachine() throws {
        let e = try #require(Self.error(Self.text(cpu: "qemu64")))
        #expect(e.message.contains("missing required key 'machine'"))
    }

    @Test("qemu-binary overrides the architecture's binary")
    func qemuBinary() throws {
        let lane = try Self.parse(Self.text(arch: "aarch64", extra: "qemu-binary = \"/opt/qemu/bin/qemu-system-aarch64\"\nsuccess = \"poweroff\"\n"))
        #expect(lane.binary == "/opt/qemu/bin/qemu-system-aarch64")
        let text = Self.text(arch: "aarch64", extra: "qemu-binary = \"-S\"\n")
        let e = try #require(Self.error(text))
        #expect(e.line == Self.line(of: "qemu-binary", in: text))
    }

    @Test("an unknown architecture is refused at its line, listing the supported ones")
    func badArch() throws {
        let e = try #require(Self.error(Self.text(arch: "mips")))
        #expect(e.file == "lanes/l.toml")
        #expect(e.line == 1)
        #expect(e.fix == "use one of: \"x86_64\", \"aarch64\", \"riscv64\"")
    }

    @Test("[boot] kernel with initrd: image names or paths as written")
    func kernelMethod() throws {
        let lane = try Self.parse(Self.text(machine: "pc", cpu: "qemu64", extra: "append = \"console=ttyS0\"\n",
                                            boot: "kernel = \"bzImage\"\ninitrd = \"build/initramfs.cpio.gz\""))
        #expect(lane.boot == .kernel(image: "bzImage", initrd: "build/initramfs.cpio.gz"))
        #expect(lane.append == "console=ttyS0")
    }

    @Test("[boot] uefi: firmware code, variables template and ESP; a trailing slash marks a directory until resolved")
    func uefiMethod() throws {
        let lane = try Self.parse(Self.text(machine: "q35", cpu: "qemu64", extra: "success = \"poweroff\"\n", boot: """
            method = "uefi"
            firmware-code = "/usr/share/OVMF/OVMF_CODE_4M.fd"
            firmware-vars = "/usr/share/OVMF/OVMF_VARS_4M.fd"
            esp = "build/esp/"
            exit-device = "none"
            """))
        #expect(lane.boot == .uefi(code: "/usr/share/OVMF/OVMF_CODE_4M.fd", varsTemplate: "/usr/share/OVMF/OVMF_VARS_4M.fd",
                                   esp: .init(path: "build/esp/", isDirectory: true)))
        #expect(lane.exitDevice == ExitDevice.none)
    }

    @Test("[boot] disk and cdrom name their image")
    func diskAndCdrom() throws {
        #expect(try Self.parse(Self.text(machine: "pc", cpu: "qemu64", boot: "method = \"disk\"\ndisk = \"disk.img\"")).boot == .disk(image: "disk.img"))
        #expect(try Self.parse(Self.text(machine: "pc", cpu: "qemu64", boot: "method = \"cdrom\"\ncdrom = \"os.iso\"")).boot == .cdrom(image: "os.iso"))
    }

    @Test("exit devices that fit the architecture are accepted",
          arguments: [("x86_64", "isa-debug-exit"), ("x86_64", "none"), ("aarch64", "semihosting"), ("riscv64", "semihosting"),
                      ("riscv64", "sifive-test"), ("aarch64", "none")])
    func exitDevices(_ arch: String, _ device: String) throws {
        let lane = try Self.parse(Self.text(arch: arch, machine: arch == "x86_64" ? "pc" : nil, cpu: arch == "x86_64" ? "qemu64" : nil,
                                            extra: device == "none" ? "success = \"poweroff\"\n" : "",
                                            boot: "exit-device = \"\(device)\""))
        #expect(lane.exitDevice.rawValue == device)
    }

    @Test("exit-device = \"none\" with an exit code to wait for is accepted only when the lane's own qemu-args add the device")
    func noExitDeviceWithOwnQemuArgs() throws {
        let lane = try Self.parse(Self.text(machine: "pc", cpu: "qemu64",
                                            extra: "qemu-args = [\"-device\", \"isa-debug-exit,iobase=0x501\"]\n",
                                            boot: "exit-device = \"none\""))
        #expect(lane.exitDevice == ExitDevice.none)
        #expect(lane.successExitCode == 33)
    }

    struct Refusal: Sendable, CustomTestStringConvertible {
        let text: String
        let key: String      // the line the error must point at
        let message: String
        let fix: String
        var testDescription: String { message }
    }

    static let refusals: [Refusal] = [
        Refusal(text: text(arch: "aarch64", boot: "exit-device = \"isa-debug-exit\""), key: "exit-device",
                message: "exit device \"isa-debug-exit\" does not exist on aarch64", fix: "use one of: \"semihosting\", \"none\""),
        Refusal(text: text(machine: "pc", cpu: "qemu64", boot: "exit-device = \"semihosting\""), key: "exit-device",
                message: "exit device \"semihosting\" does not exist on x86_64", fix: "use one of: \"isa-debug-exit\", \"none\""),
        Refusal(text: text(arch: "riscv64", machine: "spike", boot: "exit-device = \"sifive-test\""), key: "exit-device",
                message: "sifive-test is part of the riscv64 \"virt\" machine", fix: "use machine = \"virt\""),
        Refusal(text: text(machine: "pc", cpu: "qemu64", boot: "exit-device = \"none\""), key: "exit-device",
                message: "QEMU cannot exit with the success exit code (33, the default), so this lane could never pass",
                fix: "write success = \"poweroff\""),
        Refusal(text: text(arch: "aarch64", extra: "success-exit = 7\n", boot: "exit-device = \"none\""), key: "exit-device",
                message: "QEMU cannot exit with the success exit code (success-exit)", fix: "or use one of: \"semihosting\""),
        Refusal(text: text(arch: "riscv64"), key: "arch",
                message: "on riscv64 QEMU gets no exit device unless the lane names one", fix: "add [boot] exit-device = \"semihosting\" or \"sifive-test\""),
        Refusal(text: text(machine: "pc", cpu: "qemu64", boot: "exit-device = \"debugcon\""), key: "exit-device",
                message: "exit device 'debugcon' is not supported", fix: "use one of: \"isa-debug-exit\", \"none\" (on x86_64)"),
        Refusal(text: text(machine: "q35", cpu: "qemu64", boot: "method = \"uefi\"\nesp = \"esp\""), key: "[boot]",
                message: "boot method \"uefi\" needs the firmware's code", fix: "add firmware-code = "),
        Refusal(text: text(machine: "pc", cpu: "qemu64", boot: "method = \"cdrom\""), key: "[boot]",
                message: "boot method \"cdrom\" needs the ISO image", fix: "add cdrom = "),
        Refusal(text: text(machine: "pc", cpu: "qemu64", boot: "method = \"disk\""), key: "[boot]",
                message: "boot method \"disk\" needs the disk image", fix: "add disk = "),
        Refusal(text: text(arch: "aarch64", boot: "method = \"cdrom\"\ncdrom = \"os.iso\""), key: "method = \"cdrom\"",
                message: "boot method \"cdrom\" is a BIOS boot, which aarch64 does not have", fix: "method = \"uefi\""),
        Refusal(text: text(machine: "pc", cpu: "qemu64", boot: "method = \"pxe\""), key: "method",
                message: "boot method 'pxe' is not supported", fix: "use one of: \"kernel\", \"uefi\", \"disk\", \"cdrom\""),
        Refusal(text: text(machine: "pc", cpu: "qemu64", boot: "method = \"cdrom\"\ncdrom = \"os.iso\"\ninitrd = \"initrd\""), key: "initrd",
                message: "'initrd' does nothing with boot method \"cdrom\"", fix: "set method = \"kernel\""),
        Refusal(text: text(machine: "pc", cpu: "qemu64", boot: "disk = \"disk.img\""), key: "disk = ",
                message: "'disk' does nothing with boot method \"kernel\"", fix: "set method = \"disk\""),
        Refusal(text: text(machine: "pc", cpu: "qemu64", extra: "append = \"quiet\"\n", boot: "method = \"disk\"\ndisk = \"d.img\""), key: "append",
                message: "'append' is a kernel command line, which boot method \"disk\" does not pass", fix: "remove it"),
        Refusal(text: text(machine: "q35", cpu: "qemu64", extra: "firmware = \"/usr/share/qemu/qboot.rom\"\n",
                           boot: "method = \"uefi\"\nfirmware-code = \"/c.fd\""), key: "firmware = ",
                message: "'firmware' (-bios) and boot method \"uefi\" (pflash) are two firmwares", fix: "remove firmware"),
        Refusal(text: text(machine: "pc", cpu: "qemu64", boot: "kernal = \"bzImage\""), key: "kernal",
                message: "unknown key 'kernal' in [boot]", fix: "did you mean 'kernel'?"),
        Refusal(text: text(machine: "pc", cpu: "qemu64", boot: "kernel = \"\""), key: "kernel = ",
                message: "'kernel' is empty", fix: "name an image"),
        Refusal(text: text(machine: "pc", cpu: "qemu64", extra: "boot = \"cdrom\"\n"), key: "boot = ",
                message: "'boot' must be a table", fix: "[boot] section"),
    ]

    @Test("what cannot boot is refused with the file, the line and a fix", arguments: refusals)
    func refused(_ r: Refusal) throws {
        let e = try #require(Self.error(r.text), "accepted: \(r.text)")
        #expect(e.code == .invalidLane)
        #expect(e.file == "lanes/l.toml")
        #expect(e.message.contains(r.message), "\(e.message)")
        #expect(e.fix?.contains(r.fix) == true, "\(e.fix ?? "no fix")")
        #expect(e.line != nil && e.line == Self.line(of: r.key, in: r.text), "line \(e.line.map(String.init) ?? "none")")
    }
}
