import Testing
@testable import KernelPure

private func decimal(_ value: UInt64) -> String {
    var bytes: [UInt8] = []
    forEachDecimalDigit(of: value) { bytes.append($0) }
    return String(decoding: bytes, as: UTF8.self)
}
private func hex(_ value: UInt64, minimumDigits: Int = 1) -> String {
    var bytes: [UInt8] = []
    forEachHexDigit(of: value, minimumDigits: minimumDigits) { bytes.append($0) }
    return String(decoding: bytes, as: UTF8.self)
}

@Suite("Boot formats")
struct BootFormatsTests {
    @Test("decimal digits without allocation match Swift's own formatting")
    func decimals() {
        for value: UInt64 in [0, 7, 10, 99, 100, 255, 16383, 1_000_000, UInt64.max] {
            #expect(decimal(value) == String(value))
        }
    }

    @Test("hex digits are lowercase without leading zeros unless asked")
    func hexDigits() {
        #expect(hex(0) == "0")
        #expect(hex(0x47fe00000) == "47fe00000")
        #expect(hex(UInt64.max) == "ffffffffffffffff")
        #expect(hex(0xab, minimumDigits: 4) == "00ab")
        #expect(hex(1, minimumDigits: 40) == "0000000000000001")
    }

    @Test("hvm_start_info decodes from its 56 little-endian bytes")
    func startInfo() {
        var bytes = [UInt8](repeating: 0, count: 56)
        func put(_ value: UInt64, at offset: Int, _ count: Int) {
            for i in 0..<count { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> UInt64(8 * i)) }
        }
        put(0x336e_c578, at: 0, 4); put(1, at: 4, 4); put(0x2000, at: 24, 8)
        put(0x1_2345_6789, at: 40, 8); put(8, at: 48, 4)
        bytes.withUnsafeBytes { raw in
            let info = PVHStartInfo(bytes: raw)
            #expect(info?.version == 1)
            #expect(info?.commandLineAddress == 0x2000)
            #expect(info?.memoryMapAddress == 0x1_2345_6789)
            #expect(info?.memoryMapEntryCount == 8)
        }
        put(0, at: 4, 4)  // version 0 has no memory map fields
        bytes.withUnsafeBytes { #expect(PVHStartInfo(bytes: $0)?.memoryMapEntryCount == 0) }
        put(0x1234_5678, at: 0, 4)
        bytes.withUnsafeBytes { #expect(PVHStartInfo(bytes: $0) == nil) }
        bytes.withUnsafeBytes { #expect(PVHStartInfo(bytes: UnsafeRawBufferPointer(rebasing: $0[0..<55])) == nil) }
    }
}
