// MemoryMap.swift — the firmware memory map (PVH / E820 style), as pure logic.
//
// Compiles both into the kernel image (Embedded Swift, no heap) and for the
// host (unit tests). Nothing here allocates: entries are read through any
// RandomAccessCollection of `MemoryMapEntry` (an array in tests, a
// `PVHMemoryMapEntries` view over the raw firmware bytes in the kernel),
// and the analysis walks them with O(n²) scans instead of sorting into a
// buffer (n is a few dozen at most).
//
// Rules (docs/KERNEL.md):
//  - zero-size entries are ignored; an entry whose end would pass 2^64 is
//    clipped at 2^64 - 1;
//  - entries may overlap and come in any order;
//  - a byte covered by any non-RAM entry is not RAM, whatever else covers it
//    (non-RAM wins: the conservative choice);
//  - `ramBytes` counts each RAM byte once; `usableBytes` is RAM in whole
//    4 KiB pages at or above 1 MiB; `above4GBytes` is RAM at or above 4 GiB.

/// E820 / PVH memory type numbers.
public enum MemoryType {
    public static let ram: UInt32 = 1
    public static let reserved: UInt32 = 2
    public static let acpiReclaimable: UInt32 = 3
    public static let acpiNVS: UInt32 = 4
    public static let unusable: UInt32 = 5
}

/// One firmware memory map entry: `[base, base + size)` of `type`.
public struct MemoryMapEntry: Equatable, Sendable {
    public var base: UInt64
    public var size: UInt64
    public var type: UInt32

    public init(base: UInt64, size: UInt64, type: UInt32) {
        self.base = base
        self.size = size
        self.type = type
    }

    /// Exclusive end, clipped at UInt64.max instead of wrapping.
    public var end: UInt64 {
        let (sum, overflow) = base.addingReportingOverflow(size)
        return overflow ? UInt64.max : sum
    }

    public var isRAM: Bool { type == MemoryType.ram }
    public var isEmpty: Bool { size == 0 }
}

/// The PVH `hvm_memmap_table_entry` layout read from raw bytes:
/// addr u64 @0, size u64 @8, type u32 @16, reserved u32 @20 (24 bytes each,
/// little-endian). Extra trailing bytes (a partial entry) are ignored.
public struct PVHMemoryMapEntries: RandomAccessCollection {
    public static let entrySize = 24
    public let bytes: UnsafeRawBufferPointer

    public init(bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { bytes.count / PVHMemoryMapEntries.entrySize }

    public subscript(position: Int) -> MemoryMapEntry {
        let offset = position &* PVHMemoryMapEntries.entrySize
        return MemoryMapEntry(
            base: readLE64(offset),
            size: readLE64(offset &+ 8),
            type: readLE32(offset &+ 16))
    }

    private func readLE64(_ offset: Int) -> UInt64 {
        UInt64(readLE32(offset)) | (UInt64(readLE32(offset &+ 4)) << 32)
    }

    private func readLE32(_ offset: Int) -> UInt32 {
        var value: UInt32 = 0
        var i = 3
        while i >= 0 {
            value = (value << 8) | UInt32(bytes[offset &+ i])
            i -= 1
        }
        return value
    }
}

/// What one stretch of the physical address space is, after resolving overlaps.
public enum MemoryRegionKind: Equatable, Sendable {
    case ram
    case reserved  // covered by at least one non-RAM entry
}

/// A maximal run of address space of one kind. Holes (covered by no entry)
/// separate regions and are not reported.
public struct MemoryRegion: Equatable, Sendable {
    public var base: UInt64
    public var end: UInt64  // exclusive
    public var kind: MemoryRegionKind

    public init(base: UInt64, end: UInt64, kind: MemoryRegionKind) {
        self.base = base
        self.end = end
        self.kind = kind
    }

    public var size: UInt64 { end &- base }
}

/// Totals printed on the `os3: memmap` line.
public struct MemoryMapSummary: Equatable, Sendable {
    public var entryCount: Int
    public var ramBytes: UInt64
    public var usableBytes: UInt64
    public var above4GBytes: UInt64

    public var ramMiB: UInt64 { ramBytes >> 20 }
    public var usableMiB: UInt64 { usableBytes >> 20 }
    public var above4GMiB: UInt64 { above4GBytes >> 20 }
}

public enum MemoryBounds {
    public static let oneMiB: UInt64 = 1 << 20
    public static let twoMiB: UInt64 = 2 << 20
    public static let fourGiB: UInt64 = 4 << 30
    public static let pageSize: UInt64 = 4096
}

/// Analysis of a memory map given as any collection of entries.
public struct MemoryMap<Entries: RandomAccessCollection> where Entries.Element == MemoryMapEntry {
    public let entries: Entries
    /// Regions resolved once (see `init(_:regionCache:capacity:)`), or nil.
    private(set) var cache: UnsafeMutablePointer<MemoryRegion>?
    private(set) var cachedCount: Int

    public init(_ entries: Entries) {
        self.entries = entries
        self.cache = nil
        self.cachedCount = 0
    }

    /// Resolves the regions once into `regionCache` (room for `capacity`);
    /// every query afterwards walks that list instead of the O(n²) scan (in
    /// the kvm lanes each ring-0 instruction is emulated). If the map has
    /// more regions than fit, the map stays uncached: same answers, slower.
    public init(_ entries: Entries, regionCache: UnsafeMutablePointer<MemoryRegion>, capacity: Int) {
        self.entries = entries
        self.cache = nil
        self.cachedCount = 0
        var count = 0
        var fits = true
        forEachRegion { region in
            if count < capacity { (regionCache + count).initialize(to: region) } else { fits = false }
            count &+= 1
        }
        if fits {
            self.cache = regionCache
            self.cachedCount = count
        }
    }

    /// Whether the regions were resolved once into a cache.
    public var isCached: Bool { cache != nil }

    /// Calls `body` with each maximal region, in ascending address order.
    /// Adjacent regions of the same kind are merged; holes split regions.
    public func forEachRegion(_ body: (MemoryRegion) -> Void) {
        if let cache {
            var i = 0
            while i < cachedCount {
                body(cache[i])
                i &+= 1
            }
            return
        }
        var pending: MemoryRegion? = nil
        forEachSegment { segment in
            if var open = pending {
                if open.end == segment.base && open.kind == segment.kind {
                    open.end = segment.end
                    pending = open
                    return
                }
                body(open)
            }
            pending = segment
        }
        if let last = pending { body(last) }
    }

    /// Number of maximal regions (see `forEachRegion`).
    public var regionCount: Int {
        var n = 0
        forEachRegion { _ in n += 1 }
        return n
    }

    public func summary() -> MemoryMapSummary {
        var ram: UInt64 = 0
        var usable: UInt64 = 0
        var above: UInt64 = 0
        forEachRegion { region in
            guard region.kind == .ram else { return }
            ram &+= region.size
            let lo = alignUp(max(region.base, MemoryBounds.oneMiB), MemoryBounds.pageSize)
            let hi = alignDown(region.end, MemoryBounds.pageSize)
            if hi > lo { usable &+= hi &- lo }
            if region.end > MemoryBounds.fourGiB {
                above &+= region.end &- max(region.base, MemoryBounds.fourGiB)
            }
        }
        return MemoryMapSummary(
            entryCount: entries.count, ramBytes: ram, usableBytes: usable, above4GBytes: above)
    }

    /// A 2 MiB-aligned address at or above 4 GiB whose whole 2 MiB block is
    /// RAM and touches nothing else: the highest such block, so the test
    /// also proves the top of memory is reachable. `nil` without high RAM.
    public func highMemoryTestAddress() -> UInt64? {
        var best: UInt64? = nil
        forEachRegion { region in
            guard region.kind == .ram, region.end > MemoryBounds.fourGiB else { return }
            let lo = alignUp(max(region.base, MemoryBounds.fourGiB), MemoryBounds.twoMiB)
            let hi = alignDown(region.end, MemoryBounds.twoMiB)
            guard hi > lo, hi &- lo >= MemoryBounds.twoMiB else { return }
            let candidate = hi &- MemoryBounds.twoMiB
            if best == nil || candidate > best! { best = candidate }
        }
        return best
    }

    /// End of the highest RAM region (0 without RAM).
    public var ramEnd: UInt64 {
        var end: UInt64 = 0
        forEachRegion { region in
            if region.kind == .ram && region.end > end { end = region.end }
        }
        return end
    }

    /// Calls `body(start, end)` for each usable range: RAM at or above 1 MiB,
    /// trimmed to whole 4 KiB pages (the frames the kernel may hand out).
    public func forEachUsableRange(_ body: (UInt64, UInt64) -> Void) {
        forEachRegion { region in
            guard region.kind == .ram else { return }
            let lo = alignUp(max(region.base, MemoryBounds.oneMiB), MemoryBounds.pageSize)
            let hi = alignDown(region.end, MemoryBounds.pageSize)
            if hi > lo { body(lo, hi) }
        }
    }

    /// The lowest `alignment`-aligned address at or above `minimum` such that
    /// [address, address + size) is inside one usable range and ends at or
    /// below `maximum`; nil if there is none.
    public func firstFit(size: UInt64, alignment: UInt64 = MemoryBounds.pageSize,
                         minimum: UInt64 = 0, maximum: UInt64 = UInt64.max) -> UInt64? {
        var found: UInt64? = nil
        forEachUsableRange { lo, hi in
            guard found == nil else { return }
            let start = alignUp(max(lo, minimum), alignment)
            let (end, overflow) = start.addingReportingOverflow(size)
            if !overflow && start >= lo && end <= hi && end <= maximum { found = start }
        }
        return found
    }

    // MARK: - Elementary segments

    /// Visits the elementary segments between consecutive distinct entry
    /// boundaries that are covered by at least one entry, in address order,
    /// each classified (non-RAM wins). O(n²), no allocation.
    func forEachSegment(_ body: (MemoryRegion) -> Void) {
        guard var cursor = lowestBoundary() else { return }
        while let next = nextBoundary(after: cursor) {
            if let kind = kind(coveringFrom: cursor, to: next) {
                body(MemoryRegion(base: cursor, end: next, kind: kind))
            }
            cursor = next
        }
    }

    private func lowestBoundary() -> UInt64? {
        var lowest: UInt64? = nil
        for entry in entries where !entry.isEmpty {
            if lowest == nil || entry.base < lowest! { lowest = entry.base }
        }
        return lowest
    }

    private func nextBoundary(after point: UInt64) -> UInt64? {
        var next: UInt64? = nil
        for entry in entries where !entry.isEmpty {
            if entry.base > point && (next == nil || entry.base < next!) { next = entry.base }
            if entry.end > point && (next == nil || entry.end < next!) { next = entry.end }
        }
        return next
    }

    /// The kind of `[from, to)`, which lies between two consecutive boundaries
    /// so is either fully covered by an entry or not at all.
    private func kind(coveringFrom from: UInt64, to: UInt64) -> MemoryRegionKind? {
        var sawRAM = false
        for entry in entries where !entry.isEmpty {
            if entry.base <= from && entry.end >= to {
                if !entry.isRAM { return .reserved }
                sawRAM = true
            }
        }
        return sawRAM ? .ram : nil
    }
}

@inline(__always)
func alignUp(_ value: UInt64, _ alignment: UInt64) -> UInt64 {
    let (sum, overflow) = value.addingReportingOverflow(alignment &- 1)
    return overflow ? alignDown(UInt64.max, alignment) : sum & ~(alignment &- 1)
}

@inline(__always)
func alignDown(_ value: UInt64, _ alignment: UInt64) -> UInt64 {
    value & ~(alignment &- 1)
}
