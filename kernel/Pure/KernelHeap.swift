// KernelHeap.swift — the kernel heap: a buddy allocator for page blocks and
// slab caches for small objects, as pure logic.
//
// It manages an abstract range of `pageCount` 4 KiB pages at `base` and never
// reads or writes that range: every piece of bookkeeping (free lists, block
// heads, slab occupancy bitmaps) lives in a separate metadata buffer the
// caller provides (`metadataSize(pages:)` bytes). So the host tests run it
// over a simulated address space, and in the kernel a stray write into a
// heap block cannot corrupt the allocator.
//
// Buddy: blocks of 2^order pages (order 0...maxOrder), naturally aligned in
// ABSOLUTE page-frame numbers, so a block of order k is (4096 << k)-aligned
// whatever `base` is. Free blocks sit on doubly linked lists per order.
// Slabs: size classes 16, 32, ... 2048 bytes; one slab is one page, objects at
// multiples of the class size (so aligned to it); a per-page bitmap says
// which are live. Empty slab pages go straight back to the buddy allocator.
// Double frees and pointers the heap never handed out are reported, not
// followed.

public enum HeapFreeResult: Equatable, Sendable {
    case freed
    /// The block or object is already free.
    case doubleFree
    /// Not an address this heap handed out (outside, misaligned, interior).
    case invalid
}

public struct KernelHeap {
    public static let pageSize = 4096
    public static let pageShift: UInt64 = 12
    public static let maxOrder = 10
    public static let slabClassCount = 8
    public static let smallestObject = 16
    public static let largestObject = 2048

    static let headerSize = 128
    static let recordSize = 48
    static let partialOffset = 64

    // record layout
    static let kindOffset = 0  // UInt8
    static let orderOffset = 1  // UInt8: buddy order, or slab class
    static let inUseOffset = 2  // UInt16: slab objects live
    static let nextOffset = 4  // UInt32: page index + 1, 0 = none
    static let prevOffset = 8  // UInt32
    static let bitmapOffset = 16  // 4 x UInt64

    static let kindNone: UInt8 = 0  // not a block head
    static let kindFree: UInt8 = 1
    static let kindAllocated: UInt8 = 2
    static let kindSlab: UInt8 = 3

    public let base: UInt64
    public let pageCount: Int
    let metadata: UnsafeMutableRawPointer
    let basePFN: UInt64

    /// Pages on the buddy free lists.
    public private(set) var freePages: Int
    /// Pages handed out as page blocks (not slabs).
    public private(set) var allocatedBlockPages: Int
    /// Pages currently used as slabs.
    public private(set) var slabPages: Int
    /// Live small objects.
    public private(set) var liveObjects: Int
    /// Free object slots inside slab pages.
    public private(set) var freeObjectSlots: Int

    public static func metadataSize(pages: Int) -> Int { headerSize + pages * recordSize }

    /// `base` must be 4 KiB aligned; `metadata` must hold
    /// `metadataSize(pages: pageCount)` bytes (overwritten).
    public init(base: UInt64, pageCount: Int, metadata: UnsafeMutableRawPointer) {
        precondition(base & 0xFFF == 0 && pageCount >= 0 && pageCount < Int(UInt32.max))
        self.base = base
        self.pageCount = pageCount
        self.metadata = metadata
        self.basePFN = base >> KernelHeap.pageShift
        freePages = 0
        allocatedBlockPages = 0
        slabPages = 0
        liveObjects = 0
        freeObjectSlots = 0
        metadata.initializeMemory(as: UInt8.self, repeating: 0, count: KernelHeap.metadataSize(pages: pageCount))
        // Seed: the largest naturally aligned blocks that fit.
        var index = 0
        while index < pageCount {
            var order = KernelHeap.maxOrder
            while order > 0 {
                let pfn = basePFN &+ UInt64(index)
                if pfn & ((1 << UInt64(order)) - 1) == 0 && index + (1 << order) <= pageCount { break }
                order -= 1
            }
            pushFree(index, order: order)
            freePages &+= 1 &<< order
            index &+= 1 &<< order
        }
    }

    public var end: UInt64 { base &+ (UInt64(pageCount) << KernelHeap.pageShift) }

    public func contains(_ address: UInt64) -> Bool { address >= base && address < end }

    // MARK: - Public allocation

    /// Size class index for a small request, or nil if it needs pages.
    public static func slabClass(size: Int, alignment: Int) -> Int? {
        let need = max(size, alignment, smallestObject)
        guard need <= largestObject else { return nil }
        var klass = 0
        while (smallestObject &<< klass) < need { klass &+= 1 }
        return klass
    }

    public static func objectSize(slabClass: Int) -> Int { smallestObject &<< slabClass }

    /// Smallest buddy order whose block holds `size` bytes aligned to `alignment`.
    public static func pageOrder(size: Int, alignment: Int) -> Int? {
        let need = max(size, alignment, 1)
        var order = 0
        while (pageSize &<< order) < need {
            order &+= 1
            if order > maxOrder { return nil }
        }
        return order
    }

    /// `size` bytes aligned to `alignment` (a power of two): a slab object up
    /// to 2048 bytes, else a buddy block. nil when the heap cannot satisfy it.
    public mutating func allocate(size: Int, alignment: Int = 16) -> UInt64? {
        guard size >= 0, alignment > 0, alignment & (alignment &- 1) == 0 else { return nil }
        if let klass = KernelHeap.slabClass(size: size, alignment: alignment) {
            return allocateObject(slabClass: klass)
        }
        guard let order = KernelHeap.pageOrder(size: size, alignment: alignment) else { return nil }
        return allocatePages(order: order)
    }

    /// A block of 2^order pages, aligned to its size.
    public mutating func allocatePages(order: Int) -> UInt64? {
        guard let index = takeBlock(order: order) else { return nil }
        allocatedBlockPages &+= 1 &<< order
        return address(of: index)
    }

    /// Frees what `allocate`/`allocatePages` returned.
    public mutating func free(_ address: UInt64) -> HeapFreeResult {
        guard contains(address) else { return .invalid }
        let index = Int(truncatingIfNeeded: (address &- base) >> KernelHeap.pageShift)
        let offset = Int(truncatingIfNeeded: address & 0xFFF)
        switch kind(index) {
        case KernelHeap.kindSlab:
            return freeObject(page: index, offset: offset)
        case KernelHeap.kindAllocated:
            guard offset == 0 else { return .invalid }
            let order = self.order(index)
            allocatedBlockPages &-= 1 &<< order
            releaseBlock(index, order: order)
            return .freed
        case KernelHeap.kindFree:
            return .doubleFree
        default:
            // Inside some block: inside a free one means it was freed (and merged).
            return insideFreeBlock(index) ? .doubleFree : .invalid
        }
    }

    /// Usable bytes of a live allocation (nil if `address` is not one).
    public func allocationSize(_ address: UInt64) -> Int? {
        guard contains(address) else { return nil }
        let index = Int(truncatingIfNeeded: (address &- base) >> KernelHeap.pageShift)
        let offset = Int(truncatingIfNeeded: address & 0xFFF)
        switch kind(index) {
        case KernelHeap.kindSlab:
            let size = KernelHeap.objectSize(slabClass: order(index))
            guard offset % size == 0, slabBit(index, offset / size) else { return nil }
            return size
        case KernelHeap.kindAllocated:
            return offset == 0 ? KernelHeap.pageSize &<< order(index) : nil
        default:
            return nil
        }
    }

    /// Free pages in blocks of each order (for diagnostics).
    public func freeBlocks(order: Int) -> Int {
        var n = 0
        var link = head(order)
        while link != 0 {
            n &+= 1
            link = next(link &- 1)
        }
        return n
    }

    // MARK: - Slabs

    mutating func allocateObject(slabClass klass: Int) -> UInt64? {
        let size = KernelHeap.objectSize(slabClass: klass)
        let perSlab = KernelHeap.pageSize / size
        var link = partialHead(klass)
        if link == 0 {
            guard let page = takeBlock(order: 0) else { return nil }
            setKind(page, KernelHeap.kindSlab)
            setOrder(page, klass)
            setInUse(page, 0)
            var w = 0
            while w < 4 {
                metadata.storeBytes(of: 0, toByteOffset: recordOffset(page) &+ KernelHeap.bitmapOffset &+ w &* 8, as: UInt64.self)
                w &+= 1
            }
            slabPages &+= 1
            freeObjectSlots &+= perSlab
            pushPartial(page, klass: klass)
            link = page &+ 1
        }
        let page = link &- 1
        // first clear bit
        var slot = -1
        var w = 0
        while w < 4 && slot < 0 {
            let word = metadata.load(fromByteOffset: recordOffset(page) &+ KernelHeap.bitmapOffset &+ w &* 8, as: UInt64.self)
            if word != UInt64.max {
                let bit = (~word).trailingZeroBitCount
                if w &* 64 &+ bit < perSlab { slot = w &* 64 &+ bit }
                break
            }
            w &+= 1
        }
        guard slot >= 0 else { return nil }  // cannot happen: a partial slab has room
        setSlabBit(page, slot, true)
        let inUse = self.inUse(page) &+ 1
        setInUse(page, inUse)
        if inUse == perSlab { removePartial(page, klass: klass) }
        liveObjects &+= 1
        freeObjectSlots &-= 1
        return address(of: page) &+ UInt64(slot &* size)
    }

    mutating func freeObject(page: Int, offset: Int) -> HeapFreeResult {
        let klass = order(page)
        let size = KernelHeap.objectSize(slabClass: klass)
        let perSlab = KernelHeap.pageSize / size
        guard offset % size == 0 else { return .invalid }
        let slot = offset / size
        guard slabBit(page, slot) else { return .doubleFree }
        setSlabBit(page, slot, false)
        let wasFull = inUse(page) == perSlab
        let inUse = self.inUse(page) &- 1
        setInUse(page, inUse)
        liveObjects &-= 1
        freeObjectSlots &+= 1
        if inUse == 0 {
            if !wasFull { removePartial(page, klass: klass) }
            slabPages &-= 1
            freeObjectSlots &-= perSlab
            releaseBlock(page, order: 0)
        } else if wasFull {
            pushPartial(page, klass: klass)
        }
        return .freed
    }

    // MARK: - Buddy core

    /// Removes a free block of exactly `order` pages (splitting a larger one)
    /// and marks it allocated. Returns its page index.
    mutating func takeBlock(order: Int) -> Int? {
        guard order >= 0 && order <= KernelHeap.maxOrder else { return nil }
        var k = order
        while k <= KernelHeap.maxOrder && head(k) == 0 { k &+= 1 }
        guard k <= KernelHeap.maxOrder else { return nil }
        let index = head(k) &- 1
        removeFree(index, order: k)
        while k > order {
            k &-= 1
            pushFree(index &+ (1 &<< k), order: k)
        }
        setKind(index, KernelHeap.kindAllocated)
        setOrder(index, order)
        freePages &-= 1 &<< order
        return index
    }

    /// Returns an allocated block to the free lists, merging with free buddies.
    mutating func releaseBlock(_ start: Int, order start_order: Int) {
        var index = start
        var k = start_order
        freePages &+= 1 &<< k
        setKind(index, KernelHeap.kindNone)
        while k < KernelHeap.maxOrder {
            let pfn = basePFN &+ UInt64(index)
            let buddyPFN = pfn ^ (1 &<< UInt64(k))
            guard buddyPFN >= basePFN else { break }
            let buddy = Int(truncatingIfNeeded: buddyPFN &- basePFN)
            guard buddy < pageCount, kind(buddy) == KernelHeap.kindFree, order(buddy) == k else { break }
            removeFree(buddy, order: k)
            setKind(buddy, KernelHeap.kindNone)
            index = min(index, buddy)
            k &+= 1
        }
        pushFree(index, order: k)
    }

    /// Whether page `index` lies inside a free block whose head is elsewhere.
    func insideFreeBlock(_ index: Int) -> Bool {
        var k = 1
        while k <= KernelHeap.maxOrder {
            let pfn = basePFN &+ UInt64(index)
            let headPFN = pfn & ~((1 &<< UInt64(k)) &- 1)
            if headPFN >= basePFN {
                let head = Int(truncatingIfNeeded: headPFN &- basePFN)
                let headKind = kind(head)
                if headKind != KernelHeap.kindNone {
                    let headOrder = headKind == KernelHeap.kindSlab ? 0 : order(head)
                    if headOrder >= k { return headKind == KernelHeap.kindFree }
                }
            }
            k &+= 1
        }
        return false
    }

    // MARK: - Lists (links are page index + 1; 0 = end)

    // Free lists (by order) and partial-slab lists (by size class) are the same doubly linked
    // list; they differ only in where their head slot lives in the metadata.

    mutating func pushFree(_ index: Int, order: Int) {
        setKind(index, KernelHeap.kindFree)
        setOrder(index, order)
        pushFront(index, headAt: order &* 4)
    }

    mutating func removeFree(_ index: Int, order: Int) { unlink(index, headAt: order &* 4) }

    mutating func pushPartial(_ index: Int, klass: Int) { pushFront(index, headAt: KernelHeap.partialOffset &+ klass &* 4) }

    mutating func removePartial(_ index: Int, klass: Int) { unlink(index, headAt: KernelHeap.partialOffset &+ klass &* 4) }

    private mutating func pushFront(_ index: Int, headAt slot: Int) {
        let old = link(at: slot)
        setNext(index, old)
        setPrev(index, 0)
        if old != 0 { setPrev(old &- 1, index &+ 1) }
        setLink(at: slot, index &+ 1)
    }

    private mutating func unlink(_ index: Int, headAt slot: Int) {
        let n = next(index)
        let p = prev(index)
        if p != 0 { setNext(p &- 1, n) } else { setLink(at: slot, n) }
        if n != 0 { setPrev(n &- 1, p) }
    }

    // MARK: - Metadata accessors

    @inline(__always) func address(of index: Int) -> UInt64 { base &+ (UInt64(truncatingIfNeeded: index) &<< KernelHeap.pageShift) }
    @inline(__always) func recordOffset(_ index: Int) -> Int { KernelHeap.headerSize &+ index &* KernelHeap.recordSize }

    /// A list head slot (a page index + 1, 0 = empty) at a byte offset of the metadata.
    @inline(__always) func link(at slot: Int) -> Int { Int(metadata.load(fromByteOffset: slot, as: UInt32.self)) }
    @inline(__always) func setLink(at slot: Int, _ link: Int) { metadata.storeBytes(of: UInt32(truncatingIfNeeded: link), toByteOffset: slot, as: UInt32.self) }
    @inline(__always) func head(_ order: Int) -> Int { link(at: order &* 4) }
    @inline(__always) func partialHead(_ klass: Int) -> Int { link(at: KernelHeap.partialOffset &+ klass &* 4) }

    @inline(__always) func kind(_ index: Int) -> UInt8 { metadata.load(fromByteOffset: recordOffset(index) &+ KernelHeap.kindOffset, as: UInt8.self) }
    @inline(__always) func setKind(_ index: Int, _ value: UInt8) {
        metadata.storeBytes(of: value, toByteOffset: recordOffset(index) &+ KernelHeap.kindOffset, as: UInt8.self)
    }
    @inline(__always) func order(_ index: Int) -> Int { Int(metadata.load(fromByteOffset: recordOffset(index) &+ KernelHeap.orderOffset, as: UInt8.self)) }
    @inline(__always) func setOrder(_ index: Int, _ value: Int) {
        metadata.storeBytes(of: UInt8(truncatingIfNeeded: value), toByteOffset: recordOffset(index) &+ KernelHeap.orderOffset, as: UInt8.self)
    }
    @inline(__always) func inUse(_ index: Int) -> Int { Int(metadata.load(fromByteOffset: recordOffset(index) &+ KernelHeap.inUseOffset, as: UInt16.self)) }
    @inline(__always) func setInUse(_ index: Int, _ value: Int) {
        metadata.storeBytes(of: UInt16(truncatingIfNeeded: value), toByteOffset: recordOffset(index) &+ KernelHeap.inUseOffset, as: UInt16.self)
    }
    @inline(__always) func next(_ index: Int) -> Int { Int(metadata.load(fromByteOffset: recordOffset(index) &+ KernelHeap.nextOffset, as: UInt32.self)) }
    @inline(__always) func setNext(_ index: Int, _ link: Int) {
        metadata.storeBytes(of: UInt32(truncatingIfNeeded: link), toByteOffset: recordOffset(index) &+ KernelHeap.nextOffset, as: UInt32.self)
    }
    @inline(__always) func prev(_ index: Int) -> Int { Int(metadata.load(fromByteOffset: recordOffset(index) &+ KernelHeap.prevOffset, as: UInt32.self)) }
    @inline(__always) func setPrev(_ index: Int, _ link: Int) {
        metadata.storeBytes(of: UInt32(truncatingIfNeeded: link), toByteOffset: recordOffset(index) &+ KernelHeap.prevOffset, as: UInt32.self)
    }
    @inline(__always) func slabBit(_ index: Int, _ slot: Int) -> Bool {
        let word = metadata.load(fromByteOffset: recordOffset(index) &+ KernelHeap.bitmapOffset &+ (slot >> 6) &* 8, as: UInt64.self)
        return word & (1 &<< UInt64(slot & 63)) != 0
    }
    @inline(__always) func setSlabBit(_ index: Int, _ slot: Int, _ on: Bool) {
        let at = recordOffset(index) &+ KernelHeap.bitmapOffset &+ (slot >> 6) &* 8
        let word = metadata.load(fromByteOffset: at, as: UInt64.self)
        let mask: UInt64 = 1 &<< UInt64(slot & 63)
        metadata.storeBytes(of: on ? word | mask : word & ~mask, toByteOffset: at, as: UInt64.self)
    }
}

/// SplitMix64: a tiny seeded PRNG (host property tests and the kernel's storm).
public struct SplitMix64 {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform-ish in 0..<bound (bound > 0).
    public mutating func next(below bound: Int) -> Int {
        Int(truncatingIfNeeded: next() % UInt64(bound))
    }
}
