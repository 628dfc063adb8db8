// Descriptors.swift — x86-64 GDT/TSS/IDT descriptor encoding, as pure logic.

/// A 16-byte system descriptor (TSS in the GDT, or an IDT gate): two words.
public struct DescriptorPair: Equatable, Sendable {
    public var low: UInt64
    public var high: UInt64
    public init(low: UInt64, high: UInt64) {
        self.low = low
        self.high = high
    }
}

public enum SegmentDescriptor {
    /// 64-bit code, DPL 0 (L=1, P=1, S=1, type execute/read).
    public static let kernelCode64: UInt64 = 0x00AF_9A00_0000_FFFF
    /// Data, DPL 0 (writable; base/limit ignored in long mode).
    public static let kernelData: UInt64 = 0x00CF_9200_0000_FFFF
    /// 64-bit code, DPL 3.
    public static let userCode64: UInt64 = 0x00AF_FA00_0000_FFFF
    /// Data, DPL 3.
    public static let userData: UInt64 = 0x00CF_F200_0000_FFFF

    /// An available 64-bit TSS descriptor (type 9, present, DPL 0).
    public static func tss(base: UInt64, limit: UInt32) -> DescriptorPair {
        var low = UInt64(limit & 0xFFFF)
        low |= (base & 0xFF_FFFF) << 16
        low |= UInt64(0x9) << 40
        low |= UInt64(1) << 47
        low |= UInt64((limit >> 16) & 0xF) << 48
        low |= ((base >> 24) & 0xFF) << 56
        return DescriptorPair(low: low, high: base >> 32)
    }
}

/// Decoded view of an IDT gate (for tests and diagnostics).
public struct GateDescriptor: Equatable, Sendable {
    public var handler: UInt64
    public var selector: UInt16
    /// 0 = no stack switch, 1...7 = IST slot.
    public var ist: UInt8
    /// 0xE = interrupt gate (IF cleared on entry), 0xF = trap gate.
    public var type: UInt8
    public var dpl: UInt8
    public var present: Bool

    public init(handler: UInt64, selector: UInt16, ist: UInt8 = 0, type: UInt8 = 0xE, dpl: UInt8 = 0,
                present: Bool = true) {
        self.handler = handler
        self.selector = selector
        self.ist = ist
        self.type = type
        self.dpl = dpl
        self.present = present
    }

    public var encoded: DescriptorPair {
        var low = handler & 0xFFFF
        low |= UInt64(selector) << 16
        low |= UInt64(ist & 7) << 32
        low |= UInt64(type & 0xF) << 40
        low |= UInt64(dpl & 3) << 45
        low |= (present ? UInt64(1) : 0) << 47
        low |= ((handler >> 16) & 0xFFFF) << 48
        return DescriptorPair(low: low, high: (handler >> 32) & 0xFFFF_FFFF)
    }

    public init(decoding pair: DescriptorPair) {
        handler = (pair.low & 0xFFFF) | ((pair.low >> 48) << 16) | ((pair.high & 0xFFFF_FFFF) << 32)
        selector = UInt16(truncatingIfNeeded: pair.low >> 16)
        ist = UInt8(truncatingIfNeeded: (pair.low >> 32) & 7)
        type = UInt8(truncatingIfNeeded: (pair.low >> 40) & 0xF)
        dpl = UInt8(truncatingIfNeeded: (pair.low >> 45) & 3)
        present = (pair.low >> 47) & 1 == 1
    }
}

/// CPU exceptions 0-31 that push an error code: #DF 8, #TS 10, #NP 11,
/// #SS 12, #GP 13, #PF 14, #AC 17, #CP 21, #VC 29, #SX 30.
public func exceptionHasErrorCode(_ vector: Int) -> Bool {
    switch vector {
    case 8, 10, 11, 12, 13, 14, 17, 21, 29, 30: return true
    default: return false
    }
}
