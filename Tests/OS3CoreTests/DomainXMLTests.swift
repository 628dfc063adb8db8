import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
@testable import OS3Core

@Suite("Libvirt domain XML")
struct DomainXMLTests {
    static func lane(_ name: String = "kvm", accel: Lane.Accelerator = .kvm, machine: String = "microvm", memory: String = "256M",
                     cpus: Int = 2, cpu: String = "host,-arch-capabilities", firmware: String? = nil, qemuArgs: [String] = []) throws -> Lane {
        try Lane(name: name, accelerator: accel, machine: machine, memory: memory, cpus: cpus, cpuModel: cpu,
                 markerFiles: ["boot"], firmware: firmware, qemuArgs: qemuArgs)
    }

    static func spec(_ lane: Lane, cmdline: String = "os3.lane=kvm", kernel: String = "/k/os3.elf", owner: DomainOwner? = nil) -> DomainSpec {
        DomainSpec(name: DomainSpec.name(lane: lane.name, pid: 42, suffix: "abc234"), lane: lane, kernel: kernel,
                   commandLine: cmdline, owner: owner)
    }

    /// Parses the XML (it must be well formed) and returns the document.
    static func parse(_ xml: String) throws -> XMLDocument {
        try XMLDocument(xmlString: xml, options: [])
    }

    static func values(_ doc: XMLDocument, _ xpath: String) throws -> [String] {
        try doc.nodes(forXPath: xpath).compactMap { $0.stringValue }
    }

    @Test("a KVM lane becomes a kvm domain with the lane's memory, CPUs, CPU model and machine")
    func kvmLane() throws {
        let doc = try Self.parse(try DomainXML.render(Self.spec(try Self.lane(memory: "16G"))))
        #expect(try Self.values(doc, "/domain/@type") == ["kvm"])
        #expect(try Self.values(doc, "/domain/name") == ["os3-kvm-42-abc234"])
        #expect(try Self.values(doc, "/domain/memory") == ["16384"])
        #expect(try Self.values(doc, "/domain/memory/@unit") == ["MiB"])
        #expect(try Self.values(doc, "/domain/vcpu") == ["2"])
        #expect(try Self.values(doc, "/domain/os/type/@machine") == ["microvm"])
        #expect(try Self.values(doc, "/domain/cpu/@mode") == ["host-passthrough"])
        #expect(try Self.values(doc, "/domain/cpu/feature/@name") == ["arch-capabilities"])
        #expect(try Self.values(doc, "/domain/cpu/feature/@policy") == ["disable"])
        // microvm: qboot is built in, no ACPI, no PCI bus for a USB controller.
        #expect(try Self.values(doc, "/domain/os/loader").isEmpty)
        #expect(try Self.values(doc, "/domain/features/acpi").isEmpty)
        #expect(try Self.values(doc, "/domain/devices/controller[@type='usb']/@model") == ["none"])
    }

    @Test("a TCG lane becomes a qemu (TCG) domain with its firmware and a custom CPU model")
    func tcgLane() throws {
        let lane = try Self.lane("tcg-bigmem", accel: .tcg, machine: "q35", memory: "6G", cpu: "qemu64", firmware: "/usr/share/qemu/qboot.rom")
        let doc = try Self.parse(try DomainXML.render(Self.spec(lane)))
        #expect(try Self.values(doc, "/domain/@type") == ["qemu"])
        #expect(try Self.values(doc, "/domain/os/loader") == ["/usr/share/qemu/qboot.rom"])
        #expect(try Self.values(doc, "/domain/os/loader/@type") == ["rom"])
        #expect(try Self.values(doc, "/domain/cpu/@mode") == ["custom"])
        #expect(try Self.values(doc, "/domain/cpu/model") == ["qemu64"])
        #expect(try Self.values(doc, "/domain/cpu/model/@fallback") == ["forbid"])
        #expect(try Self.values(doc, "/domain/features/acpi").count == 1)
        #expect(try Self.values(doc, "/domain/memory") == ["6144"])
    }

    @Test("direct kernel boot with the command line, a pty console, isa-debug-exit, and every end destroys")
    func bootAndEnd() throws {
        let lane = try Self.lane(qemuArgs: ["-global", "x=1"])
        let doc = try Self.parse(try DomainXML.render(Self.spec(lane, cmdline: "os3.lane=kvm os3.seed=7")))
        #expect(try Self.values(doc, "/domain/os/kernel") == ["/k/os3.elf"])
        #expect(try Self.values(doc, "/domain/os/cmdline") == ["os3.lane=kvm os3.seed=7"])
        #expect(try Self.values(doc, "/domain/devices/serial/@type") == ["pty"])
        #expect(try Self.values(doc, "/domain/devices/console/target/@type") == ["serial"])
        #expect(try Self.values(doc, "/domain/devices/memballoon/@model") == ["none"])
        #expect(try Self.values(doc, "/domain/devices/panic/@model") == ["isa"])
        for end in ["on_poweroff", "on_reboot", "on_crash"] {
            #expect(try Self.values(doc, "/domain/\(end)") == ["destroy"], "\(end)")
        }
        let xml = try DomainXML.render(Self.spec(lane))
        #expect(xml.contains("<qemu:arg value='-device'/>\n    <qemu:arg value='isa-debug-exit,iobase=0xf4,iosize=0x04'/>\n    <qemu:arg value='-global'/>\n    <qemu:arg value='x=1'/>"))
        #expect(xml.contains("<qemu:del capability='cpu-unavailable-features'/>"))
        var slow = Self.spec(lane)
        slow.quickCPUReadback = false
        #expect(!(try DomainXML.render(slow)).contains("qemu:capabilities"))
    }

    @Test("everything from outside is escaped: the command line, paths, names, QEMU arguments")
    func escaping() throws {
        let nasty = "a<b & c>d 'q' \"dq\" ]]>"
        let lane = try Self.lane(firmware: "/fw/<x>&'.rom", qemuArgs: ["-name", nasty])
        let xml = try DomainXML.render(Self.spec(lane, cmdline: nasty, kernel: "/tmp/it's & <here>/os3.elf"))
        let doc = try Self.parse(xml)
        #expect(try Self.values(doc, "/domain/os/cmdline") == [nasty])
        #expect(try Self.values(doc, "/domain/os/kernel") == ["/tmp/it's & <here>/os3.elf"])
        #expect(try Self.values(doc, "/domain/os/loader") == ["/fw/<x>&'.rom"])
        #expect(!xml.contains(nasty))
        #expect(!xml.contains("]]>"))
    }

    @Test("the owner metadata says who made the domain and survives libvirt re-serialising it")
    func ownerMetadata() throws {
        let owner = DomainOwner(host: "build-3 & co", pid: 4242, processStart: 987_654, deadline: 1_800_000_000)
        let xml = try DomainXML.render(Self.spec(try Self.lane(), owner: owner))
        let doc = try Self.parse(xml)
        #expect(try Self.values(doc, "/domain/metadata/*/@pid") == ["4242"])
        #expect(DomainOwner.parse(metadata: owner.metadataElement) == owner)
        // libvirt hands the element back with its own prefix and quotes.
        let relabelled = "<os3ctl:owner xmlns:os3ctl='\(DomainSpec.metadataNamespace)' deadline='1800000000' host='build-3 &amp; co' pid='4242' start='987654'/>"
        #expect(DomainOwner.parse(metadata: relabelled) == owner)
        #expect(DomainOwner.parse(metadata: "<owner host='x'/>") == nil)
    }

    struct LeftoverCase: Sendable, CustomTestStringConvertible {
        var name: String
        var owner: DomainOwner
        var alive: [Int32: UInt64]
        var leftover: Bool
        var testDescription: String { name }
    }

    static let leftoverCases: [LeftoverCase] = [
        LeftoverCase(name: "the owner os3ctl on this host is gone: leftover",
                     owner: DomainOwner(host: "me", pid: 10, processStart: 5, deadline: 2000), alive: [:], leftover: true),
        LeftoverCase(name: "the owner is still running: not a leftover",
                     owner: DomainOwner(host: "me", pid: 10, processStart: 5, deadline: 2000), alive: [10: 5], leftover: false),
        LeftoverCase(name: "the pid now belongs to another process: leftover",
                     owner: DomainOwner(host: "me", pid: 10, processStart: 5, deadline: 2000), alive: [10: 6], leftover: true),
        LeftoverCase(name: "another host's run before its deadline: not ours to judge",
                     owner: DomainOwner(host: "other", pid: 10, processStart: 5, deadline: 2000), alive: [:], leftover: false),
        LeftoverCase(name: "any run past its deadline: leftover",
                     owner: DomainOwner(host: "other", pid: 10, processStart: 5, deadline: 999), alive: [10: 5], leftover: true),
    ]

    @Test("leftover domains are those whose run is certainly over", arguments: leftoverCases)
    func leftovers(_ c: LeftoverCase) {
        #expect(c.owner.isLeftover(thisHost: "me", now: 1000, processStart: { c.alive[$0] }) == c.leftover)
    }

    @Test("a lane's QEMU -cpu reads as libvirt's <cpu>", arguments: [
        ("host", DomainCPU(mode: .hostPassthrough, features: [])),
        ("host,-arch-capabilities", DomainCPU(mode: .hostPassthrough, features: [("arch-capabilities", .disable)])),
        ("max", DomainCPU(mode: .maximum, features: [])),
        ("qemu64,+x2apic,vmx=off,svm=on", DomainCPU(mode: .custom("qemu64"), features: [("x2apic", .require), ("vmx", .disable), ("svm", .require)])),
    ])
    func cpuModels(_ c: (String, DomainCPU)) throws {
        #expect(try DomainCPU.parse(c.0) == c.1)
    }

    @Test("a CPU or machine libvirt cannot express is refused with the reason", arguments: ["", "host,,", "qemu64,level=13", "qemu64,x2apic"])
    func badCPU(_ cpu: String) {
        #expect(throws: OS3Error.self) { try DomainCPU.parse(cpu) }
    }

    @Test("machine options cannot be expressed in libvirt XML")
    func machineOptions() throws {
        let lane = try Self.lane(machine: "q35,smm=off")
        #expect(throws: OS3Error.self) { try DomainXML.render(Self.spec(lane)) }
    }

    @Test("QEMU keeps a complete copy of the console where os3ctl asks")
    func consoleCopy() throws {
        var spec = Self.spec(try Self.lane())
        spec.serialLog = "/run dir/serial.log"
        let doc = try Self.parse(try DomainXML.render(spec))
        #expect(try Self.values(doc, "/domain/devices/serial/log/@file") == ["/run dir/serial.log"])
        #expect(try Self.values(doc, "/domain/devices/serial/log/@append") == ["off"])
        spec.serialLog = nil
        #expect(!(try DomainXML.render(spec)).contains("<log "))
    }

    @Test("with a serial socket the serial port and console connect to os3ctl's UNIX socket, else a pty")
    func serialSocket() throws {
        var spec = Self.spec(try Self.lane())
        spec.serialLog = "/run/serial.log"
        spec.serialSocket = "/run dir/console.sock"
        let doc = try Self.parse(try DomainXML.render(spec))
        #expect(try Self.values(doc, "/domain/devices/serial/@type") == ["unix"])
        #expect(try Self.values(doc, "/domain/devices/serial/source/@mode") == ["connect"])
        #expect(try Self.values(doc, "/domain/devices/serial/source/@path") == ["/run dir/console.sock"])
        #expect(try Self.values(doc, "/domain/devices/console/source/@path") == ["/run dir/console.sock"])
        #expect(try Self.values(doc, "/domain/devices/serial/log/@file") == ["/run/serial.log"])
        spec.serialSocket = nil
        let pty = try Self.parse(try DomainXML.render(spec))
        #expect(try Self.values(pty, "/domain/devices/serial/@type") == ["pty"])
        #expect(try Self.values(pty, "/domain/devices/serial/source/@path") == [])
    }

    @Test("the pty of a running domain is read from its live XML (for console input)")
    func livePTY() {
        let live = """
        <domain type='kvm' id='3'><devices>
          <serial type='pty'>
            <source path='/dev/pts/7'/>
            <log file='/r/serial.log' append='off'/>
            <target type='isa-serial' port='0'/>
          </serial>
          <console type='pty' tty='/dev/pts/7'><source path='/dev/pts/7'/></console>
        </devices></domain>
        """
        #expect(DomainXML.serialPTYPath(inLiveXML: live) == "/dev/pts/7")
        #expect(DomainXML.serialPTYPath(inLiveXML: "<domain><devices><serial type='pty'><target port='0'/></serial></devices></domain>") == nil)
        #expect(DomainXML.serialPTYPath(inLiveXML: "<domain/>") == nil)
    }

    @Test("domain names carry the prefix, the lane and the owner's pid")
    func names() {
        #expect(DomainSpec.name(lane: "kvm-hugemem", pid: 77, suffix: "x2y3z4") == "os3-kvm-hugemem-77-x2y3z4")
        #expect(DomainSpec.name(lane: "tiny", pid: 1, suffix: "a").hasPrefix(DomainSpec.namePrefix))
    }
}

@Suite("Libvirt domain XML: boot methods and architectures")
struct DomainXMLBootTests {
    static func lane(_ arch: Arch = .x86_64, machine: String = "q35", cpu: String = "qemu64", boot: BootMethod,
                     exitDevice: ExitDevice? = nil) throws -> Lane {
        try Lane(name: "m", accelerator: .tcg, machine: machine, memory: "512M", cpus: 1, cpuModel: cpu, markerFiles: ["boot"],
                 arch: arch, boot: boot, exitDevice: exitDevice)
    }

    static func render(_ lane: Lane, boot: BootMethod? = nil, nvram: String? = nil, emulator: String? = nil) throws -> String {
        try DomainXML.render(DomainSpec(name: "os3-m-1-abc", lane: lane, kernel: "/k/bzImage", commandLine: "console=ttyS0",
                                        emulator: emulator, boot: boot, nvram: nvram))
    }

    @Test("kernel with initrd: <kernel>, <initrd>, <cmdline>")
    func kernel() throws {
        let xml = try Self.render(try Self.lane(machine: "pc", boot: .kernel(image: nil, initrd: "/b/initrd.gz")))
        #expect(xml.contains("    <kernel>/k/bzImage</kernel>\n    <initrd>/b/initrd.gz</initrd>\n    <cmdline>console=ttyS0</cmdline>\n  </os>\n"))
        #expect(!xml.contains("<disk"))
    }

    @Test("uefi: pflash loader, nvram from the template at the run's path, the ESP directory read-only on virtio (libvirt has no writable vvfat, nor read-only SATA), no kernel")
    func uefi() throws {
        let boot = BootMethod.uefi(code: "/fw/CODE.fd", varsTemplate: "/fw/VARS.fd", esp: .init(path: "/p/esp", isDirectory: true))
        let xml = try Self.render(try Self.lane(boot: boot), nvram: "/runs/r1/efivars.fd")
        #expect(xml.contains("""
                <os>
                    <type arch='x86_64' machine='q35'>hvm</type>
                    <loader readonly='yes' type='pflash'>/fw/CODE.fd</loader>
                    <nvram template='/fw/VARS.fd'>/runs/r1/efivars.fd</nvram>
                  </os>

                """))
        #expect(xml.contains("""
                    <disk type='dir' device='disk'>
                      <driver name='qemu' type='fat'/>
                      <source dir='/p/esp'/>
                      <target dev='vda' bus='virtio'/>
                      <readonly/>
                    </disk>

                """))
        #expect(!xml.contains("<kernel>") && !xml.contains("<cmdline>"))
        // Without a path libvirt keeps the copy where it keeps such copies.
        #expect(try Self.render(try Self.lane(boot: boot)).contains("    <nvram template='/fw/VARS.fd'/>\n"))
    }

    @Test("disk and cdrom: <boot dev>, the disk on the PC's own bus (IDE on pc), the CD read-only")
    func diskAndCdrom() throws {
        let disk = try Self.render(try Self.lane(machine: "pc", boot: .disk(image: "/p/d.img")))
        #expect(disk.contains("    <boot dev='hd'/>\n  </os>\n"))
        #expect(disk.contains("""
                    <disk type='file' device='disk'>
                      <driver name='qemu' type='raw'/>
                      <source file='/p/d.img'/>
                      <target dev='hda' bus='ide'/>
                    </disk>

                """))
        let cd = try Self.render(try Self.lane(machine: "pc", boot: .cdrom(image: "/p/os.iso")))
        #expect(cd.contains("    <boot dev='cdrom'/>\n  </os>\n"))
        #expect(cd.contains("<disk type='file' device='cdrom'>\n      <driver name='qemu' type='raw'/>\n      <source file='/p/os.iso'/>\n      <target dev='hdc' bus='ide'/>\n      <readonly/>\n    </disk>\n"))
        #expect(!cd.contains("<kernel>"))
    }

    @Test("aarch64: arch and machine, its emulator, semihosting as a QEMU argument, no isa-debug-exit, ISA panic device or ACPI")
    func aarch64() throws {
        let lane = try Self.lane(.aarch64, machine: "virt", cpu: "cortex-a57", boot: .kernel(image: nil, initrd: nil), exitDevice: .semihosting)
        let xml = try Self.render(lane, emulator: "/usr/bin/qemu-system-aarch64")
        #expect(xml.contains("<type arch='aarch64' machine='virt'>hvm</type>"))
        #expect(xml.contains("<emulator>/usr/bin/qemu-system-aarch64</emulator>"))
        #expect(xml.contains("  <qemu:commandline>\n    <qemu:arg value='-semihosting-config'/>\n    <qemu:arg value='enable=on,target=native'/>\n  </qemu:commandline>\n"))
        #expect(!xml.contains("isa-debug-exit"))
        #expect(!xml.contains("<panic"))
        #expect(!xml.contains("<acpi/>"))
    }

    @Test("riscv64 with no exit device has no <qemu:commandline> at all; a disk goes on virtio")
    func riscv64() throws {
        let lane = try Self.lane(.riscv64, machine: "virt", cpu: "rv64", boot: .disk(image: "/p/d.img"))
        let xml = try Self.render(lane)
        #expect(xml.contains("<type arch='riscv64' machine='virt'>hvm</type>"))
        #expect(!xml.contains("qemu:commandline"))
        #expect(xml.contains("<target dev='vda' bus='virtio'/>"))
    }
}
