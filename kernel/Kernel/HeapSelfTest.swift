// HeapSelfTest.swift — the heap proves itself at every boot: Swift classes
// and arrays on it, double-free detection, an allocate/free storm with exact
// conservation, and (os3.exhaust=1) allocation until the allocators say no.

final class HeapProbe {
    var values: [UInt64] = []
    let tag: UInt64
    init(tag: UInt64) { self.tag = tag }
}

enum HeapSelfTest {
    nonisolated(unsafe) static var keep: HeapProbe? = nil

    /// A class instance and an Array on the kernel heap.
    /// `os3: heap ok base=0x<hex> pages=<n> free=<n> class=ok array=<n> sum=<n>`
    static func runtimeObjects() {
        let heapBefore = KernelMemory.heap!.liveObjects + KernelMemory.heap!.allocatedBlockPages
        let probe = HeapProbe(tag: 0x05F3)
        keep = probe  // escapes: the instance must live on the heap
        var count: UInt64 = 0
        // One allocation for the storage (growth copies would be emulated
        // instruction by instruction in the kvm lanes); append still runs
        // Array's own code for every element.
        probe.values.reserveCapacity(100)
        while count < 100 {
            probe.values.append(count &* 3)
            count += 1
        }
        var sum: UInt64 = 0
        for value in keep!.values { sum &+= value }
        let heapDuring = KernelMemory.heap!.liveObjects + KernelMemory.heap!.allocatedBlockPages
        guard heapDuring > heapBefore, sum == 14850, keep!.tag == 0x05F3,
            keep!.values.count == 100
        else { panic("heap: class/array test failed") }
        keep = nil
        Console.write("os3: heap ok base=")
        Console.writeHex(KernelMemory.heap!.base)
        Console.write(" pages=")
        Console.writeDecimal(KernelMemory.heap!.pageCount)
        Console.write(" free=")
        Console.writeDecimal(KernelMemory.heap!.freePages)
        Console.write(" class=ok array=")
        Console.writeDecimal(probe.values.count)
        Console.write(" sum=")
        Console.writeDecimal(sum)
        Console.write("\n")
    }

    /// Frees an object and a page block twice each; the heap must say so.
    static func doubleFree() {
        guard let object = KernelMemory.heap!.allocate(size: 48, alignment: 16),
            let block = KernelMemory.heap!.allocatePages(order: 1)
        else { panic("heap: double-free test could not allocate") }
        let interior = KernelMemory.heap!.free(block + 8)
        let first = KernelMemory.heap!.free(object)
        let second = KernelMemory.heap!.free(object)
        let firstBlock = KernelMemory.heap!.free(block)
        let secondBlock = KernelMemory.heap!.free(block)
        guard interior == .invalid, first == .freed, second == .doubleFree,
            firstBlock == .freed, secondBlock == .doubleFree
        else { panic("heap: double free not detected") }
        Console.write("os3: heap double-free detected ok object=yes pages=yes\n")
    }

    struct Counts: Equatable {
        var freePages: Int
        var freeSlots: Int
        var liveObjects: Int
        var frames: Int
        static func now() -> Counts {
            Counts(
                freePages: KernelMemory.heap!.freePages,
                freeSlots: KernelMemory.heap!.freeObjectSlots,
                liveObjects: KernelMemory.heap!.liveObjects,
                frames: KernelMemory.frames!.freeFrames)
        }
    }

    static func checkConservation(_ baseline: Counts, _ what: StaticString) {
        let after = Counts.now()
        guard after == baseline else {
            Console.write("os3: conservation FAILED after ")
            Console.write(what)
            Console.write(" pages=")
            Console.writeDecimal(after.freePages)
            Console.write("/")
            Console.writeDecimal(baseline.freePages)
            Console.write(" slots=")
            Console.writeDecimal(after.freeSlots)
            Console.write("/")
            Console.writeDecimal(baseline.freeSlots)
            Console.write(" live=")
            Console.writeDecimal(after.liveObjects)
            Console.write("/")
            Console.writeDecimal(baseline.liveObjects)
            Console.write(" frames=")
            Console.writeDecimal(after.frames)
            Console.write("/")
            Console.writeDecimal(baseline.frames)
            Console.write("\n")
            panic("conservation: memory leaked (or was double-counted)")
        }
    }

    static let slots = 64
    /// Small by default: under nested KVM here an instruction costs ~1000
    /// cycles, so the kvm lanes run a short storm; the TCG lanes ask for a
    /// long one with os3.storm=<n>.
    static let defaultStorm = 64

    /// Mixed small objects, page blocks and frames in pseudo-random order;
    /// each block is tagged at both ends and checked when freed (overlap
    /// would clobber a tag). Then everything is freed and the counts must
    /// equal the baseline exactly.
    /// `os3: conservation ok ops=<n> pages=<n> objects=<n> frames=<n>`
    static func conservation(ops storm: Int) {
        let table = KernelMemory.allocateFrame()
        // Long-lived objects across the storm: partial slabs exist at the
        // baseline, so their free slots are part of what must come back.
        let resident = (
            KernelMemory.heap!.allocate(size: 24), KernelMemory.heap!.allocate(size: 200),
            KernelMemory.heap!.allocate(size: 1000))
        let baseline = Counts.now()
        let slot = KernelMemory.pointer(table, to: UInt64.self)  // 4 words per slot
        var i = 0
        while i < slots * 4 {
            slot[i] = 0
            i += 1
        }
        var random = SplitMix64(seed: 0x05F3_2026_0003)
        var peakLive = 0
        var live = 0
        var op = 0
        while op < storm {
            let s = random.next(below: slots) * 4
            if slot[s] != 0 {
                release(slot + s)
                live -= 1
            } else {
                let choice = random.next(below: 16)
                var address: UInt64 = 0
                var size: UInt64 = 0
                var kind: UInt64 = 0
                if choice < 11 {
                    let alignment = 8 << random.next(below: 5)
                    size = UInt64(16 + random.next(below: 2033))  // ≥ 16: head and tail tags apart
                    address = KernelMemory.heap!.allocate(size: Int(size), alignment: alignment) ?? 0
                    if address & UInt64(alignment - 1) != 0 { panic("storm: misaligned object") }
                } else if choice < 15 {
                    let order = random.next(below: 2)
                    size = 4096 << UInt64(order)
                    address = KernelMemory.heap!.allocatePages(order: order) ?? 0
                    if address & (size - 1) != 0 { panic("storm: misaligned page block") }
                } else {
                    kind = 1
                    size = 4096
                    address = KernelMemory.frames!.allocate() ?? 0
                }
                if address == 0 { panic("storm: allocation failed") }
                let tag = address ^ 0x5A5A_0000_0000_0000 ^ (UInt64(op) << 32)
                slot[s] = address
                slot[s + 1] = size
                slot[s + 2] = kind
                slot[s + 3] = tag
                KernelMemory.pointer(address, to: UInt64.self).pointee = tag
                KernelMemory.pointer(address + size - 8, to: UInt64.self).pointee = ~tag
                live += 1
                if live > peakLive { peakLive = live }
            }
            op += 1
        }
        i = 0
        while i < slots * 4 {
            if slot[i] != 0 { release(slot + i) }
            i += 4
        }
        checkConservation(baseline, "storm")
        _ = KernelMemory.frames!.free(table)
        for object in [resident.0, resident.1, resident.2] where object != nil {
            if KernelMemory.heap!.free(object!) != .freed { panic("storm: resident free refused") }
        }
        Console.write("os3: conservation ok ops=")
        Console.writeDecimal(storm)
        Console.write(" peak=")
        Console.writeDecimal(peakLive)
        Console.write(" pages=")
        Console.writeDecimal(baseline.freePages)
        Console.write(" objects=")
        Console.writeDecimal(baseline.freeSlots)
        Console.write(" frames=")
        Console.writeDecimal(baseline.frames)
        Console.write("\n")
    }

    private static func release(_ record: UnsafeMutablePointer<UInt64>) {
        let address = record[0]
        let size = record[1]
        let tag = record[3]
        if KernelMemory.pointer(address, to: UInt64.self).pointee != tag
            || KernelMemory.pointer(address + size - 8, to: UInt64.self).pointee != ~tag
        {
            panic("storm: a block's contents were overwritten (overlapping allocations)")
        }
        if record[2] == 1 {
            if !KernelMemory.frames!.free(address) { panic("storm: frame free refused") }
        } else if KernelMemory.heap!.free(address) != .freed {
            panic("storm: heap free refused")
        }
        record[0] = 0
    }

    /// os3.exhaust=1: take frames, then heap pages, then small objects until
    /// each allocator says no (chained through the memory itself), check the
    /// kernel still runs, free everything, check conservation.
    /// `os3: exhaustion ok allocated=<n> frames=<n> pages=<n> objects=<n>`
    static func exhaustion() {
        // One resident object: its slab's free slots are what the small
        // objects can still get once no page is left.
        guard let resident = KernelMemory.heap!.allocate(size: 64) else { panic("exhaustion: no heap") }
        let baseline = Counts.now()
        var frames = 0
        var chain: UInt64 = 0
        while let frame = KernelMemory.frames!.allocate() {
            KernelMemory.pointer(frame, to: UInt64.self).pointee = chain
            chain = frame
            frames += 1
        }
        while chain != 0 {
            let next = KernelMemory.pointer(chain, to: UInt64.self).pointee
            if !KernelMemory.frames!.free(chain) { panic("exhaustion: frame free refused") }
            chain = next
        }

        var pages = 0
        var pageChain: UInt64 = 0
        while let page = KernelMemory.heap!.allocatePages(order: 0) {
            KernelMemory.pointer(page, to: UInt64.self).pointee = pageChain
            pageChain = page
            pages += 1
        }
        var objects = 0
        var objectChain: UInt64 = 0
        while let object = KernelMemory.heap!.allocate(size: 64, alignment: 16) {
            KernelMemory.pointer(object, to: UInt64.self).pointee = objectChain
            objectChain = object
            objects += 1
        }
        // Still alive and still saying no (not crashing) when asked again.
        guard KernelMemory.heap!.allocate(size: 4096, alignment: 4096) == nil,
            KernelMemory.heap!.freePages == 0
        else { panic("exhaustion: heap still had pages") }
        while objectChain != 0 {
            let next = KernelMemory.pointer(objectChain, to: UInt64.self).pointee
            if KernelMemory.heap!.free(objectChain) != .freed { panic("exhaustion: object free refused") }
            objectChain = next
        }
        while pageChain != 0 {
            let next = KernelMemory.pointer(pageChain, to: UInt64.self).pointee
            if KernelMemory.heap!.free(pageChain) != .freed { panic("exhaustion: page free refused") }
            pageChain = next
        }
        checkConservation(baseline, "exhaustion")
        if KernelMemory.heap!.free(resident) != .freed { panic("exhaustion: resident free refused") }
        Console.write("os3: exhaustion ok allocated=")
        Console.writeDecimal(frames + pages + objects)
        Console.write(" frames=")
        Console.writeDecimal(frames)
        Console.write(" pages=")
        Console.writeDecimal(pages)
        Console.write(" objects=")
        Console.writeDecimal(objects)
        Console.write("\n")
    }
}
