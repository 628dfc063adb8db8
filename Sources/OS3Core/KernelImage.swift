/// Whether the first bytes of a file look like a kernel QEMU's direct kernel boot (`-kernel`) can
/// load on an architecture: checked before QEMU starts, so a wrong `--kernel` (a disk image, a
/// script, an object file's neighbour) is a clear input error, not a boot that "fails" on evidence
/// it never had a chance to produce.
public enum KernelImage {
    /// How many leading bytes `problem` reads (a Multiboot header lies wholly in the first 8 KiB).
    public static let headerSize = 8192

    /// What a `-kernel` image for `arch` must be, as a message says it.
    public static func expected(for arch: Arch) -> String {
        switch arch {
        case .x86_64: "an ELF with a PVH note or Multiboot header, a Linux bzImage, or a Multiboot kernel"
        case .aarch64: "an ELF, a Linux Image, a U-Boot image or a raw binary"
        case .riscv64: "an ELF, a Linux Image, a U-Boot image or a raw binary"
        }
    }

    /// Why `header` (the file's first bytes, at most `headerSize`; `size` the whole file's) cannot be
    /// a `-kernel` image for `arch`, or nil if it can. aarch64 and riscv64 QEMU also load raw
    /// binaries, so only an empty file is refused there.
    public static func problem(header: [UInt8], size: Int, arch: Arch) -> String? {
        guard size > 0 else { return "it is empty" }
        guard arch == .x86_64 else { return nil }
        if header.starts(with: [0x7F, 0x45, 0x4C, 0x46]) { return nil }  // ELF
        // Linux boot protocol: "HdrS" at 0x202.
        if header.count >= 0x206, Array(header[0x202..<0x206]) == Array("HdrS".utf8) { return nil }
        // Multiboot (1): magic 0x1BADB002, 4-aligned, wholly in the first 8192 bytes, with a
        // checksum that makes magic + flags + checksum 0.
        var offset = 0
        while offset + 12 <= min(header.count, 8192) {
            if word(header, offset) == 0x1BAD_B002, word(header, offset) &+ word(header, offset + 4) &+ word(header, offset + 8) == 0 { return nil }
            offset += 4
        }
        let start = header.prefix(8).map { b in String(b, radix: 16).count == 1 ? "0" + String(b, radix: 16) : String(b, radix: 16) }
        let text = header.prefix(8).allSatisfy { $0 >= 0x20 && $0 < 0x7F } ? " (\"\(String(decoding: header.prefix(8), as: UTF8.self))\")" : ""
        return "it starts with \(start.joined(separator: " "))\(text): no ELF, bzImage or Multiboot header"
    }

    private static func word(_ bytes: [UInt8], _ at: Int) -> UInt32 {
        UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24
    }
}
