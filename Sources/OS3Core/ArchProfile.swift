/// A guest architecture a lane can boot (`arch` in a lane file).
public enum Arch: String, Sendable, Codable, CaseIterable {
    case x86_64, aarch64, riscv64

    /// What QEMU and libvirt know about booting this architecture.
    public var profile: ArchProfile { ArchProfile.of(self) }
}

/// How an architecture is booted: QEMU's system binary, the machine and CPU a lane gets when it
/// names none, the serial console, and the names libvirt uses. A pure value (issue 15): lanes say
/// what they boot, this says how QEMU spells it.
public struct ArchProfile: Sendable, Equatable {
    public var arch: Arch
    /// QEMU's system emulator for the architecture, looked up in PATH (`qemu-binary` or `--qemu` override it).
    public var binary: String
    /// The Debian package that installs `binary` (for messages).
    public var package: String
    /// The machine a lane that names none boots on; nil: the lane must name one (x86_64 has several
    /// that all matter: microvm, pc, q35).
    public var defaultMachine: String?
    /// The CPU model a lane that names none gets; nil: the lane must name one. QEMU's own default
    /// for aarch64 `virt` is a 32-bit cortex-a15.
    public var defaultCPU: String?
    /// `<type arch=…>` in libvirt's domain XML.
    public var libvirtArch: String
    /// The `-drive if=` for a disk image or ESP: nil keeps the machine's own default (IDE on pc,
    /// AHCI on q35, which SeaBIOS and OVMF boot from); the `virt` machines have no IDE bus.
    public var diskInterface: String?
    /// BIOS boot from a CD-ROM (`-cdrom`, `-boot d`) exists only on the PC machines.
    public var hasBIOSBootOrder: Bool

    /// The serial console: QEMU's stdout (os3ctl reads it), the first serial port of any machine
    /// (16550 on PC and riscv virt, PL011 on arm virt). signal=off: a Ctrl-C reaches os3ctl, not the chardev.
    public static let consoleArguments = ["-chardev", "stdio,id=con0,signal=off", "-serial", "chardev:con0"]

    public static func of(_ arch: Arch) -> ArchProfile {
        switch arch {
        case .x86_64:
            ArchProfile(arch: arch, binary: "qemu-system-x86_64", package: "qemu-system-x86", defaultMachine: nil, defaultCPU: nil,
                        libvirtArch: "x86_64", diskInterface: nil, hasBIOSBootOrder: true)
        case .aarch64:
            ArchProfile(arch: arch, binary: "qemu-system-aarch64", package: "qemu-system-arm", defaultMachine: "virt",
                        defaultCPU: "cortex-a57", libvirtArch: "aarch64", diskInterface: "virtio", hasBIOSBootOrder: false)
        case .riscv64:
            ArchProfile(arch: arch, binary: "qemu-system-riscv64", package: "qemu-system-misc", defaultMachine: "virt",
                        defaultCPU: "rv64", libvirtArch: "riscv64", diskInterface: "virtio", hasBIOSBootOrder: false)
        }
    }

    /// The exit devices that exist on this architecture (`none` always does).
    public var exitDevices: [ExitDevice] {
        switch arch {
        case .x86_64: [.isaDebugExit, .none]
        case .aarch64: [.semihosting, .none]
        case .riscv64: [.semihosting, .sifiveTest, .none]
        }
    }
}

/// How a guest makes QEMU exit with a code of its choosing (`exit-device` in a lane file).
public enum ExitDevice: String, Sendable, Codable, CaseIterable {
    /// x86: writing v to I/O port 0xf4 makes QEMU exit with (v << 1) | 1 (0x10 -> 33).
    case isaDebugExit = "isa-debug-exit"
    /// Arm and RISC-V: the semihosting SYS_EXIT call ends QEMU with the guest's code.
    case semihosting
    /// riscv64 `virt`: the sifive_test device at 0x100000 is part of the machine (0x5555 exits 0,
    /// 0x3333 | code << 16 exits with code); nothing to add to QEMU's argv.
    case sifiveTest = "sifive-test"
    /// No device: the guest ends by powering off, resetting, or not at all.
    case none

    /// The default when a lane names none: isa-debug-exit on x86_64 when the lane succeeds by an
    /// exit code (the os3 kernel's lanes), none otherwise (a foreign QEMU has no such device).
    public static func defaultDevice(arch: Arch, succeedsByExitCode: Bool) -> ExitDevice {
        arch == .x86_64 && succeedsByExitCode ? .isaDebugExit : .none
    }

    /// What QEMU is given for it.
    public var qemuArguments: [String] {
        switch self {
        case .isaDebugExit: ["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]
        case .semihosting: ["-semihosting-config", "enable=on,target=native"]
        case .sifiveTest, .none: []
        }
    }

    /// Whether the guest can choose QEMU's exit code with it.
    public var setsExitCode: Bool { self != .none }
}
