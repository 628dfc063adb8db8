// PageTable.swift — x86-64 4-level page-table entry encoding, as pure logic.
//
// An entry is a 64-bit word: flag bits 0-11 (and 63 = NX), the physical
// address of the next table or the mapped page in bits 12-51. A large page
// (PS, bit 7) in a PD entry maps 2 MiB (address bits 21-51), in a PDPT entry
// 1 GiB (bits 30-51; only when CPUID 0x80000001 EDX bit 26 says so).

public struct PageTableEntry: Equatable, Sendable {
    public var raw: UInt64

    public init(raw: UInt64) { self.raw = raw }

    public static let present: UInt64 = 1 << 0
    public static let writable: UInt64 = 1 << 1
    public static let user: UInt64 = 1 << 2
    public static let writeThrough: UInt64 = 1 << 3
    public static let cacheDisable: UInt64 = 1 << 4
    public static let accessed: UInt64 = 1 << 5
    public static let dirty: UInt64 = 1 << 6
    public static let largePage: UInt64 = 1 << 7
    public static let global: UInt64 = 1 << 8
    public static let noExecute: UInt64 = 1 << 63

    /// Physical-address bits of a 4 KiB page or a table (bits 12-51).
    public static let addressMask: UInt64 = 0x000F_FFFF_FFFF_F000
    /// Physical-address bits of a 2 MiB page (bits 21-51; bit 12 is PAT there).
    public static let address2MiBMask: UInt64 = 0x000F_FFFF_FFE0_0000
    /// Physical-address bits of a 1 GiB page (bits 30-51).
    public static let address1GiBMask: UInt64 = 0x000F_FFFF_C000_0000

    public static let empty = PageTableEntry(raw: 0)

    /// An entry pointing at the next-level table at `table` (4 KiB aligned).
    public static func table(_ table: UInt64, writable: Bool = true) -> PageTableEntry {
        PageTableEntry(raw: (table & addressMask) | present | (writable ? PageTableEntry.writable : 0))
    }

    /// A 4 KiB page mapping (PT entry).
    public static func page4KiB(_ physical: UInt64, flags: UInt64 = writable) -> PageTableEntry {
        PageTableEntry(raw: (physical & addressMask) | present | (flags & ~addressMask & ~largePage))
    }

    /// A 2 MiB page mapping (PD entry with PS).
    public static func page2MiB(_ physical: UInt64, flags: UInt64 = writable) -> PageTableEntry {
        PageTableEntry(raw: (physical & address2MiBMask) | present | largePage | (flags & ~addressMask))
    }

    /// A 1 GiB page mapping (PDPT entry with PS). Only if the CPU has pdpe1gb.
    public static func page1GiB(_ physical: UInt64, flags: UInt64 = writable) -> PageTableEntry {
        PageTableEntry(raw: (physical & address1GiBMask) | present | largePage | (flags & ~addressMask))
    }

    public var isPresent: Bool { raw & PageTableEntry.present != 0 }
    public var isWritable: Bool { raw & PageTableEntry.writable != 0 }
    public var isLarge: Bool { raw & PageTableEntry.largePage != 0 }
    public var flags: UInt64 { raw & ~PageTableEntry.addressMask }
    /// The next table's (or 4 KiB page's) physical address.
    public var address: UInt64 { raw & PageTableEntry.addressMask }
    public var address2MiB: UInt64 { raw & PageTableEntry.address2MiBMask }
    public var address1GiB: UInt64 { raw & PageTableEntry.address1GiBMask }
}

/// Index of a virtual address in each level (0...511), and canonical checks.
public enum PageTableIndex {
    public static let entriesPerTable = 512

    public static func pml4(_ virtual: UInt64) -> Int { Int(truncatingIfNeeded: (virtual >> 39) & 511) }
    public static func pdpt(_ virtual: UInt64) -> Int { Int(truncatingIfNeeded: (virtual >> 30) & 511) }
    public static func pd(_ virtual: UInt64) -> Int { Int(truncatingIfNeeded: (virtual >> 21) & 511) }
    public static func pt(_ virtual: UInt64) -> Int { Int(truncatingIfNeeded: (virtual >> 12) & 511) }
    public static func pageOffset(_ virtual: UInt64) -> UInt64 { virtual & 0xFFF }

    /// 48-bit canonical: bits 63..47 all equal.
    public static func isCanonical(_ virtual: UInt64) -> Bool {
        let top = virtual >> 47
        return top == 0 || top == 0x1_FFFF
    }

    /// The virtual address made of these indices (sign-extended from bit 47).
    public static func address(pml4: Int, pdpt: Int, pd: Int, pt: Int, offset: UInt64 = 0) -> UInt64 {
        var value = (UInt64(pml4 & 511) << 39) | (UInt64(pdpt & 511) << 30)
        value |= (UInt64(pd & 511) << 21) | (UInt64(pt & 511) << 12) | (offset & 0xFFF)
        if value & (1 << 47) != 0 { value |= 0xFFFF_0000_0000_0000 }
        return value
    }
}

/// How many table pages an identity map of [0, end) with 2 MiB pages needs.
public enum IdentityMapPlan {
    public static let oneGiB: UInt64 = 1 << 30
    public static let bytesPerPML4Entry: UInt64 = 1 << 39

    /// End rounded up to whole GiB (one PD per GiB).
    public static func pageDirectories(end: UInt64) -> Int {
        Int(truncatingIfNeeded: (end &+ oneGiB &- 1) / oneGiB)
    }

    public static func pointerTables(end: UInt64) -> Int {
        Int(truncatingIfNeeded: (end &+ bytesPerPML4Entry &- 1) / bytesPerPML4Entry)
    }

    /// PML4 + PDPTs + PDs.
    public static func tablePages(end: UInt64) -> Int {
        1 + pointerTables(end: end) + pageDirectories(end: end)
    }
}

/// CPUID 0x80000001 EDX bit 26: 1 GiB pages (pdpe1gb).
public func cpuSupports1GiBPages(extendedFeaturesEDX: UInt32) -> Bool {
    extendedFeaturesEDX & (1 << 26) != 0
}
