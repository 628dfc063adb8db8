/// `kernel/build.toml`: how the kernel image is compiled and linked (docs/KERNEL.md).
public struct KernelBuildConfig: Sendable, Equatable {
    public var output: String
    public var swiftSources: [String]
    public var swiftFlags: [String]
    public var asmSources: [String]
    public var asmFlags: [String]
    public var linkerScript: String
    public var linkFlags: [String]

    static let keys = ["output", "swift-sources", "swift-flags", "asm-sources", "asm-flags", "linker-script", "link-flags"]

    public static func parse(file: String, text: String) throws -> KernelBuildConfig {
        try parse(file: file, bytes: Array(text.utf8))
    }

    /// Parses kernel/build.toml as read from disk (bytes that must be UTF-8).
    public static func parse(file: String, bytes: [UInt8]) throws -> KernelBuildConfig {
        let doc = try TOMLDocument(file: file, bytes: bytes, code: .buildFailed)
        let r = TOMLReader(document: doc, table: doc.table, section: "", code: .buildFailed, allowedKeys: keys)
        try r.checkUnknownKeys()
        let config = KernelBuildConfig(output: try r.string("output"), swiftSources: try r.strings("swift-sources"),
                                       swiftFlags: try r.strings("swift-flags"), asmSources: try r.strings("asm-sources"),
                                       asmFlags: try r.strings("asm-flags", required: false),
                                       linkerScript: try r.string("linker-script"), linkFlags: try r.strings("link-flags", required: false))
        for dir in config.swiftSources + config.asmSources + [config.linkerScript, config.output] where dir.hasPrefix("/") || dir.contains("..") {
            throw r.fail(nil, "'\(dir)' must be a path inside kernel/", fix: "use a relative path without '..'")
        }
        return config
    }
}

/// FNV-1a, 64 bit: a fingerprint to notice that a source or flag changed (not a security hash).
public struct Fingerprint: Sendable {
    public private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    public init() {}

    public mutating func add(_ bytes: UnsafeRawBufferPointer) {
        var h = value
        for b in bytes {
            h ^= UInt64(b)
            h &*= 0x0000_0100_0000_01b3
        }
        value = h
    }

    public mutating func add(_ string: String) {
        var s = string + "\u{0}"
        s.withUTF8 { add(UnsafeRawBufferPointer($0)) }
    }

    public var hex: String {
        let s = String(value, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}
