// KernelArguments.swift — the kernel command line parsed ONCE into spans.
//
// Same rules as KernelCommandLine (words split on ASCII whitespace,
// `key=value` split at the first "=", bare words, last occurrence wins),
// but every lookup afterwards only compares a few stored spans instead of
// re-walking the line with generic Collection code. In the kvm lanes every
// ring-0 instruction is emulated (~2000 TSC cycles), and the generic lookup
// cost ~1 ms per key there. The spans live in caller-provided storage.
// If the line has more words than the storage holds, lookups fall back to
// KernelCommandLine, so the answers are always the same.

public struct KernelArgumentSpan: Equatable, Sendable {
    public var keyStart: Int32
    public var keyLength: Int32
    /// -1 for a bare word.
    public var valueStart: Int32
    public var valueLength: Int32
}

public struct KernelArguments {
    public let bytes: UnsafeRawBufferPointer
    let spans: UnsafeMutablePointer<KernelArgumentSpan>
    public private(set) var count: Int
    /// More words than storage: answers come from KernelCommandLine.
    public private(set) var overflowed: Bool

    public init(_ bytes: UnsafeRawBufferPointer, storage: UnsafeMutablePointer<KernelArgumentSpan>, capacity: Int) {
        self.bytes = bytes
        self.spans = storage
        self.count = 0
        self.overflowed = false
        let n = bytes.count
        guard n > 0, let base = bytes.baseAddress else { return }
        var i = 0
        while i < n {
            while i < n && isSpace(base.load(fromByteOffset: i, as: UInt8.self)) { i &+= 1 }
            if i >= n { break }
            let start = i
            var equals = -1
            while i < n {
                let byte = base.load(fromByteOffset: i, as: UInt8.self)
                if isSpace(byte) { break }
                if equals < 0 && byte == UInt8(ascii: "=") { equals = i }
                i &+= 1
            }
            guard count < capacity else {
                overflowed = true
                return
            }
            if equals >= 0 {
                spans[count] = KernelArgumentSpan(
                    keyStart: Int32(start), keyLength: Int32(equals &- start),
                    valueStart: Int32(equals &+ 1), valueLength: Int32(i &- equals &- 1))
            } else {
                spans[count] = KernelArgumentSpan(
                    keyStart: Int32(start), keyLength: Int32(i &- start), valueStart: -1, valueLength: 0)
            }
            count &+= 1
        }
    }

    var slow: KernelCommandLine<UnsafeRawBufferPointer> { KernelCommandLine(bytes) }

    /// The span of the last argument with this key.
    func last(_ key: StaticString) -> KernelArgumentSpan? {
        let keyBytes = key.utf8Start
        let keyCount = key.utf8CodeUnitCount
        var index = count &- 1
        while index >= 0 {
            let span = spans[index]
            if Int(span.keyLength) == keyCount
                && equalBytes(bytes.baseAddress! + Int(span.keyStart), keyBytes, keyCount)
            {
                return span
            }
            index &-= 1
        }
        return nil
    }

    func slice(_ start: Int32, _ length: Int32) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: bytes.baseAddress! + Int(start), count: Int(length))
    }

    public func contains(key: StaticString) -> Bool {
        if overflowed { return slow.contains(key: key) }
        return last(key) != nil
    }

    /// The value of the last `key=value`; nil if absent or bare.
    public func value(forKey key: StaticString) -> UnsafeRawBufferPointer? {
        if overflowed { return slow.value(forKey: key).map { UnsafeRawBufferPointer(rebasing: $0) } }
        guard let span = last(key), span.valueStart >= 0 else { return nil }
        return slice(span.valueStart, span.valueLength)
    }

    public func value(forKey key: StaticString, is expected: StaticString) -> Bool {
        guard let value = value(forKey: key) else { return false }
        return value.count == expected.utf8CodeUnitCount
            && (value.count == 0 || equalBytes(value.baseAddress!, expected.utf8Start, value.count))
    }

    public func decimal(forKey key: StaticString) -> DecimalLookup {
        if overflowed { return slow.decimal(forKey: key) }
        guard let span = last(key) else { return .absent }
        guard span.valueStart >= 0, let number = parseDecimal(slice(span.valueStart, span.valueLength)) else {
            return .malformed
        }
        return .value(number)
    }

    public func flag(_ key: StaticString) -> Bool {
        if overflowed { return slow.flag(key) }
        guard let span = last(key) else { return false }
        guard span.valueStart >= 0 else { return true }
        guard let number = parseDecimal(slice(span.valueStart, span.valueLength)) else { return false }
        return number != 0
    }
}

@inline(__always)
func equalBytes(_ a: UnsafeRawPointer, _ b: UnsafePointer<UInt8>, _ count: Int) -> Bool {
    var i = 0
    while i < count {
        if a.load(fromByteOffset: i, as: UInt8.self) != b[i] { return false }
        i &+= 1
    }
    return true
}
