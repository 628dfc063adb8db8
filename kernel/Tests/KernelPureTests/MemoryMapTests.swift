import Testing
@testable import KernelPure

private let KiB: UInt64 = 1 << 10
private let MiB: UInt64 = 1 << 20
private let GiB: UInt64 = 1 << 30

private func ram(_ base: UInt64, _ size: UInt64) -> MemoryMapEntry {
    MemoryMapEntry(base: base, size: size, type: MemoryType.ram)
}
private func reserved(_ base: UInt64, _ size: UInt64, type: UInt32 = MemoryType.reserved) -> MemoryMapEntry {
    MemoryMapEntry(base: base, size: size, type: type)
}
private func regions(_ entries: [MemoryMapEntry]) -> [MemoryRegion] {
    var out: [MemoryRegion] = []
    MemoryMap(entries).forEachRegion { out.append($0) }
    return out
}

// Maps as QEMU 7.2 hands them over through PVH (printed with os3.memmap=1).
// qboot's table is unsorted and ends with a zero-size type-0 entry.
private let microvm256M: [MemoryMapEntry] = [
    ram(0x0, 0x9fc00), reserved(0x9fc00, 0x400), reserved(0xd0000, 0x20000, type: MemoryType.acpiNVS),
    reserved(0xf0000, 0x10000), reserved(0xfeffc000, 0x4000), ram(0x100000, 0xff00000),
    MemoryMapEntry(base: 0, size: 0, type: 0),
]
private let q35With16G: [MemoryMapEntry] = [  // -M q35 -m 16G -bios qboot.rom: RAM ends at 18 GiB
    ram(0x0, 0x9fc00), reserved(0x9fc00, 0x400), reserved(0xd0000, 0x20000, type: MemoryType.acpiNVS),
    reserved(0xf0000, 0x10000), reserved(0xb0000000, 0x10000000), reserved(0xfd00000000, 0x300000000),
    ram(0x100000, 0x7ff00000), ram(0x100000000, 0x380000000),
]
private let q35With6GSeaBIOS: [MemoryMapEntry] = [
    ram(0x0, 0x9fc00), reserved(0x9fc00, 0x400), reserved(0xf0000, 0x10000),
    ram(0x100000, 0x7fee0000), reserved(0x7ffe0000, 0x20000), reserved(0xb0000000, 0x10000000),
    reserved(0xfed1c000, 0x4000), reserved(0xfffc0000, 0x40000), ram(0x100000000, 0x100000000),
    reserved(0xfd00000000, 0x300000000),
]

@Suite("Memory map")
struct MemoryMapTests {
    @Test("an 18 GiB q35 map reports 16 GiB of RAM, 14 GiB of it above 4 GiB")
    func q35EighteenGiB() {
        let summary = MemoryMap(q35With16G).summary()
        #expect(summary.entryCount == 8)
        #expect(summary.ramMiB == 16383)  // 639 KiB below 1 MiB do not make a whole MiB
        #expect(summary.usableMiB == 16383)
        #expect(summary.above4GMiB == 14336)
    }

    @Test("the high-memory test address is the top 2 MiB block of RAM above 4 GiB")
    func q35TestAddress() {
        #expect(MemoryMap(q35With16G).highMemoryTestAddress() == 18 * GiB - 2 * MiB)
        #expect(MemoryMap(q35With6GSeaBIOS).highMemoryTestAddress() == 8 * GiB - 2 * MiB)
    }

    @Test("a map with no RAM above 4 GiB has no high-memory test address")
    func noHighRAM() {
        let map = MemoryMap(microvm256M)
        let summary = map.summary()
        #expect(summary.entryCount == 7)  // the zero-size entry still counts as an entry
        #expect(summary.ramMiB == 255)
        #expect(summary.usableMiB == 255)
        #expect(summary.above4GMiB == 0)
        #expect(map.highMemoryTestAddress() == nil)
    }

    @Test("reserved entries inside RAM are cut out of usable memory")
    func seaBIOSReservedTail() {
        let summary = MemoryMap(q35With6GSeaBIOS).summary()
        #expect(summary.ramMiB == 6143)
        #expect(summary.usableMiB == 6142)  // RAM at 1 MiB ends at 0x7ffe0000, not 2 GiB
        #expect(summary.above4GMiB == 4096)
    }

    @Test("unsorted entries resolve into ascending regions; holes separate them")
    func unsortedRegions() {
        #expect(regions(microvm256M) == [
            MemoryRegion(base: 0, end: 0x9fc00, kind: .ram),
            MemoryRegion(base: 0x9fc00, end: 0xa0000, kind: .reserved),
            MemoryRegion(base: 0xd0000, end: 0x100000, kind: .reserved),  // NVS + BIOS merged
            MemoryRegion(base: 0x100000, end: 0x10000000, kind: .ram),
            MemoryRegion(base: 0xfeffc000, end: 0xff000000, kind: .reserved),
        ])
    }

    @Test("overlapping RAM entries count each byte once")
    func overlappingRAM() {
        let entries = [ram(8 * MiB, 8 * MiB), ram(1 * MiB, 10 * MiB), ram(12 * MiB, 2 * MiB)]
        #expect(regions(entries) == [MemoryRegion(base: 1 * MiB, end: 16 * MiB, kind: .ram)])
        #expect(MemoryMap(entries).summary().ramMiB == 15)
    }

    @Test("where RAM and a non-RAM entry overlap, non-RAM wins")
    func reservedWinsOverlap() {
        let entries = [ram(0, 64 * MiB), reserved(16 * MiB, 4 * MiB, type: MemoryType.acpiReclaimable)]
        #expect(regions(entries) == [
            MemoryRegion(base: 0, end: 16 * MiB, kind: .ram),
            MemoryRegion(base: 16 * MiB, end: 20 * MiB, kind: .reserved),
            MemoryRegion(base: 20 * MiB, end: 64 * MiB, kind: .ram),
        ])
        let summary = MemoryMap(entries).summary()
        #expect(summary.ramMiB == 60)
        #expect(summary.usableMiB == 59)  // and the first MiB is never usable
    }

    @Test("zero-size entries are ignored wherever they point")
    func zeroSizeEntries() {
        let entries = [ram(4 * GiB, 0), reserved(1 * MiB, 0), ram(0, 32 * MiB), MemoryMapEntry(base: 0, size: 0, type: 0)]
        #expect(regions(entries) == [MemoryRegion(base: 0, end: 32 * MiB, kind: .ram)])
        #expect(MemoryMap(entries).highMemoryTestAddress() == nil)
        #expect(MemoryMap(entries).summary().entryCount == 4)
    }

    @Test("an empty map has no regions and no memory")
    func emptyMap() {
        let map = MemoryMap([MemoryMapEntry]())
        #expect(map.regionCount == 0)
        #expect(map.summary() == MemoryMapSummary(entryCount: 0, ramBytes: 0, usableBytes: 0, above4GBytes: 0))
        #expect(map.highMemoryTestAddress() == nil)
    }

    @Test("usable memory counts whole 4 KiB pages only")
    func usableIsPageGranular() {
        let entries = [ram(1 * MiB + 1, 4 * KiB), ram(2 * MiB + 100, 3 * 4 * KiB)]
        let summary = MemoryMap(entries).summary()
        #expect(summary.ramBytes == 4 * KiB + 12 * KiB)
        #expect(summary.usableBytes == 2 * 4 * KiB)  // [2M+4K, 2M+12K) is the only whole-page span
    }

    @Test("RAM straddling 4 GiB counts only its upper part as above 4 GiB")
    func straddling4G() {
        let map = MemoryMap([ram(3 * GiB, 2 * GiB)])
        #expect(map.summary().above4GMiB == 1024)
        #expect(map.highMemoryTestAddress() == 5 * GiB - 2 * MiB)
    }

    @Test("the test block never touches a reserved range inside high RAM")
    func testAddressAvoidsReserved() {
        // high RAM 4G..6G with a reserved hole in its last 3 MiB
        let entries = [ram(4 * GiB, 2 * GiB), reserved(6 * GiB - 3 * MiB, 1 * MiB), reserved(6 * GiB - 1 * MiB, 512 * KiB)]
        // [6G-4M, 6G-2M) would overlap the first hole; [6G-2M, 6G) the second
        #expect(MemoryMap(entries).highMemoryTestAddress() == 6 * GiB - 6 * MiB)
    }

    @Test("the test block is 2 MiB aligned even when high RAM is not")
    func testAddressAlignment() {
        let entries = [ram(4 * GiB + 1 * MiB, 5 * MiB + 123)]  // ends at 4G + 6M + 123
        #expect(MemoryMap(entries).highMemoryTestAddress() == 4 * GiB + 4 * MiB)
        #expect(MemoryMap([ram(4 * GiB + 1 * MiB, 2 * MiB)]).highMemoryTestAddress() == nil)  // no whole aligned block
    }

    @Test("high RAM that is not RAM type never yields a test address")
    func highReservedOnly() {
        let entries = [ram(0, 1 * GiB), reserved(0xfd00000000, 0x300000000)]
        #expect(MemoryMap(entries).summary().above4GMiB == 0)
        #expect(MemoryMap(entries).highMemoryTestAddress() == nil)
    }

    @Test("an entry running past 2^64 is clipped instead of wrapping")
    func overflowingEntry() {
        let entry = ram(UInt64.max - 4095, 8192)
        #expect(entry.end == UInt64.max)
        let map = MemoryMap([ram(0, 16 * MiB), entry])
        #expect(map.regionCount == 2)
        #expect(map.summary().ramBytes == 16 * MiB + 4095)
    }

    @Test("adjacent entries of one kind merge into a single region")
    func adjacentMerge() {
        let entries = [ram(0, 1 * MiB), ram(1 * MiB, 1 * MiB), reserved(2 * MiB, 1 * MiB), reserved(3 * MiB, 1 * MiB, type: 5)]
        #expect(regions(entries) == [
            MemoryRegion(base: 0, end: 2 * MiB, kind: .ram),
            MemoryRegion(base: 2 * MiB, end: 4 * MiB, kind: .reserved),
        ])
    }

    @Test("PVH memmap bytes decode as 24-byte little-endian entries")
    func rawPVHEntries() {
        var bytes: [UInt8] = []
        func le(_ value: UInt64, _ count: Int) {
            for i in 0..<count { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(8 * i))) }
        }
        for entry in q35With16G {
            le(entry.base, 8); le(entry.size, 8); le(UInt64(entry.type), 4); le(0xdead_beef, 4)
        }
        bytes.append(contentsOf: [1, 2, 3])  // a partial trailing entry is ignored
        bytes.withUnsafeBytes { raw in
            let view = PVHMemoryMapEntries(bytes: raw)
            #expect(view.count == q35With16G.count)
            #expect(Array(view) == q35With16G)
            #expect(MemoryMap(view).summary() == MemoryMap(q35With16G).summary())
            #expect(MemoryMap(view).highMemoryTestAddress() == 0x47fe00000)
        }
    }
}
