// EarlyPaging.swift — extend boot.S's identity map before a frame allocator
// exists. Table pages come from the spare pool in boot.S, so this only
// works while the active tables (and the pool) live below 1 GiB, where
// boot.S identity-mapped them. Replaced once the kernel owns its tables.

enum EarlyPaging {
    static let present: UInt64 = 1 << 0
    static let writable: UInt64 = 1 << 1
    static let largePage: UInt64 = 1 << 7
    static let addressMask: UInt64 = 0x000F_FFFF_FFFF_F000

    nonisolated(unsafe) private static var sparePagesUsed = 0

    /// Identity-maps the 2 MiB page containing `address` (read/write,
    /// supervisor). Idempotent if it is already mapped by a 2 MiB page.
    static func identityMap2MiB(_ address: UInt64) {
        let page = address & ~(MemoryBounds.twoMiB - 1)
        let pml4 = arch_read_cr3() & addressMask
        let pdpt = nextLevel(of: pml4, index: Int((page >> 39) & 511))
        let pd = nextLevel(of: pdpt, index: Int((page >> 30) & 511))
        let entry = table(pd) + Int((page >> 21) & 511)
        entry.pointee = page | largePage | writable | present
        arch_invlpg(page)
    }

    private static func table(_ physical: UInt64) -> UnsafeMutablePointer<UInt64> {
        guard physical < bootIdentityMapEnd,
            let pointer = UnsafeMutablePointer<UInt64>(bitPattern: UInt(physical))
        else { panic("early paging: page table outside the boot identity map") }
        return pointer
    }

    /// The table that entry `index` of `parent` points to, taking a spare
    /// page if the entry is empty.
    private static func nextLevel(of parent: UInt64, index: Int) -> UInt64 {
        let entry = table(parent) + index
        let value = entry.pointee
        if value & present != 0 {
            if value & largePage != 0 { panic("early paging: 1 GiB page in the way") }
            return value & addressMask
        }
        guard sparePagesUsed < bootSpareTableCount else {
            panic("early paging: out of spare page-table pages")
        }
        let fresh = arch_boot_spare_tables() + UInt64(sparePagesUsed) * MemoryBounds.pageSize
        sparePagesUsed += 1
        KernelMemory.zeroPage(fresh)  // .noinit: not zeroed at boot
        entry.pointee = fresh | writable | present
        return fresh
    }
}
