/// A lane: one way of booting the kernel (accelerator, machine, memory, CPUs, command line),
/// the markers it requires, and how long it may take. One TOML file in `lanes/` each.
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
                firmware: String? = nil, qemuArgs: [String] = [], consoleInput: ConsoleInput? = nil) throws {
        self.name = name
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
    }

    static let keys = ["description", "accelerator", "machine", "memory", "cpus", "cpu", "append", "markers",
                       "success-exit", "success", "timeouts", "firmware", "qemu-args", "console-input"]
    static let timeoutKeys = ["total", "idle"]
    static let inputKeys = ["after", "text"]

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
        let machine = try r.string("machine")
        guard !machine.isEmpty, !machine.hasPrefix("-") else {
            throw r.fail("machine", "machine must name a QEMU machine type", fix: "e.g. \"microvm\" or \"q35\"")
        }
        let memory = try r.string("memory")
        guard let mib = parseMemory(memory) else {
            throw r.fail("memory", "memory '\(excerpt(memory))' is not a size QEMU understands", fix: "write a number with M or G, e.g. \"256M\" or \"16G\"")
        }
        guard mib >= 1 else { throw r.fail("memory", "memory must be at least 1 MiB", fix: "e.g. \"32M\"") }
        let cpus = try r.int("cpus", range: 1...288)
        let cpu = try r.string("cpu")
        guard !cpu.isEmpty, !cpu.hasPrefix("-") else { throw r.fail("cpu", "cpu must name a CPU model", fix: "e.g. \"qemu64\" or \"host,-arch-capabilities\"") }
        let append = try r.string("append", required: false)
        let markers = try r.strings("markers")
        guard !markers.isEmpty else {
            throw r.fail("markers", "a lane must require at least one marker file",
                         fix: "list marker files from markers/, e.g. markers = [\"boot\"]: a lane that checks nothing cannot pass honestly")
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
        return try Lane(name: name, file: file, description: try r.string("description", required: false),
                        accelerator: accel, machine: machine, memory: memory, cpus: cpus, cpuModel: cpu,
                        append: append, markerFiles: markers, success: success,
                        totalTimeout: total, idleTimeout: idle, firmware: firmware, qemuArgs: extra, consoleInput: input)
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
