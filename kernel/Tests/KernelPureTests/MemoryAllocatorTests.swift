import Testing
@testable import KernelPure

/// A heap over a simulated address space: the allocator never touches the
/// managed range, only its separate metadata buffer.
private final class SimulatedHeap {
    let metadata: UnsafeMutableRawPointer
    var heap: KernelHeap
    init(base: UInt64, pages: Int) {
        metadata = UnsafeMutableRawPointer.allocate(byteCount: KernelHeap.metadataSize(pages: pages), alignment: 16)
        heap = KernelHeap(base: base, pageCount: pages, metadata: metadata)
    }
    deinit { metadata.deallocate() }
    func free(_ address: UInt64) -> HeapFreeResult { heap.free(address) }
    func allocate(size: Int, alignment: Int = 16) -> UInt64? { heap.allocate(size: size, alignment: alignment) }
    func allocatePages(order: Int) -> UInt64? { heap.allocatePages(order: order) }
}

private final class SimulatedFrames {
    let words: UnsafeMutablePointer<UInt64>
    var frames: FrameBitmap
    init(frames count: Int) {
        words = .allocate(capacity: FrameBitmap.wordCount(frames: count))
        frames = FrameBitmap(words: words, frameCount: count)
    }
    deinit { words.deallocate() }
    func free(_ address: UInt64, count: Int = 1) -> Bool { frames.free(address, count: count) }
    func allocate() -> UInt64? { frames.allocate() }
    func allocate(count: Int, alignment: UInt64, minimum: UInt64 = 0) -> UInt64? {
        frames.allocate(count: count, alignment: alignment, minimum: minimum)
    }
    @discardableResult func releaseUsedRange(from: UInt64, to: UInt64) -> Int { frames.releaseUsedRange(from: from, to: to) }
    func reserve(from: UInt64, to: UInt64) -> Int { frames.reserve(from: from, to: to) }
}

private struct Live { var address: UInt64; var size: UInt64 }

/// No two live blocks overlap (sorted sweep).
private func assertDisjoint(_ live: [Live]) -> Bool {
    let sorted = live.sorted { $0.address < $1.address }
    var i = 1
    while i < sorted.count {
        if sorted[i - 1].address + sorted[i - 1].size > sorted[i].address { return false }
        i += 1
    }
    return true
}

@Suite("Kernel heap (buddy + slab)")
struct KernelHeapTests {
    @Test("seeding covers every page with naturally aligned blocks")
    func seeding() {
        for (base, pages) in [(UInt64(0x40_0000), 256), (0x1_0000_3000, 1000), (0x12c000, 107)] {
            let sim = SimulatedHeap(base: base, pages: pages)
            #expect(sim.heap.freePages == pages)
            #expect(sim.heap.liveObjects == 0)
        }
    }

    @Test("size classes and page orders")
    func classes() {
        #expect(KernelHeap.slabClass(size: 1, alignment: 1) == 0)
        #expect(KernelHeap.slabClass(size: 17, alignment: 8) == 1)
        #expect(KernelHeap.slabClass(size: 24, alignment: 64) == 2)
        #expect(KernelHeap.slabClass(size: 2048, alignment: 16) == 7)
        #expect(KernelHeap.slabClass(size: 2049, alignment: 16) == nil)
        #expect(KernelHeap.pageOrder(size: 4097, alignment: 16) == 1)
        #expect(KernelHeap.pageOrder(size: 100, alignment: 16384) == 2)
        #expect(KernelHeap.pageOrder(size: 5 << 20, alignment: 16) == nil)
    }

    @Test("double free, interior and foreign pointers are reported")
    func doubleFree() {
        let sim = SimulatedHeap(base: 0x80_0000, pages: 64)
        let object = sim.allocate(size: 40)!
        let block = sim.allocatePages(order: 2)!
        #expect(sim.free(block + 4096) == .invalid)
        #expect(sim.free(object + 8) == .invalid)
        #expect(sim.free(0x10) == .invalid)
        #expect(sim.free(object) == .freed)
        #expect(sim.free(object) == .doubleFree)
        #expect(sim.free(block) == .freed)
        #expect(sim.free(block) == .doubleFree)
        #expect(sim.free(block + 4096) == .doubleFree)  // inside a merged free block
        #expect(sim.heap.freePages == 64)
    }

    @Test("exhaustion returns nil, not a crash, and everything comes back")
    func exhaustion() {
        let sim = SimulatedHeap(base: 0x20_0000, pages: 37)
        var pages: [UInt64] = []
        while let page = sim.allocatePages(order: 0) { pages.append(page) }
        #expect(pages.count == 37)
        #expect(sim.allocate(size: 16) == nil)
        #expect(sim.allocate(size: 8192) == nil)
        for page in pages { #expect(sim.free(page) == .freed) }
        var objects: [UInt64] = []
        while let object = sim.allocate(size: 100) { objects.append(object) }
        #expect(objects.count == 37 * (4096 / 128))
        for object in objects { #expect(sim.free(object) == .freed) }
        #expect(sim.heap.freePages == 37 && sim.heap.liveObjects == 0 && sim.heap.slabPages == 0)
    }

    @Test("randomized alloc/free: disjoint, aligned, sized, conserved", arguments: [1, 2, 3, 4, 5, 6, 7, 8])
    func randomized(seed: UInt64) {
        var random = SplitMix64(seed: seed &* 0x9E37_79B9)
        let pages = 64 + random.next(below: 600)
        let base = UInt64(0x1_0000_0000) + UInt64(random.next(below: 1000)) * 4096
        let sim = SimulatedHeap(base: base, pages: pages)
        var live: [Live] = []
        var round = 0
        while round < 3000 {
            if !live.isEmpty && random.next(below: 100) < 45 {
                let victim = live.remove(at: random.next(below: live.count))
                #expect(sim.free(victim.address) == .freed)
                if random.next(below: 20) == 0 {
                    #expect(sim.free(victim.address) != .freed)
                }
            } else {
                let big = random.next(below: 5) == 0
                let size = big ? 1 + random.next(below: 40_000) : 1 + random.next(below: 2048)
                let alignment = 1 << random.next(below: big ? 15 : 12)
                if let address = sim.allocate(size: size, alignment: alignment) {
                    #expect(address % UInt64(alignment) == 0)
                    #expect(address >= sim.heap.base && address + UInt64(size) <= sim.heap.end)
                    let usable = sim.heap.allocationSize(address)!
                    #expect(usable >= size)
                    live.append(Live(address: address, size: UInt64(usable)))
                }
            }
            if round % 500 == 0 { #expect(assertDisjoint(live)) }
            round += 1
        }
        #expect(assertDisjoint(live))
        var usedPages = 0
        for block in live where block.size >= 4096 { usedPages += Int(block.size / 4096) }
        #expect(sim.heap.allocatedBlockPages == usedPages)
        #expect(sim.heap.freePages + sim.heap.allocatedBlockPages + sim.heap.slabPages == pages)
        for block in live.shuffled(using: &random) { #expect(sim.free(block.address) == .freed) }
        #expect(sim.heap.freePages == pages)
        #expect(sim.heap.liveObjects == 0 && sim.heap.freeObjectSlots == 0 && sim.heap.slabPages == 0)
        // Fully merged again: the largest block is available.
        #expect(sim.allocate(size: 4096 << min(KernelHeap.maxOrder, 5)) != nil || pages < 64)
    }
}

extension SplitMix64: RandomNumberGenerator {}

@Suite("Frame bitmap")
struct FrameBitmapTests {
    @Test("seeding from ranges, reserve, single and contiguous allocation")
    func basics() {
        let sim = SimulatedFrames(frames: 4096)
        #expect(sim.frames.freeFrames == 0)
        #expect(sim.releaseUsedRange(from: 0x10_0000, to: 0x80_0000) == 0x700)
        #expect(sim.releaseUsedRange(from: 0x90_0001, to: 0xA0_0000) == 0xFF)
        #expect(sim.reserve(from: 0x10_0000, to: 0x12_3456) == 0x24)
        #expect(sim.frames.freeFrames == 0x700 + 0xFF - 0x24)
        #expect(sim.allocate() == 0x12_4000)
        let run = sim.allocate(count: 512, alignment: 0x20_0000)
        #expect(run == 0x20_0000)
        #expect(sim.free(run!, count: 512))
        #expect(!sim.free(run!, count: 1))  // double free
        #expect(sim.allocate(count: 512, alignment: 0x20_0000, minimum: 0x80_0000) == nil)
    }

    @Test("randomized: allocations are distinct, frees restore the count", arguments: [11, 12, 13])
    func randomized(seed: UInt64) {
        var random = SplitMix64(seed: seed)
        let sim = SimulatedFrames(frames: 3000)
        sim.releaseUsedRange(from: 4096 * 7, to: 4096 * 2900)
        let baseline = sim.frames.freeFrames
        var live = Set<UInt64>()
        var i = 0
        while i < 5000 {
            if !live.isEmpty && random.next(below: 2) == 0 {
                let frame = live.randomElement(using: &random)!
                live.remove(frame)
                #expect(sim.free(frame))
                #expect(!sim.free(frame))
            } else if let frame = sim.allocate() {
                #expect(!live.contains(frame))
                #expect(frame >= 4096 * 7 && frame < 4096 * 2900)
                live.insert(frame)
            }
            i += 1
        }
        for frame in live { #expect(sim.free(frame)) }
        #expect(sim.frames.freeFrames == baseline)
        var drained = 0
        while sim.allocate() != nil { drained += 1 }
        #expect(drained == baseline && sim.allocate() == nil)
    }
}

@Suite("Page tables and descriptors")
struct PagingEncodingTests {
    @Test("entry encoding: flags, masks, large pages")
    func entries() {
        let table = PageTableEntry.table(0x1_0000_3000)
        #expect(table.raw == 0x1_0000_3003 && table.isPresent && table.isWritable && !table.isLarge)
        let big = PageTableEntry.page2MiB(0x4_3FE0_0000, flags: PageTableEntry.writable | PageTableEntry.cacheDisable)
        #expect(big.raw == 0x4_3FE0_0093 && big.isLarge && big.address2MiB == 0x4_3FE0_0000)
        #expect(PageTableEntry.page2MiB(0x20_1234).address2MiB == 0x20_0000)
        #expect(PageTableEntry.page4KiB(0xABC_D123).raw == 0xABC_D003)
        #expect(PageTableEntry.page1GiB(0x4000_0000).raw == 0x4000_0083)
        #expect(PageTableEntry(raw: 0x8000_0000_0000_1063).address == 0x1000)
    }

    @Test("index extraction round-trips, canonical addresses")
    func indices() {
        let address: UInt64 = 0x0000_7E57_0000_0ACE
        #expect(PageTableIndex.pml4(address) == 252)
        let back = PageTableIndex.address(
            pml4: PageTableIndex.pml4(address), pdpt: PageTableIndex.pdpt(address),
            pd: PageTableIndex.pd(address), pt: PageTableIndex.pt(address), offset: address & 0xFFF)
        #expect(back == address)
        #expect(PageTableIndex.address(pml4: 511, pdpt: 0, pd: 0, pt: 0) == 0xFFFF_FF80_0000_0000)
        #expect(PageTableIndex.isCanonical(0xFFFF_8000_0000_0000) && !PageTableIndex.isCanonical(0x8000_0000_0000))
        #expect(IdentityMapPlan.tablePages(end: 17 << 30) == 19)
        #expect(IdentityMapPlan.tablePages(end: 4 << 30) == 6)
        #expect(!cpuSupports1GiBPages(extendedFeaturesEDX: 0x2810_0800) && cpuSupports1GiBPages(extendedFeaturesEDX: 1 << 26))
    }

    @Test("IDT gates and the TSS descriptor")
    func descriptors() {
        let gate = GateDescriptor(handler: 0xFFFF_8000_0010_2340, selector: 0x08, ist: 1)
        #expect(GateDescriptor(decoding: gate.encoded) == gate)
        #expect(gate.encoded.low == 0x0010_8E01_0008_2340)
        let tss = SegmentDescriptor.tss(base: 0x11_C240, limit: 103)
        #expect(tss.low == 0x0000_8911_C240_0067 && tss.high == 0)
        #expect((0..<32).filter(exceptionHasErrorCode) == [8, 10, 11, 12, 13, 14, 17, 21, 29, 30])
    }
}
