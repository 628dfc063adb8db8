// Memory.swift — the kernel's physical memory: the frame bitmap built from
// the boot memory map, the kernel's own page tables, and the heap.

typealias BootMemoryMap = MemoryMap<UnsafeBufferPointer<MemoryMapEntry>>

enum KernelMemory {
    nonisolated(unsafe) static var frames: FrameBitmap? = nil
    nonisolated(unsafe) static var heap: KernelHeap? = nil

    static func pointer<T>(_ address: UInt64, to: T.Type) -> UnsafeMutablePointer<T> {
        UnsafeMutablePointer<T>(bitPattern: UInt(address))!
    }

    static func zeroPage(_ address: UInt64) {
        UnsafeMutableRawPointer(bitPattern: UInt(address))!
            .initializeMemory(as: UInt8.self, repeating: 0, count: 4096)
    }

    // MARK: - Frames

    /// Builds the frame bitmap: every usable range of the map is free, then
    /// the kernel image and the bitmap itself are reserved. Prints
    /// `os3: frames ok total=<MiB> usable=<MiB> free=<frames> bitmap=<KiB>K`.
    static func initializeFrames(_ map: BootMemoryMap) {
        let ramEnd = map.ramEnd
        let frameCount = Int(truncatingIfNeeded: ramEnd >> FrameBitmap.frameShift)
        let bitmapBytes = UInt64(FrameBitmap.wordCount(frames: frameCount) * 8)
        let kernelEnd = alignUp(arch_kernel_end(), MemoryBounds.pageSize)
        guard let bitmapAddress = map.firstFit(
            size: alignUp(bitmapBytes, MemoryBounds.pageSize), minimum: kernelEnd,
            maximum: bootIdentityMapEnd)
        else { panic("frames: no room for the frame bitmap below 1 GiB") }
        var bitmap = FrameBitmap(words: pointer(bitmapAddress, to: UInt64.self), frameCount: frameCount)
        var usable = 0
        map.forEachUsableRange { lo, hi in usable += bitmap.releaseUsedRange(from: lo, to: hi) }
        bitmap.reserve(from: arch_kernel_start(), to: kernelEnd)
        bitmap.reserve(from: bitmapAddress, to: bitmapAddress + bitmapBytes)
        frames = bitmap

        Console.write("os3: frames ok total=")
        Console.writeDecimal(map.summary().ramMiB)
        Console.write(" usable=")
        Console.writeDecimal(UInt64(usable) >> 8)
        Console.write(" free=")
        Console.writeDecimal(bitmap.freeFrames)
        Console.write(" bitmap=")
        Console.writeDecimal((bitmapBytes + 1023) >> 10)
        Console.write("K\n")
    }

    static func allocateFrame() -> UInt64 {
        guard let frame = frames!.allocate() else { panic("out of physical frames") }
        return frame
    }

    // MARK: - Heap

    /// Carves the heap (up to 1 MiB, at most half of the free frames) and
    /// its metadata out of the frame bitmap.
    static func initializeHeap() {
        // 1 MiB: every first touch of a page costs milliseconds under nested KVM
        // here, so the heap (and its metadata) stays small.
        let maximumPages = 256
        var pages = min(maximumPages, frames!.freeFrames / 2)
        let metadataFrames = (KernelHeap.metadataSize(pages: pages) + 4095) / 4096
        pages = min(pages, frames!.freeFrames - metadataFrames - 1)
        guard pages > 16, let metadata = frames!.allocate(count: metadataFrames) else {
            panic("heap: not enough memory for a heap")
        }
        guard let base = frames!.allocate(count: pages, alignment: 4 << 20)
            ?? frames!.allocate(count: pages)
        else { panic("heap: no contiguous run for the heap") }
        heap = KernelHeap(
            base: base, pageCount: pages,
            metadata: UnsafeMutableRawPointer(bitPattern: UInt(metadata))!)
    }
}

// MARK: - Page tables

enum KernelPaging {
    static let twoMiB = MemoryBounds.twoMiB
    static let oneGiB: UInt64 = 1 << 30
    /// Device MMIO at the top of the low 4 GiB (mapped uncached).
    static let deviceWindow: UInt64 = 0xFE00_0000

    nonisolated(unsafe) static var tablePool: UInt64 = 0
    nonisolated(unsafe) static var tablePoolUsed = 0
    nonisolated(unsafe) static var tablesUsed = 0

    /// Builds page tables that identity-map every 2 MiB block of RAM
    /// (cacheable) and the device window 0xFE000000-4 GiB (uncached), loads
    /// them and prints `os3: paging ok cr3=0x<hex> above4g=<yes|no>
    /// tables=<n> blocks=<mapped 2 MiB blocks> map=<GiB>G
    /// gib-pages=<absent|present>`. With RAM above 4 GiB the table pages (so
    /// CR3) are placed there.
    static func install(_ map: BootMemoryMap) {
        let extended = cpuid(0x8000_0000).0
        let gibPages = extended >= 0x8000_0001
            && cpuSupports1GiBPages(extendedFeaturesEDX: cpuid(0x8000_0001).3)
        // 1 GiB pages are never used (absent under KVM here): 2 MiB only.

        let ramEnd = map.ramEnd
        let mapEnd = alignUp(max(MemoryBounds.fourGiB, ramEnd), oneGiB)
        let high = ramEnd > MemoryBounds.fourGiB
        if high {
            guard let pool = KernelMemory.frames!.allocate(
                count: 512, alignment: twoMiB, minimum: MemoryBounds.fourGiB)
            else { panic("paging: no 2 MiB of RAM above 4 GiB for the page tables") }
            // Reachable through boot.S's tables until CR3 switches.
            EarlyPaging.identityMap2MiB(pool)
            tablePool = pool
        }

        let pml4 = newTable()
        let directories = IdentityMapPlan.pageDirectories(end: mapEnd)
        var gib = 0
        while gib < directories {
            let pml4Index = gib >> 9
            let pml4Table = KernelMemory.pointer(pml4, to: UInt64.self)
            if !PageTableEntry(raw: pml4Table[pml4Index]).isPresent {
                pml4Table[pml4Index] = PageTableEntry.table(newTable()).raw
            }
            let pdpt = KernelMemory.pointer(PageTableEntry(raw: pml4Table[pml4Index]).address, to: UInt64.self)
            pdpt[gib & 511] = PageTableEntry.table(newTable()).raw
            gib += 1
        }

        var blocks = 0
        /// Writes 2 MiB entries for [from, to) (2 MiB aligned), one
        /// unrolled assembly loop per directory (every ring-0 instruction
        /// is emulated in the kvm lanes).
        func fill(_ from: UInt64, _ to: UInt64, cached: Bool) {
            let flags = PageTableEntry.writable
                | (cached ? 0 : PageTableEntry.cacheDisable | PageTableEntry.writeThrough)
            let pml4Table = KernelMemory.pointer(pml4, to: UInt64.self)
            var at = from
            while at < to {
                let pdpt = KernelMemory.pointer(
                    PageTableEntry(raw: pml4Table[PageTableIndex.pml4(at)]).address, to: UInt64.self)
                let pd = KernelMemory.pointer(
                    PageTableEntry(raw: pdpt[PageTableIndex.pdpt(at)]).address, to: UInt64.self)
                let stop = min(to, alignDown(at, oneGiB) + oneGiB)
                let count = (stop - at) / twoMiB
                arch_fill_entries(
                    pd + PageTableIndex.pd(at), PageTableEntry.page2MiB(at, flags: flags).raw, twoMiB, count)
                at = stop
            }
        }
        // Every RAM block (cacheable), and the device window at the top of
        // the low 4 GiB uncached: 0xFE000000-0xFFFFFFFF holds the IOAPIC,
        // HPET, the local APICs and microvm's virtio-mmio slots on both
        // machine types. The rest of the low 4 GiB (PCI holes) stays
        // unmapped: each entry written costs emulated instructions in the kvm
        // lanes, and nothing here uses PCI.
        fill(deviceWindow, MemoryBounds.fourGiB, cached: false)
        blocks = Int((MemoryBounds.fourGiB - deviceWindow) / twoMiB)
        map.forEachRegion { region in
            guard region.kind == .ram else { return }
            let lo = alignDown(region.base, twoMiB)
            let hi = alignUp(region.end, twoMiB)
            fill(lo, hi, cached: true)
            blocks += Int((hi - lo) / twoMiB)
        }

        if high {
            // Give back the pool pages the tables did not need.
            let spare = 512 - tablePoolUsed
            if spare > 0 {
                _ = KernelMemory.frames!.free(tablePool + UInt64(tablePoolUsed) * 4096, count: spare)
            }
        }
        arch_write_cr3(pml4)
        let cr3 = arch_read_cr3()
        guard cr3 & PageTableEntry.addressMask == pml4 else { panic("paging: CR3 read back differs") }

        Console.write("os3: paging ok cr3=")
        Console.writeHex(cr3)
        Console.write(high ? " above4g=yes" : " above4g=no")
        Console.write(" tables=")
        Console.writeDecimal(tablesUsed)
        Console.write(" blocks=")
        Console.writeDecimal(blocks)
        Console.write(" map=")
        Console.writeDecimal(mapEnd >> 30)
        Console.write(gibPages ? "G gib-pages=present\n" : "G gib-pages=absent\n")
    }

    /// A zeroed table page: from the high pool when there is one.
    private static func newTable() -> UInt64 {
        let page: UInt64
        if tablePool != 0 {
            guard tablePoolUsed < 512 else { panic("paging: page-table pool exhausted") }
            page = tablePool + UInt64(tablePoolUsed) * 4096
            tablePoolUsed += 1
        } else {
            page = KernelMemory.allocateFrame()
        }
        KernelMemory.zeroPage(page)
        tablesUsed += 1
        return page
    }
}
