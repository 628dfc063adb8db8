import Foundation
import Testing
@testable import OS3Core

/// The lanes in lanes/ must boot exactly as they did before lanes could say what they boot and how
/// (issue 15): argv and domain XML pinned as rendered by the code before that change (argv apart
/// from the QMP socket added for QEMU's account of the end, which QemuInvocationTests pin).
@Suite("Existing lanes render as before")
struct ExistingLaneRenderingTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    static func lane(_ name: String) throws -> Lane {
        let text = try String(contentsOfFile: "\(root)/lanes/\(name).toml", encoding: .utf8)
        return try Lane.parse(name: name, file: "lanes/\(name).toml", text: text)
    }

    static func invocation(_ lane: Lane) -> QemuInvocation {
        QemuInvocation(binary: "qemu-system-x86_64", lane: lane, kernel: "/k/os3.elf", extraAppend: "os3.seed=1")
    }

    static let argv: [String: [String]] = [
        "kvm": ["qemu-system-x86_64", "-name", "os3-kvm", "-machine", "microvm", "-accel", "kvm", "-cpu", "host,-arch-capabilities", "-m", "256M", "-smp", "2", "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot", "-chardev", "stdio,id=con0,signal=off", "-serial", "chardev:con0", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04", "-kernel", "/k/os3.elf", "-append", "os3.lane=kvm os3.rx=4 os3.seed=1", "-machine", "acpi=off"],
        "kvm-hugemem": ["qemu-system-x86_64", "-name", "os3-kvm-hugemem", "-machine", "microvm", "-accel", "kvm", "-cpu", "host,-arch-capabilities", "-m", "16G", "-smp", "2", "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot", "-chardev", "stdio,id=con0,signal=off", "-serial", "chardev:con0", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04", "-kernel", "/k/os3.elf", "-append", "os3.lane=kvm-hugemem os3.seed=1", "-machine", "acpi=off"],
        "tcg-bigmem": ["qemu-system-x86_64", "-name", "os3-tcg-bigmem", "-machine", "q35", "-accel", "tcg", "-cpu", "qemu64", "-m", "6G", "-smp", "2", "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot", "-chardev", "stdio,id=con0,signal=off", "-serial", "chardev:con0", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04", "-bios", "/usr/share/qemu/qboot.rom", "-kernel", "/k/os3.elf", "-append", "os3.lane=tcg-bigmem os3.storm=4000 os3.seed=1"],
        "tiny": ["qemu-system-x86_64", "-name", "os3-tiny", "-machine", "microvm", "-accel", "tcg", "-cpu", "qemu64", "-m", "2M", "-smp", "1", "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot", "-chardev", "stdio,id=con0,signal=off", "-serial", "chardev:con0", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04", "-kernel", "/k/os3.elf", "-append", "os3.lane=tiny os3.exhaust=1 os3.storm=4000 os3.seed=1", "-machine", "acpi=off"],
    ]

    static let xml: [String: String] = [
        "kvm": """
            <domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
              <name>os3-kvm-42-abc234</name>
              <description>os3ctl lane kvm</description>
              <memory unit='MiB'>256</memory>
              <vcpu placement='static'>2</vcpu>
              <os>
                <type arch='x86_64' machine='microvm'>hvm</type>
                <kernel>/k/os3.elf</kernel>
                <cmdline>os3.lane=kvm os3.rx=4 os3.seed=1</cmdline>
              </os>
              <cpu mode='host-passthrough' check='none' migratable='off'>
                <feature policy='disable' name='arch-capabilities'/>
              </cpu>
              <on_poweroff>destroy</on_poweroff>
              <on_reboot>destroy</on_reboot>
              <on_crash>destroy</on_crash>
              <devices>
                <emulator>/usr/bin/qemu-system-x86_64</emulator>
                <controller type='usb' model='none'/>
                <serial type='pty'>
                  <log file='/run/serial.log' append='off'/>
                  <target port='0'/>
                </serial>
                <console type='pty'>
                  <target type='serial' port='0'/>
                </console>
                <memballoon model='none'/>
                <panic model='isa'>
                  <address type='isa' iobase='0x505'/>
                </panic>
              </devices>
              <qemu:commandline>
                <qemu:arg value='-device'/>
                <qemu:arg value='isa-debug-exit,iobase=0xf4,iosize=0x04'/>
                <qemu:arg value='-machine'/>
                <qemu:arg value='acpi=off'/>
              </qemu:commandline>
              <qemu:capabilities>
                <qemu:del capability='cpu-unavailable-features'/>
              </qemu:capabilities>
            </domain>

            """,
        "kvm-hugemem": """
            <domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
              <name>os3-kvm-hugemem-42-abc234</name>
              <description>os3ctl lane kvm-hugemem</description>
              <memory unit='MiB'>16384</memory>
              <vcpu placement='static'>2</vcpu>
              <os>
                <type arch='x86_64' machine='microvm'>hvm</type>
                <kernel>/k/os3.elf</kernel>
                <cmdline>os3.lane=kvm-hugemem os3.seed=1</cmdline>
              </os>
              <cpu mode='host-passthrough' check='none' migratable='off'>
                <feature policy='disable' name='arch-capabilities'/>
              </cpu>
              <on_poweroff>destroy</on_poweroff>
              <on_reboot>destroy</on_reboot>
              <on_crash>destroy</on_crash>
              <devices>
                <emulator>/usr/bin/qemu-system-x86_64</emulator>
                <controller type='usb' model='none'/>
                <serial type='pty'>
                  <log file='/run/serial.log' append='off'/>
                  <target port='0'/>
                </serial>
                <console type='pty'>
                  <target type='serial' port='0'/>
                </console>
                <memballoon model='none'/>
                <panic model='isa'>
                  <address type='isa' iobase='0x505'/>
                </panic>
              </devices>
              <qemu:commandline>
                <qemu:arg value='-device'/>
                <qemu:arg value='isa-debug-exit,iobase=0xf4,iosize=0x04'/>
                <qemu:arg value='-machine'/>
                <qemu:arg value='acpi=off'/>
              </qemu:commandline>
              <qemu:capabilities>
                <qemu:del capability='cpu-unavailable-features'/>
              </qemu:capabilities>
            </domain>

            """,
        "tcg-bigmem": """
            <domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
              <name>os3-tcg-bigmem-42-abc234</name>
              <description>os3ctl lane tcg-bigmem</description>
              <memory unit='MiB'>6144</memory>
              <vcpu placement='static'>2</vcpu>
              <os>
                <type arch='x86_64' machine='q35'>hvm</type>
                <loader type='rom'>/usr/share/qemu/qboot.rom</loader>
                <kernel>/k/os3.elf</kernel>
                <cmdline>os3.lane=tcg-bigmem os3.storm=4000 os3.seed=1</cmdline>
              </os>
              <features>
                <acpi/>
              </features>
              <cpu mode='custom' match='exact' check='none'>
                <model fallback='forbid'>qemu64</model>
              </cpu>
              <on_poweroff>destroy</on_poweroff>
              <on_reboot>destroy</on_reboot>
              <on_crash>destroy</on_crash>
              <devices>
                <emulator>/usr/bin/qemu-system-x86_64</emulator>
                <controller type='usb' model='none'/>
                <serial type='pty'>
                  <log file='/run/serial.log' append='off'/>
                  <target port='0'/>
                </serial>
                <console type='pty'>
                  <target type='serial' port='0'/>
                </console>
                <memballoon model='none'/>
                <panic model='isa'>
                  <address type='isa' iobase='0x505'/>
                </panic>
              </devices>
              <qemu:commandline>
                <qemu:arg value='-device'/>
                <qemu:arg value='isa-debug-exit,iobase=0xf4,iosize=0x04'/>
              </qemu:commandline>
              <qemu:capabilities>
                <qemu:del capability='cpu-unavailable-features'/>
              </qemu:capabilities>
            </domain>

            """,
        "tiny": """
            <domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
              <name>os3-tiny-42-abc234</name>
              <description>os3ctl lane tiny</description>
              <memory unit='MiB'>2</memory>
              <vcpu placement='static'>1</vcpu>
              <os>
                <type arch='x86_64' machine='microvm'>hvm</type>
                <kernel>/k/os3.elf</kernel>
                <cmdline>os3.lane=tiny os3.exhaust=1 os3.storm=4000 os3.seed=1</cmdline>
              </os>
              <cpu mode='custom' match='exact' check='none'>
                <model fallback='forbid'>qemu64</model>
              </cpu>
              <on_poweroff>destroy</on_poweroff>
              <on_reboot>destroy</on_reboot>
              <on_crash>destroy</on_crash>
              <devices>
                <emulator>/usr/bin/qemu-system-x86_64</emulator>
                <controller type='usb' model='none'/>
                <serial type='pty'>
                  <log file='/run/serial.log' append='off'/>
                  <target port='0'/>
                </serial>
                <console type='pty'>
                  <target type='serial' port='0'/>
                </console>
                <memballoon model='none'/>
                <panic model='isa'>
                  <address type='isa' iobase='0x505'/>
                </panic>
              </devices>
              <qemu:commandline>
                <qemu:arg value='-device'/>
                <qemu:arg value='isa-debug-exit,iobase=0xf4,iosize=0x04'/>
                <qemu:arg value='-machine'/>
                <qemu:arg value='acpi=off'/>
              </qemu:commandline>
              <qemu:capabilities>
                <qemu:del capability='cpu-unavailable-features'/>
              </qemu:capabilities>
            </domain>

            """,
    ]

    @Test("every lane in lanes/ is pinned here (a new lane file gets its own line)")
    func allPinned() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: "\(Self.root)/lanes").filter { $0.hasSuffix(".toml") }
        #expect(Set(files.map { String($0.dropLast(5)) }).isSubset(of: Set(Self.argv.keys)))
    }

    @Test("lanes/*.toml render the same QEMU argv, byte for byte", arguments: ["kvm", "kvm-hugemem", "tcg-bigmem", "tiny"])
    func sameArgv(name: String) throws {
        let lane = try Self.lane(name)
        #expect(lane.arch == .x86_64)
        #expect(lane.exitDevice == .isaDebugExit)
        #expect(lane.boot == .kernel(image: nil, initrd: nil))
        // What a human replays: argv without the QMP socket os3ctl passes in (see QemuInvocation.replayArgv).
        #expect(Self.invocation(lane).replayArgv == Self.argv[name])
    }

    @Test("lanes/*.toml render the same domain XML, byte for byte", arguments: ["kvm", "kvm-hugemem", "tcg-bigmem", "tiny"])
    func sameXML(name: String) throws {
        let lane = try Self.lane(name)
        let q = Self.invocation(lane)
        let spec = DomainSpec(name: "os3-\(name)-42-abc234", lane: lane, kernel: "/k/os3.elf", commandLine: q.kernelCommandLine,
                              emulator: "/usr/bin/qemu-system-x86_64", serialLog: "/run/serial.log")
        #expect(try DomainXML.render(spec) == Self.xml[name])
    }
}
