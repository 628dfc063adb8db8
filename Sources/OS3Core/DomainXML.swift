/// A boot of a lane as a libvirt domain, as a value: rendered to XML by a pure function and tested
/// as such (the libvirt counterpart of `QemuInvocation`). Nothing here talks to libvirt.
public struct DomainSpec: Sendable, Equatable, Codable {
    /// Every domain os3ctl creates is named `os3-<lane>-<pid>-<random>`; leftovers are found by it.
    public static let namePrefix = "os3-"
    /// The namespace of os3ctl's `<metadata>` element (who owns the domain, until when).
    public static let metadataNamespace = "https://os3ctl.invalid/libvirt/run/1"

    public var name: String
    public var lane: Lane
    /// The kernel image as the hypervisor's host sees it (an uploaded volume on a remote host).
    public var kernel: String
    public var commandLine: String
    /// What is booted, images as the hypervisor's host sees them (method kernel: its image is `kernel`).
    public var boot: BootMethod
    /// Where the domain's private copy of the UEFI variables store goes (libvirt makes it from the
    /// template); nil: where libvirt keeps such copies.
    public var nvram: String?
    /// Absolute path of the QEMU binary on the hypervisor's host; nil = libvirt's default.
    public var emulator: String?
    public var owner: DomainOwner?
    /// Hide QEMU's `cpu-unavailable-features` capability from libvirt for this domain, so that it
    /// reads the guest CPU back with two QMP calls instead of one per CPU property (~400 round
    /// trips, 0.25 s of every start under nested KVM). libvirt >= 7.9; the domain is marked
    /// tainted (custom capabilities), as it already is for the custom `isa-debug-exit` argument.
    public var quickCPUReadback: Bool
    /// Where QEMU keeps a complete copy of the serial console (the chardev's log file) on the
    /// hypervisor's host: the pty loses what nobody read when QEMU exits, the copy does not.
    public var serialLog: String?
    /// A UNIX socket os3ctl listens on, which QEMU connects its serial port to as it starts (os3ctl
    /// types console input there) instead of a pty: QEMU 7.2 looks at a pty's other end only once a
    /// second. QEMU connects before the guest runs, so the connection never lands mid-output (QEMU
    /// 7.2's socket chardev with a log file doubled a byte of the copy when a connection was
    /// accepted mid-output). Only where QEMU can reach os3ctl's run directory (the embedded driver).
    public var serialSocket: String?

    public init(name: String, lane: Lane, kernel: String, commandLine: String, emulator: String? = nil,
                owner: DomainOwner? = nil, quickCPUReadback: Bool = true, serialLog: String? = nil,
                serialSocket: String? = nil, boot: BootMethod? = nil, nvram: String? = nil) {
        self.name = name
        self.lane = lane
        self.kernel = kernel
        self.commandLine = commandLine
        self.boot = boot ?? lane.boot.withKernel(kernel)
        self.nvram = nvram
        self.emulator = emulator
        self.owner = owner
        self.quickCPUReadback = quickCPUReadback
        self.serialLog = serialLog
        self.serialSocket = serialSocket
    }

    /// `os3-<lane>-<pid>-<suffix>`.
    public static func name(lane: String, pid: Int32, suffix: String) -> String {
        "\(namePrefix)\(lane)-\(pid)-\(suffix)"
    }
}

/// Who created a domain: enough to tell, on the next start, whether its run is over.
public struct DomainOwner: Sendable, Equatable, Codable {
    /// The os3ctl host's name (a pid means nothing on another host).
    public var host: String
    public var pid: Int32
    /// The owner process's start time (field 22 of /proc/PID/stat), so a reused pid is not mistaken for it.
    public var processStart: UInt64
    /// Unix time after which the run is over whatever happened (start + total timeout + slack).
    public var deadline: Int

    public init(host: String, pid: Int32, processStart: UInt64, deadline: Int) {
        self.host = host
        self.pid = pid
        self.processStart = processStart
        self.deadline = deadline
    }

    /// The `<metadata>` child element (namespace `DomainSpec.metadataNamespace`).
    public var metadataElement: String {
        "<os3:owner xmlns:os3=\"\(DomainSpec.metadataNamespace)\" host=\"\(Reports.xml(host))\" pid=\"\(pid)\" start=\"\(processStart)\" deadline=\"\(deadline)\"/>"
    }

    /// Parses the element back, however libvirt re-serialised it (prefix, quotes, order).
    public static func parse(metadata xml: String) -> DomainOwner? {
        guard let host = attribute("host", in: xml), let pid = attribute("pid", in: xml).flatMap({ Int32($0) }),
              let start = attribute("start", in: xml).flatMap({ UInt64($0) }),
              let deadline = attribute("deadline", in: xml).flatMap({ Int($0) }) else { return nil }
        return DomainOwner(host: unescapeXML(host), pid: pid, processStart: start, deadline: deadline)
    }

    /// Whether a domain with this owner is a leftover of a run that is over and may be destroyed:
    /// its owner process on this host is gone (or the pid now belongs to another process), or,
    /// whatever the host, its deadline has passed.
    public func isLeftover(thisHost: String, now: Int, processStart: (Int32) -> UInt64?) -> Bool {
        if now > deadline { return true }
        guard host == thisHost else { return false }
        return processStart(pid) != self.processStart
    }

    static func attribute(_ name: String, in xml: String) -> String? {
        for quote in ["\"", "'"] {
            let key = " \(name)=\(quote)"
            guard let r = xml.firstRange(of: key) else { continue }
            let rest = xml[r.upperBound...]
            guard let end = rest.firstIndex(of: Character(quote)) else { return nil }
            return String(rest[..<end])
        }
        return nil
    }
}

/// How a lane's `cpu` (QEMU `-cpu` syntax) reads in libvirt's `<cpu>` element.
public struct DomainCPU: Sendable, Equatable {
    public enum Mode: Sendable, Equatable {
        case hostPassthrough
        case maximum
        case custom(String)
    }
    public enum Policy: String, Sendable, Equatable { case require, disable }

    public var mode: Mode
    public var features: [(name: String, policy: Policy)]

    public static func == (a: DomainCPU, b: DomainCPU) -> Bool {
        a.mode == b.mode && a.features.map(\.name) == b.features.map(\.name) && a.features.map(\.policy) == b.features.map(\.policy)
    }

    /// "host,-arch-capabilities" -> host-passthrough with arch-capabilities disabled; "qemu64" -> a
    /// custom model; "+f" / "f=on" require a feature, "-f" / "f=off" disable it.
    public static func parse(_ qemu: String) throws -> DomainCPU {
        let parts = qemu.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard let model = parts.first, !model.isEmpty else { throw unsupported(qemu, "no CPU model") }
        let mode: Mode = switch model {
        case "host": .hostPassthrough
        case "max": .maximum
        default: .custom(model)
        }
        var features: [(String, Policy)] = []
        for part in parts.dropFirst() {
            if part.hasPrefix("+") || part.hasPrefix("-") {
                let name = String(part.dropFirst())
                guard validFeature(name) else { throw unsupported(qemu, "'\(part)' is not a CPU feature") }
                features.append((name, part.hasPrefix("+") ? .require : .disable))
            } else if let eq = part.firstIndex(of: "=") {
                let name = String(part[..<eq]), value = part[part.index(after: eq)...]
                guard validFeature(name) else { throw unsupported(qemu, "'\(part)' is not a CPU feature") }
                switch value {
                case "on", "true", "yes": features.append((name, .require))
                case "off", "false", "no": features.append((name, .disable))
                default: throw unsupported(qemu, "'\(part)' is a CPU property libvirt's <cpu> cannot express")
                }
            } else {
                throw unsupported(qemu, "'\(part)' is neither +feature, -feature nor feature=on|off")
            }
        }
        return DomainCPU(mode: mode, features: features)
    }

    static func validFeature(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 122) || ($0 >= 65 && $0 <= 90) || $0 == 45 || $0 == 95 || $0 == 46 }
    }

    static func unsupported(_ cpu: String, _ why: String) -> OS3Error {
        OS3Error(.invalidLane, "cpu '\(cpu)' cannot be run through libvirt: \(why)",
                 fix: "write the cpu as MODEL[,+feature|,-feature|,feature=on|off] (e.g. \"host,-arch-capabilities\" or \"qemu64\")")
    }

    var xml: String {
        var x: String
        switch mode {
        case .hostPassthrough: x = "  <cpu mode='host-passthrough' check='none' migratable='off'>\n"
        case .maximum: x = "  <cpu mode='maximum' check='none' migratable='off'>\n"
        case .custom(let model): x = "  <cpu mode='custom' match='exact' check='none'>\n    <model fallback='forbid'>\(Reports.xml(model))</model>\n"
        }
        for f in features { x += "    <feature policy='\(f.policy.rawValue)' name='\(Reports.xml(f.name))'/>\n" }
        return x + "  </cpu>\n"
    }
}

public enum DomainXML {
    /// What libvirt does when the guest powers off, resets or crashes. Destroy, so that the run
    /// ends — except a reset in a lane that passes by poweroff: libvirt reports a guest reset under
    /// `destroy` (QEMU's -no-reboot) as SHUTDOWN/guest, exactly like a poweroff; under `restart`
    /// it is a REBOOT event (os3ctl then destroys the domain), so SHUTDOWN/guest means a poweroff.
    static func lifecycleActions(_ lane: Lane) -> String {
        let reboot = lane.success == .poweroff ? "restart" : "destroy"
        return "  <on_poweroff>destroy</on_poweroff>\n  <on_reboot>\(reboot)</on_reboot>\n  <on_crash>destroy</on_crash>\n"
    }

    /// The XML of a transient domain that boots the lane like `QemuInvocation` does: the lane's
    /// architecture, accelerator (kvm, or qemu = TCG), machine, memory, CPUs and CPU model, firmware
    /// (qboot) if the lane names one, its boot method (direct kernel boot with initrd and command
    /// line; UEFI pflash with a private variables store; a disk or CD-ROM), a pty serial console, no
    /// other devices, the lane's exit device, an ISA panic device on x86, and destroy on poweroff,
    /// reboot and crash (a triple fault must end the run). Every value from the outside is escaped.
    public static func render(_ spec: DomainSpec) throws -> String {
        let lane = spec.lane
        let cpu = try DomainCPU.parse(lane.cpuModel)
        let machine = lane.machine
        guard !machine.contains(","), !machine.isEmpty else {
            throw OS3Error(.invalidLane, "machine '\(machine)' cannot be run through libvirt: options after the machine type are not supported",
                           file: lane.file.isEmpty ? nil : lane.file, fix: "name only the machine type (e.g. \"q35\")")
        }
        let microvm = machine == "microvm" || machine.hasPrefix("microvm-")
        let profile = lane.arch.profile
        let x86 = lane.arch == .x86_64
        let type = lane.accelerator == .kvm ? "kvm" : "qemu"
        var x = "<domain type='\(type)' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>\n"
        x += "  <name>\(Reports.xml(spec.name))</name>\n"
        x += "  <description>\(Reports.xml("os3ctl lane \(lane.name)"))</description>\n"
        if let owner = spec.owner {
            x += "  <metadata>\n    \(owner.metadataElement)\n  </metadata>\n"
        }
        x += "  <memory unit='MiB'>\(lane.memoryMiB)</memory>\n"
        x += "  <vcpu placement='static'>\(lane.cpus)</vcpu>\n"
        x += "  <os>\n"
        x += "    <type arch='\(profile.libvirtArch)' machine='\(Reports.xml(machine))'>hvm</type>\n"
        if let fw = lane.firmware { x += "    <loader type='rom'>\(Reports.xml(fw))</loader>\n" }
        var disks: [String] = []
        switch spec.boot {
        case .kernel(_, let initrd):
            x += "    <kernel>\(Reports.xml(spec.kernel))</kernel>\n"
            if let initrd { x += "    <initrd>\(Reports.xml(initrd))</initrd>\n" }
            x += "    <cmdline>\(Reports.xml(spec.commandLine))</cmdline>\n"
        case .uefi(let code, let vars, let esp):
            x += "    <loader readonly='yes' type='pflash'>\(Reports.xml(code))</loader>\n"
            if let vars {
                let template = "template='\(Reports.xml(vars))'"
                x += spec.nvram.map { "    <nvram \(template)>\(Reports.xml($0))</nvram>\n" } ?? "    <nvram \(template)/>\n"
            }
            // libvirt refuses a writable directory disk (QEMU's vvfat): the guest reads the ESP directory.
            if let esp {
                disks.append(esp.isDirectory ? disk(type: "dir", source: "dir", esp.path, driver: "fat", device: "disk", lane: lane, readonly: true)
                                             : disk(type: "file", source: "file", esp.path, driver: "raw", device: "disk", lane: lane))
            }
        case .disk(let image):
            x += "    <boot dev='hd'/>\n"
            disks.append(disk(type: "file", source: "file", image, driver: "raw", device: "disk", lane: lane))
        case .cdrom(let image):
            x += "    <boot dev='cdrom'/>\n"
            disks.append(disk(type: "file", source: "file", image, driver: "raw", device: "cdrom", lane: lane, readonly: true))
        }
        x += "  </os>\n"
        // microvm has no ACPI tables to offer; pc and q35 keep them as QEMU's defaults do (on Arm,
        // libvirt ties ACPI to UEFI: the virt machines boot with a device tree).
        if x86 && !microvm { x += "  <features>\n    <acpi/>\n  </features>\n" }
        x += cpu.xml
        x += lifecycleActions(lane)
        x += "  <devices>\n"
        if let emulator = spec.emulator { x += "    <emulator>\(Reports.xml(emulator))</emulator>\n" }
        // Only the devices asked for: no USB (microvm has no PCI bus for it), no balloon, no graphics.
        x += "    <controller type='usb' model='none'/>\n"
        x += disks.joined()
        let source = spec.serialSocket.map { "      <source mode='connect' path='\(Reports.xml($0))'/>\n" } ?? ""
        let serialType = spec.serialSocket == nil ? "pty" : "unix"
        x += "    <serial type='\(serialType)'>\n" + source
        if let log = spec.serialLog { x += "      <log file='\(Reports.xml(log))' append='off'/>\n" }
        x += "      <target port='0'/>\n    </serial>\n"
        x += "    <console type='\(serialType)'>\n" + source + "      <target type='serial' port='0'/>\n    </console>\n"
        x += "    <memballoon model='none'/>\n"
        // A guest that writes to the ISA panic device is reported by libvirt as CRASHED/PANICKED.
        if x86 { x += "    <panic model='isa'>\n      <address type='isa' iobase='0x505'/>\n    </panic>\n" }
        x += "  </devices>\n"
        // The exit device as with QEMU directly (isa-debug-exit: writing v to port 0xf4 makes QEMU
        // exit with (v << 1) | 1: 0x10 -> 33); libvirt has no element for either.
        let args = lane.exitDevice.qemuArguments + lane.qemuArgs
        if !args.isEmpty {
            x += "  <qemu:commandline>\n"
            for arg in args { x += "    <qemu:arg value='\(Reports.xml(arg))'/>\n" }
            x += "  </qemu:commandline>\n"
        }
        if spec.quickCPUReadback {
            x += "  <qemu:capabilities>\n    <qemu:del capability='cpu-unavailable-features'/>\n  </qemu:capabilities>\n"
        }
        x += "</domain>\n"
        return x
    }
}

extension DomainXML {
    /// A `<disk>` on the bus the machine boots from: IDE on pc, SATA on q35, virtio on the virt machines.
    static func disk(type: String, source: String, _ path: String, driver: String, device: String, lane: Lane,
                     readonly: Bool = false) -> String {
        let bus: String, dev: String
        // virtio also for a read-only disk (an ESP directory) on q35: libvirt has no read-only SATA disk.
        if lane.arch.profile.diskInterface != nil || (readonly && device == "disk") {
            (bus, dev) = ("virtio", "vda")
        } else if lane.machine == "q35" || lane.machine.hasPrefix("pc-q35") {
            (bus, dev) = ("sata", "sda")
        } else {
            (bus, dev) = ("ide", device == "cdrom" ? "hdc" : "hda")
        }
        var x = "    <disk type='\(type)' device='\(device)'>\n"
        x += "      <driver name='qemu' type='\(driver)'/>\n"
        x += "      <source \(source)='\(Reports.xml(path))'/>\n"
        x += "      <target dev='\(dev)' bus='\(bus)'/>\n"
        if readonly { x += "      <readonly/>\n" }
        return x + "    </disk>\n"
    }

    /// The host path of the first pty serial port in a running domain's XML (libvirt fills in
    /// `<source path='/dev/pts/N'/>` once QEMU has created it), or nil.
    public static func serialPTYPath(inLiveXML xml: String) -> String? {
        guard let serial = xml.firstRange(of: "<serial type='pty'") ?? xml.firstRange(of: "<serial type=\"pty\"") else { return nil }
        let rest = xml[serial.upperBound...]
        guard let end = rest.firstRange(of: "</serial>") else { return nil }
        let body = String(rest[..<end.lowerBound])
        guard let source = body.firstRange(of: "<source ") else { return nil }
        return DomainOwner.attribute("path", in: String(body[source.lowerBound...])).map(unescapeXML)
    }
}

func unescapeXML(_ s: String) -> String {
    guard s.contains("&") else { return s }
    return s.replacingAll("&lt;", with: "<").replacingAll("&gt;", with: ">").replacingAll("&quot;", with: "\"")
        .replacingAll("&apos;", with: "'").replacingAll("&amp;", with: "&")
}
