/// A lane: one way of booting a kernel (architecture, accelerator, machine, memory, CPUs, what it
/// boots and how, command line), the markers it requires, and how long it may take. One TOML file
/// in `lanes/` each.
public struct Lane: Sendable, Equatable, Codable {
    public enum Accelerator: String, Sendable, Codable, CaseIterable { case kvm, tcg }

    public var name: String
    public var file: String
    public var description: String
    public var accelerator: Accelerator
    public var machine: String
    /// As QEMU's `-m` takes it ("256M", "16G").
    public var memory: String
    public var memoryMiB: Int
    public var cpus: Int
    public var cpuModel: String
    /// Kernel command line the lane always passes; `--append` adds to it.
    public var append: String
    /// Marker file names (in `markers/`, without `.toml`), all required.
    public var markerFiles: [String]
    /// How the lane passes (besides every marker): QEMU's exit code, or a clean guest poweroff.
    public var success: Success
    /// The exit code the lane passes by; nil for a lane that passes by a clean poweroff.
    public var successExitCode: Int32? {
        if case .exitCode(let code) = success { code } else { nil }
    }
    public var totalTimeout: Double
    public var idleTimeout: Double
    /// Optional `-bios` image (e.g. qboot: SeaBIOS costs seconds per KVM boot).
    public var firmware: String?
    /// Extra QEMU arguments appended verbatim (no shell involved).
    public var qemuArgs: [String]
    /// Bytes typed into the serial console, once the marker `after` has been seen (or at start).
    public var consoleInput: ConsoleInput?
    /// The guest architecture (`arch`, default x86_64): QEMU's binary, default machine and CPU.
    public var arch: Arch
    /// `qemu-binary`: the QEMU system binary instead of the architecture's (`--qemu` overrides both).
    public var qemuBinary: String?
    /// `[boot]`: what the lane boots and how (default: direct kernel boot of os3ctl's kernel).
    public var boot: BootMethod
    /// `[boot] exit-device`: how the guest can make QEMU exit with a code.
    public var exitDevice: ExitDevice

    /// `ktap = true`: the console carries KTAP (KUnit, kselftest); its plan and results are judged
    /// too (every planned result present, none `not ok`), and each result is a test case.
    public var ktap: Bool
    /// `gate = false`: `os3ctl gate` leaves the lane out unless it is named with `--lane` (a
    /// documented broken variant, a slow lane); `boot` and `stress` run it as any other.
    public var inGate: Bool
    /// `lava-device-type` and `lava-tags`: what a LAVA lab must offer to run the lane
    /// (`--backend lava`, docs/LAVA.md); ignored by the other backends.
    public var lava: LAVANeeds = LAVANeeds()

    /// What a lane needs from a LAVA lab: a device of this type carrying every tag (e.g. "kvm"
    /// for a worker with KVM, "mem-16g" for the 16 GiB lane).
    public struct LAVANeeds: Sendable, Equatable, Codable {
        public static let defaultDeviceType = "qemu-os3ctl"
        public var deviceType: String
        public var tags: [String]
        public init(deviceType: String = LAVANeeds.defaultDeviceType, tags: [String] = []) {
            self.deviceType = deviceType
            self.tags = tags
        }
    }

    /// The QEMU system binary this lane runs unless `--qemu` says otherwise.
    public var binary: String { qemuBinary ?? arch.profile.binary }

    /// `success-exit = N` (QEMU exits with N, e.g. through isa-debug-exit) or `success = "poweroff"`
    /// (the guest powered off cleanly, as QEMU reported it over QMP).
    public enum Success: Sendable, Equatable, Codable {
        case exitCode(Int32)
        case poweroff

        /// In JSON as in the lane file: the exit code, or "poweroff".
        public init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let code = try? c.decode(Int32.self) { self = .exitCode(code); return }
            guard try c.decode(String.self) == "poweroff" else {
                throw DecodingError.dataCorruptedError(in: c, debugDescription: "success is an exit code or \"poweroff\"")
            }
            self = .poweroff
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case .exitCode(let code): try c.encode(code)
            case .poweroff: try c.encode("poweroff")
            }
        }

        /// For details: "exit code 33", "a clean guest poweroff".
        public var expectation: String {
            switch self {
            case .exitCode(let code): "\(code)"
            case .poweroff: "a clean guest poweroff (QEMU: SHUTDOWN guest-shutdown)"
            }
        }
    }

    public struct ConsoleInput: Sendable, Equatable, Codable {
        public var after: String?
        public var text: String
        public init(after: String?, text: String) {
            self.after = after
            self.text = text
        }
    }

    public init(name: String, file: String = "", description: String = "", accelerator: Accelerator, machine: String,
                memory: String, cpus: Int, cpuModel: String, append: String = "", markerFiles: [String],
                success: Success = .exitCode(33), totalTimeout: Double = 30, idleTimeout: Double = 10,
                firmware: String? = nil, qemuArgs: [String] = [], consoleInput: ConsoleInput? = nil,
                arch: Arch = .x86_64, qemuBinary: String? = nil, boot: BootMethod = .kernel(image: nil, initrd: nil),
                exitDevice: ExitDevice? = nil, ktap: Bool = false, inGate: Bool = true) throws {
        self.name = name
        self.ktap = ktap
        self.inGate = inGate
        self.file = file
        self.description = description
        self.accelerator = accelerator
        self.machine = machine
        self.memory = memory
        guard let mib = Lane.parseMemory(memory) else {
            throw OS3Error(.invalidLane, "memory '\(excerpt(memory))' is not a size", file: file.isEmpty ? nil : file)
        }
        self.memoryMiB = mib
        self.cpus = cpus
        self.cpuModel = cpuModel
        self.append = append
        self.markerFiles = markerFiles
        self.success = success
        self.totalTimeout = totalTimeout
        self.idleTimeout = idleTimeout
        self.firmware = firmware
        self.qemuArgs = qemuArgs
        self.consoleInput = consoleInput
        self.arch = arch
        self.qemuBinary = qemuBinary
        self.boot = boot
        if case .exitCode = success {
            self.exitDevice = exitDevice ?? ExitDevice.defaultDevice(arch: arch, succeedsByExitCode: true)
        } else {
            self.exitDevice = exitDevice ?? ExitDevice.defaultDevice(arch: arch, succeedsByExitCode: false)
        }
    }

    static let keys = ["description", "accelerator", "machine", "memory", "cpus", "cpu", "append", "markers",
                       "success-exit", "success", "timeouts", "firmware", "qemu-args", "console-input",
                       "arch", "qemu-binary", "boot", "ktap", "gate", "lava-device-type", "lava-tags"]
    static let timeoutKeys = ["total", "idle"]
    static let inputKeys = ["after", "text"]
    static let bootKeys = ["method", "kernel", "initrd", "firmware-code", "firmware-vars", "esp", "disk", "cdrom", "exit-device"]

    /// Parses a lane file. `name` is the file's base name; every error names the file and line.
    public static func parse(name: String, file: String, text: String) throws -> Lane {
        try parse(name: name, file: file, bytes: Array(text.utf8))
    }

    /// Parses a lane file as read from disk (bytes that must be UTF-8).
    public static func parse(name: String, file: String, bytes: [UInt8]) throws -> Lane {
        let doc = try TOMLDocument(file: file, bytes: bytes, code: .invalidLane)
        let r = TOMLReader(document: doc, table: doc.table, section: "", code: .invalidLane, allowedKeys: keys)
        try r.checkUnknownKeys()
        guard isValidName(name) else {
            throw OS3Error(.invalidLane, "lane name '\(excerpt(name))' is not allowed", file: file,
                           fix: "name lane files with letters, digits, '-' and '_' only (e.g. kvm-hugemem.toml)")
        }
        let accelName = try r.string("accelerator")
        guard let accel = Accelerator(rawValue: accelName) else {
            throw r.fail("accelerator", "accelerator '\(excerpt(accelName))' is not supported", fix: "use \"kvm\" or \"tcg\"")
        }
        let archName = try r.string("arch", required: false, default: Arch.x86_64.rawValue)
        guard let arch = Arch(rawValue: archName) else {
            throw r.fail("arch", "architecture '\(archName)' is not supported",
                         fix: "use one of: \(Arch.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", "))")
        }
        let profile = arch.profile
        let qemuBinary = try r.optionalString("qemu-binary")
        if let qemuBinary, qemuBinary.isEmpty || qemuBinary.hasPrefix("-") {
            throw r.fail("qemu-binary", "qemu-binary must name a QEMU system binary",
                         fix: "a name looked up in PATH or a path, e.g. \"\(profile.binary)\"; or leave it out")
        }
        let machine: String
        if let fallback = profile.defaultMachine {
            machine = try r.string("machine", required: false, default: fallback)
        } else {
            machine = try r.string("machine")
        }
        guard !machine.isEmpty, !machine.hasPrefix("-") else {
            throw r.fail("machine", "machine must name a QEMU machine type", fix: "e.g. \"microvm\" or \"q35\"")
        }
        let memory = try r.string("memory")
        guard let mib = parseMemory(memory) else {
            throw r.fail("memory", "memory '\(excerpt(memory))' is not a size QEMU understands", fix: "write a number with M or G, e.g. \"256M\" or \"16G\"")
        }
        guard mib >= 1 else { throw r.fail("memory", "memory must be at least 1 MiB", fix: "e.g. \"32M\"") }
        let cpus = try r.int("cpus", range: 1...288)
        let cpu = try profile.defaultCPU.map { try r.string("cpu", required: false, default: $0) } ?? r.string("cpu")
        guard !cpu.isEmpty, !cpu.hasPrefix("-") else { throw r.fail("cpu", "cpu must name a CPU model", fix: "e.g. \"qemu64\" or \"host,-arch-capabilities\"") }
        let append = try r.string("append", required: false)
        let ktap = try r.bool("ktap", default: false)
        let inGate = try r.bool("gate", default: true)
        // A KTAP lane is judged by its plan and results: marker files are then optional.
        let markers = try r.strings("markers", required: !ktap)
        guard !markers.isEmpty || ktap else {
            throw r.fail("markers", "a lane must require at least one marker file",
                         fix: "list marker files from markers/, e.g. markers = [\"boot\"] (or judge the kernel's KTAP with ktap = true): a lane that checks nothing cannot pass honestly")
        }
        for m in markers where !isValidName(m) {
            throw r.fail("markers", "marker file name '\(excerpt(m))' is not allowed", fix: "give the base name of a file in markers/, without .toml")
        }
        var listed = Set<String>()
        for m in markers where !listed.insert(m).inserted {
            throw r.fail("markers", "marker file '\(excerpt(m))' is listed twice", fix: "list each marker file once")
        }
        let exit = try r.int("success-exit", required: false, default: 33, range: 1...255)
        var success = Success.exitCode(Int32(exit))
        if let form = try r.optionalString("success") {
            guard form == "poweroff" else {
                throw r.fail("success", "success = \"\(excerpt(form))\" is not a way to pass",
                             fix: "write success = \"poweroff\" (the guest powers off cleanly), or success-exit = N (QEMU exits with N) instead")
            }
            guard r.table["success-exit"] == nil else {
                throw r.fail("success", "a lane passes by success-exit or by success = \"poweroff\", not both",
                             fix: "keep one: success-exit = N (QEMU exits with N) or success = \"poweroff\" (a clean guest poweroff)")
            }
            success = .poweroff
        }
        guard let t = try r.subtable("timeouts", allowed: timeoutKeys) else {
            throw r.fail(nil, "missing [timeouts] section", fix: "add\n  [timeouts]\n  total = 30   # seconds for the whole boot\n  idle = 10    # seconds without serial output = hang")
        }
        try t.checkUnknownKeys()
        let total = try t.seconds("total", range: 0.1...86_400)
        let idle = try t.seconds("idle", range: 0.05...86_400)
        guard idle <= total else { throw t.fail("idle", "idle timeout (\(idle) s) is longer than the total timeout (\(total) s)", fix: "make idle <= total") }
        var input: ConsoleInput?
        if let i = try r.subtable("console-input", allowed: inputKeys) {
            try i.checkUnknownKeys()
            let text = try i.string("text")
            guard !text.isEmpty else { throw i.fail("text", "console-input text is empty", fix: "write the bytes to type, e.g. text = \"ello\"") }
            let after = try i.optionalString("after")
            if let after, !markers.isEmpty, !Lane.isValidName(after) {
                throw i.fail("after", "'\(excerpt(after))' is not a marker id", fix: "name the id of a required marker")
            }
            input = ConsoleInput(after: after, text: text)
        }
        let firmware = try r.optionalString("firmware")
        let extra = try r.strings("qemu-args", required: false)
        let (boot, exitDevice) = try parseBoot(r, arch: arch, machine: machine, append: append, firmware: firmware,
                                               succeedsByExitCode: success != .poweroff, ownQemuArgs: !extra.isEmpty)
        // Off x86_64 no exit device is added by default: a lane there that waits for an exit code
        // and names none could never pass (an explicit exit-device = "none" is refused in parseBoot).
        if exitDevice == .none, success != .poweroff, extra.isEmpty {
            throw r.fail("arch", "on \(arch.rawValue) QEMU gets no exit device unless the lane names one, so a lane that passes by an exit code (\(r.table["success-exit"] == nil ? "33, the default" : "success-exit")) could never pass",
                         fix: "add [boot] exit-device = \(arch.profile.exitDevices.filter { $0 != .none }.map { "\"\($0.rawValue)\"" }.joined(separator: " or ")), or write success = \"poweroff\"")
        }
        let lava = try parseLAVANeeds(r)
        var lane = try Lane(name: name, file: file, description: try r.string("description", required: false),
                        accelerator: accel, machine: machine, memory: memory, cpus: cpus, cpuModel: cpu,
                        append: append, markerFiles: markers, success: success,
                        totalTimeout: total, idleTimeout: idle, firmware: firmware, qemuArgs: extra, consoleInput: input,
                        arch: arch, qemuBinary: qemuBinary, boot: boot, exitDevice: exitDevice, ktap: ktap, inGate: inGate)
        lane.lava = lava
        return lane
    }

    /// `lava-device-type` (default "qemu-os3ctl", a QEMU device type with os3ctl's wrapper) and `lava-tags`: names as LAVA spells them.
    static func parseLAVANeeds(_ r: TOMLReader) throws -> LAVANeeds {
        let type = try r.string("lava-device-type", required: false, default: LAVANeeds.defaultDeviceType)
        guard isLAVAName(type) else {
            throw r.fail("lava-device-type", "LAVA device type '\(excerpt(type))' is not a device type name",
                         fix: "name a device type of the lab (letters, digits, '-', '_', '.'), e.g. \"qemu-os3ctl\"; or leave it out (default \"qemu-os3ctl\")")
        }
        let tags = try r.strings("lava-tags", required: false)
        for tag in tags where !isLAVAName(tag) {
            throw r.fail("lava-tags", "LAVA tag '\(excerpt(tag))' is not a tag name",
                         fix: "use letters, digits, '-', '_' and '.', e.g. lava-tags = [\"kvm\"]")
        }
        var listed = Set<String>()
        for tag in tags where !listed.insert(tag).inserted {
            throw r.fail("lava-tags", "LAVA tag '\(excerpt(tag))' is listed twice", fix: "list each tag once")
        }
        return LAVANeeds(deviceType: type, tags: tags)
    }

    /// Device type and tag names as LAVA's database takes them.
    static func isLAVAName(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.count <= 50 && s.utf8.allSatisfy {
            ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 45 || $0 == 95 || $0 == 46
        }
    }

    /// The `[boot]` table: the method, its images, and the exit device, each checked against the
    /// architecture (no table: direct kernel boot of os3ctl's kernel, as lanes always did).
    static func parseBoot(_ r: TOMLReader, arch: Arch, machine: String, append: String,
                          firmware: String?, succeedsByExitCode: Bool, ownQemuArgs: Bool = false) throws -> (BootMethod, ExitDevice) {
        let profile = arch.profile
        let fallbackDevice = ExitDevice.defaultDevice(arch: arch, succeedsByExitCode: succeedsByExitCode)
        guard let b = try r.subtable("boot", allowed: bootKeys) else { return (.kernel(image: nil, initrd: nil), fallbackDevice) }
        try b.checkUnknownKeys()
        let methodName = try b.string("method", required: false, default: BootMethod.Name.kernel.rawValue)
        guard let method = BootMethod.Name(rawValue: methodName) else {
            throw b.fail("method", "boot method '\(methodName)' is not supported",
                         fix: "use one of: \(BootMethod.Name.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", "))")
        }
        /// An image key's value: a non-empty image name or path.
        func image(_ key: String) throws -> String? {
            guard let value = try b.optionalString(key) else { return nil }
            guard !value.isEmpty else { throw b.fail(key, "'\(key)' is empty", fix: "name an image from the project file or give a path") }
            return value
        }
        // Keys of another method would silently do nothing: refused, saying which method they belong to.
        let owners: [String: BootMethod.Name] = ["kernel": .kernel, "initrd": .kernel, "firmware-code": .uefi,
                                                 "firmware-vars": .uefi, "esp": .uefi, "disk": .disk, "cdrom": .cdrom]
        for key in owners.keys.sorted() where owners[key] != method && b.table[key] != nil {
            throw b.fail(key, "'\(key)' does nothing with boot method \"\(method.rawValue)\"",
                         fix: "remove it, or set method = \"\(owners[key]!.rawValue)\"")
        }
        if method != .kernel, !append.isEmpty {
            throw r.fail("append", "'append' is a kernel command line, which boot method \"\(method.rawValue)\" does not pass",
                         fix: "remove it (the boot loader on the image gives the kernel its command line), or set method = \"kernel\"")
        }
        let boot: BootMethod
        switch method {
        case .kernel:
            boot = .kernel(image: try image("kernel"), initrd: try image("initrd"))
        case .uefi:
            guard let code = try image("firmware-code") else {
                throw b.fail(nil, "boot method \"uefi\" needs the firmware's code (read-only pflash)",
                             fix: "add firmware-code = \"/usr/share/OVMF/OVMF_CODE_4M.fd\" (x86_64, package ovmf) or \"/usr/share/AAVMF/AAVMF_CODE.fd\" (aarch64, qemu-efi-aarch64), and firmware-vars = its VARS file")
            }
            if firmware != nil {
                throw r.fail("firmware", "'firmware' (-bios) and boot method \"uefi\" (pflash) are two firmwares",
                             fix: "remove firmware; the UEFI firmware is [boot] firmware-code")
            }
            let esp = try image("esp")
            boot = .uefi(code: code, varsTemplate: try image("firmware-vars"),
                         esp: esp.map { .init(path: $0, isDirectory: $0.hasSuffix("/")) })
        case .disk:
            guard let disk = try image("disk") else {
                throw b.fail(nil, "boot method \"disk\" needs the disk image", fix: "add disk = \"IMAGE\" (an image name from the project file, or a path)")
            }
            boot = .disk(image: disk)
        case .cdrom:
            guard let iso = try image("cdrom") else {
                throw b.fail(nil, "boot method \"cdrom\" needs the ISO image", fix: "add cdrom = \"IMAGE\" (an image name from the project file, or a path)")
            }
            guard profile.hasBIOSBootOrder else {
                throw b.fail("method", "boot method \"cdrom\" is a BIOS boot, which \(arch.rawValue) does not have",
                             fix: "boot the ISO's EFI system partition with method = \"uefi\", or use arch = \"x86_64\"")
            }
            boot = .cdrom(image: iso)
        }
        var device = fallbackDevice
        if let deviceName = try b.optionalString("exit-device") {
            guard let d = ExitDevice(rawValue: deviceName) else {
                throw b.fail("exit-device", "exit device '\(deviceName)' is not supported",
                             fix: "use one of: \(profile.exitDevices.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")) (on \(arch.rawValue))")
            }
            guard profile.exitDevices.contains(d) else {
                throw b.fail("exit-device", "exit device \"\(d.rawValue)\" does not exist on \(arch.rawValue)",
                             fix: "use one of: \(profile.exitDevices.map { "\"\($0.rawValue)\"" }.joined(separator: ", "))")
            }
            if d == .sifiveTest, machine != "virt", !machine.hasPrefix("virt,") {
                throw b.fail("exit-device", "sifive-test is part of the riscv64 \"virt\" machine, not of '\(machine)'",
                             fix: "use machine = \"virt\", or exit-device = \"semihosting\"")
            }
            // With no exit device QEMU has no way to exit with the code the lane waits for: such a
            // lane could never pass (unless its own qemu-args add a device that can).
            if d == .none, succeedsByExitCode, !ownQemuArgs {
                throw b.fail("exit-device", "with exit-device = \"none\" QEMU cannot exit with the success exit code (\(r.table["success-exit"] == nil ? "33, the default" : "success-exit")), so this lane could never pass",
                             fix: "write success = \"poweroff\" (the guest powers off cleanly), or use one of: \(profile.exitDevices.filter { $0 != .none }.map { "\"\($0.rawValue)\"" }.joined(separator: ", "))")
            }
            device = d
        }
        return (boot, device)
    }

    static func isValidName(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 45 || $0 == 95 }
    }

    /// QEMU `-m` sizes: a number with an optional K/M/G/T suffix (default MiB). Returns MiB.
    public static func parseMemory(_ text: String) -> Int? {
        var digits = text.uppercased()
        var factorKiB = 1024
        if digits.hasSuffix("B") { digits.removeLast() }
        switch digits.last {
        case "K": factorKiB = 1; digits.removeLast()
        case "M": factorKiB = 1024; digits.removeLast()
        case "G": factorKiB = 1024 * 1024; digits.removeLast()
        case "T": factorKiB = 1024 * 1024 * 1024; digits.removeLast()
        default: break
        }
        guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let n = Int(digits) else { return nil }
        let (kib, overflow) = n.multipliedReportingOverflow(by: factorKiB)
        guard !overflow else { return nil }
        return kib / 1024
    }
}
