import Testing
@testable import KernelPure

/// The kernel's fast paths must give exactly the answers of the plain code.
@Suite("Fast paths: argument spans, region cache, number formatting")
struct FastPathTests {
    static let keys: [StaticString] = ["a", "os3.exit", "os3.panic", "x", "os3.seed", "inject.flake", "b=c", ""]

    func check(_ text: String, capacity: Int = 64) {
        let bytes = Array(text.utf8)
        bytes.withUnsafeBytes { raw in
            let storage = UnsafeMutablePointer<KernelArgumentSpan>.allocate(capacity: max(capacity, 1))
            defer { storage.deallocate() }
            let fast = KernelArguments(raw, storage: storage, capacity: capacity)
            let slow = KernelCommandLine(raw)
            for key in FastPathTests.keys {
                #expect(fast.flag(key) == slow.flag(key), "flag \(key) in \(text)")
                #expect(fast.decimal(forKey: key) == slow.decimal(forKey: key), "decimal \(key) in \(text)")
                #expect(fast.contains(key: key) == slow.contains(key: key))
                let a = fast.value(forKey: key).map { Array($0) }
                let b = slow.value(forKey: key).map { Array($0) }
                #expect(a == b, "value \(key) in \(text)")
                #expect(fast.value(forKey: key, is: "1") == slow.value(forKey: key, is: "1"))
            }
        }
    }

    @Test("argument spans agree with KernelCommandLine on fixed lines")
    func fixedLines() {
        for text in ["", "  ", "a", "a=1 a=0", "a=1 a", "a a=2", "os3.exit=7 os3.panic", "x= x==3 =4 a=b=c",
                     "os3.seed=12345678901234567890 inject.flake=0.3", "os3.seed=99999999999999999999",
                     "\tos3.exit=3\nos3.panic=0\r"] {
            check(text)
        }
    }

    @Test("more words than storage: the answers stay the same (fallback)")
    func overflow() {
        check("a=1 b=2 c=3 a=4 os3.exit=5 x", capacity: 2)
        check("os3.exit=9 " + String(repeating: "w ", count: 100), capacity: 8)
    }

    @Test("random lines: spans agree with KernelCommandLine")
    func randomLines() {
        var random = SplitMix64(seed: 42)
        let pieces = ["a", "x", "os3.exit", "os3.panic", "=", "1", "0", "7", " ", "\t", "b=c", "os3.seed", "inject.flake", "0.2"]
        for _ in 0..<400 {
            var text = ""
            for _ in 0..<random.next(below: 12) { text += pieces[random.next(below: pieces.count)] }
            check(text, capacity: 1 + random.next(below: 6))
        }
    }

    @Test("the region cache gives the same regions and queries")
    func regionCache() {
        var random = SplitMix64(seed: 7)
        for _ in 0..<200 {
            var entries: [MemoryMapEntry] = []
            for _ in 0..<random.next(below: 10) {
                let base = UInt64(random.next(below: 64)) << 20
                let size = UInt64(random.next(below: 32)) << 20
                entries.append(MemoryMapEntry(base: base, size: size, type: random.next(below: 3) == 0 ? 2 : 1))
            }
            let plain = MemoryMap(entries)
            let cache = UnsafeMutablePointer<MemoryRegion>.allocate(capacity: 64)
            defer { cache.deallocate() }
            let cached = MemoryMap(entries, regionCache: cache, capacity: 64)
            #expect(cached.isCached)
            var a: [MemoryRegion] = [], b: [MemoryRegion] = []
            plain.forEachRegion { a.append($0) }
            cached.forEachRegion { b.append($0) }
            #expect(a == b)
            #expect(plain.summary() == cached.summary())
            #expect(plain.ramEnd == cached.ramEnd)
            #expect(plain.firstFit(size: 1 << 20, minimum: 1 << 20) == cached.firstFit(size: 1 << 20, minimum: 1 << 20))
            let tooSmall = MemoryMap(entries, regionCache: cache, capacity: 0)
            #expect(tooSmall.isCached == a.isEmpty)
            #expect(tooSmall.summary() == plain.summary())
        }
    }

    @Test("decimal and hex formatting match String(describing:)")
    func formatting() {
        var random = SplitMix64(seed: 3)
        let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: 24)
        defer { buffer.deallocate() }
        var values: [UInt64] = [0, 1, 9, 10, 99, 100, UInt64.max, UInt64.max - 1, 1 << 63]
        for _ in 0..<500 { values.append(random.next() >> UInt64(random.next(below: 64))) }
        for value in values {
            let n = formatDecimal(value, into: buffer)
            #expect(String(decoding: UnsafeBufferPointer(start: buffer, count: n), as: UTF8.self) == String(value))
            let h = formatHex(value, into: buffer)
            #expect(String(decoding: UnsafeBufferPointer(start: buffer, count: h), as: UTF8.self) == String(value, radix: 16))
        }
    }
}
