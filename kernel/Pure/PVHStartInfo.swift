// PVHStartInfo.swift — `struct hvm_start_info` (Xen PVH boot ABI) read from bytes.
//
// Layout (little-endian): magic u32 @0 (0x336ec578), version u32 @4,
// flags u32 @8, nr_modules u32 @12, modlist_paddr u64 @16,
// cmdline_paddr u64 @24, rsdp_paddr u64 @32, memmap_paddr u64 @40 and
// memmap_entries u32 @48 (the memmap fields exist from version 1 on).

public struct PVHStartInfo: Equatable, Sendable {
    public static let magicValue: UInt32 = 0x336e_c578
    /// Bytes to read for a version-1 structure.
    public static let size = 56

    public var magic: UInt32
    public var version: UInt32
    public var flags: UInt32
    public var moduleCount: UInt32
    public var moduleListAddress: UInt64
    public var commandLineAddress: UInt64
    public var rsdpAddress: UInt64
    public var memoryMapAddress: UInt64
    public var memoryMapEntryCount: UInt32

    /// Parses the first `PVHStartInfo.size` bytes; `nil` if fewer are given
    /// or the magic is wrong. Version-0 structures report no memory map.
    public init?(bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= PVHStartInfo.size else { return nil }
        func u32(_ offset: Int) -> UInt32 {
            var value: UInt32 = 0
            var i = 3
            while i >= 0 {
                value = (value << 8) | UInt32(bytes[offset &+ i])
                i -= 1
            }
            return value
        }
        func u64(_ offset: Int) -> UInt64 {
            UInt64(u32(offset)) | (UInt64(u32(offset &+ 4)) << 32)
        }
        magic = u32(0)
        guard magic == PVHStartInfo.magicValue else { return nil }
        version = u32(4)
        flags = u32(8)
        moduleCount = u32(12)
        moduleListAddress = u64(16)
        commandLineAddress = u64(24)
        rsdpAddress = u64(32)
        if version >= 1 {
            memoryMapAddress = u64(40)
            memoryMapEntryCount = u32(48)
        } else {
            memoryMapAddress = 0
            memoryMapEntryCount = 0
        }
    }
}
