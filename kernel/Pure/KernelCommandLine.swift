// KernelCommandLine.swift — the kernel command line (`-append`), as pure logic.
//
// Words are separated by ASCII whitespace (space, tab, CR, LF). A word is
// `key=value` (split at the first "="; the value may be empty or contain
// more "=") or a bare word (key only, no value). There is no quoting.
// For lookups the LAST occurrence of a key wins. Nothing allocates: keys and
// values are slices of the byte collection the line was built from.

public struct KernelCommandLine<Bytes: Collection> where Bytes.Element == UInt8 {
    public let bytes: Bytes

    public init(_ bytes: Bytes) {
        self.bytes = bytes
    }

    public struct Argument {
        public let key: Bytes.SubSequence
        /// `nil` for a bare word, possibly empty for `key=`.
        public let value: Bytes.SubSequence?
        public var isBare: Bool { value == nil }
    }

    public struct Arguments: Sequence, IteratorProtocol {
        let bytes: Bytes
        var position: Bytes.Index

        public mutating func next() -> Argument? {
            while position != bytes.endIndex && isSpace(bytes[position]) {
                position = bytes.index(after: position)
            }
            guard position != bytes.endIndex else { return nil }
            let start = position
            var equals: Bytes.Index? = nil
            while position != bytes.endIndex && !isSpace(bytes[position]) {
                if equals == nil && bytes[position] == UInt8(ascii: "=") { equals = position }
                position = bytes.index(after: position)
            }
            if let equals {
                return Argument(
                    key: bytes[start..<equals],
                    value: bytes[bytes.index(after: equals)..<position])
            }
            return Argument(key: bytes[start..<position], value: nil)
        }
    }

    /// The words in order of appearance.
    public var arguments: Arguments {
        Arguments(bytes: bytes, position: bytes.startIndex)
    }

    /// The last argument whose key equals `key` (byte-wise).
    public func lastArgument<Key: Collection>(forKey key: Key) -> Argument?
    where Key.Element == UInt8 {
        var found: Argument? = nil
        for argument in arguments where argument.key.elementsEqual(key) {
            found = argument
        }
        return found
    }

    public func lastArgument(forKey key: StaticString) -> Argument? {
        key.withUTF8Buffer { lastArgument(forKey: $0) }
    }

    public func contains(key: StaticString) -> Bool {
        lastArgument(forKey: key) != nil
    }

    /// The value of the last `key=value`; `nil` if the key is absent or its
    /// last occurrence is a bare word.
    public func value(forKey key: StaticString) -> Bytes.SubSequence? {
        lastArgument(forKey: key)?.value
    }

    /// Whether the last occurrence of `key` is `key=<expected>` exactly.
    public func value(forKey key: StaticString, is expected: StaticString) -> Bool {
        guard let value = value(forKey: key) else { return false }
        return expected.withUTF8Buffer { value.elementsEqual($0) }
    }

    /// The last value of `key` as an unsigned decimal: `.absent` without the
    /// key, `.malformed` for a bare word or a value that is not a decimal
    /// fitting in UInt64.
    public func decimal(forKey key: StaticString) -> DecimalLookup {
        guard let argument = lastArgument(forKey: key) else { return .absent }
        guard let value = argument.value, let number = parseDecimal(value) else {
            return .malformed
        }
        return .value(number)
    }

    /// A switch: on for a bare `key` or a `key=<nonzero decimal>`, off when
    /// absent, `key=0`, or any other value.
    public func flag(_ key: StaticString) -> Bool {
        guard let argument = lastArgument(forKey: key) else { return false }
        guard let value = argument.value else { return true }
        guard let number = parseDecimal(value) else { return false }
        return number != 0
    }
}

public enum DecimalLookup: Equatable, Sendable {
    case absent
    case malformed
    case value(UInt64)
}

/// Unsigned decimal, digits only, no sign, at least one digit, must fit UInt64.
public func parseDecimal<Digits: Collection>(_ digits: Digits) -> UInt64?
where Digits.Element == UInt8 {
    if digits.isEmpty { return nil }
    var result: UInt64 = 0
    for byte in digits {
        guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") else { return nil }
        let (times10, o1) = result.multipliedReportingOverflow(by: 10)
        let (sum, o2) = times10.addingReportingOverflow(UInt64(byte &- UInt8(ascii: "0")))
        if o1 || o2 { return nil }
        result = sum
    }
    return result
}

@inline(__always)
func isSpace(_ byte: UInt8) -> Bool {
    byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
}
