import Testing
@testable import KernelPure

private func line(_ text: String) -> KernelCommandLine<[UInt8]> {
    KernelCommandLine(Array(text.utf8))
}
private func string(_ bytes: ArraySlice<UInt8>?) -> String? {
    bytes.map { String(decoding: $0, as: UTF8.self) }
}
private func words(_ text: String) -> [String] {
    line(text).arguments.map { argument in
        string(argument.key)! + (argument.value.map { "=" + string($0)! } ?? "")
    }
}

@Suite("Kernel command line")
struct KernelCommandLineTests {
    @Test("words split on any run of spaces, tabs and newlines")
    func splitting() {
        #expect(words("os3.lane=kvm  quiet\tos3.exit=3\n") == ["os3.lane=kvm", "quiet", "os3.exit=3"])
        #expect(words("   leading and trailing   ") == ["leading", "and", "trailing"])
    }

    @Test("an empty or all-blank line has no arguments and finds nothing")
    func emptyLine() {
        #expect(words("").isEmpty)
        #expect(words(" \t \n").isEmpty)
        #expect(line("").value(forKey: "os3.exit") == nil)
        #expect(!line("").flag("os3.panic"))
        #expect(line("").decimal(forKey: "os3.exit") == .absent)
    }

    @Test("key=value splits at the first equals sign; values may be empty or contain '='")
    func keyValue() {
        let cmdline = line("a=b c==d e= f=g=h")
        #expect(string(cmdline.value(forKey: "a")) == "b")
        #expect(string(cmdline.value(forKey: "c")) == "=d")
        #expect(string(cmdline.value(forKey: "e")) == "")
        #expect(string(cmdline.value(forKey: "f")) == "g=h")
        #expect(cmdline.value(forKey: "g") == nil)
    }

    @Test("a bare word is a key without a value")
    func bareWords() {
        let cmdline = line("quiet os3.hang")
        #expect(cmdline.contains(key: "quiet"))
        #expect(cmdline.value(forKey: "quiet") == nil)
        #expect(cmdline.lastArgument(forKey: "quiet")?.isBare == true)
        #expect(cmdline.flag("os3.hang"))
        #expect(!cmdline.contains(key: "loud"))
    }

    @Test("quotes are not special: they are part of the word")
    func noQuoting() {
        #expect(words("msg=\"hello world\"") == ["msg=\"hello", "world\""])
    }

    @Test("when a key repeats, the last occurrence wins")
    func lastWins() {
        let cmdline = line("os3.exit=1 os3.panic=1 os3.exit=7 os3.panic=0")
        #expect(cmdline.decimal(forKey: "os3.exit") == .value(7))
        #expect(!cmdline.flag("os3.panic"))
        #expect(line("os3.chatter=1 os3.chatter").flag("os3.chatter"))
        #expect(line("x os3.x=5").value(forKey: "x") == nil)
    }

    @Test("keys match whole keys only, byte for byte")
    func exactKeys() {
        let cmdline = line("os3.panicky=1 OS3.PANIC=1 os3.pani=1")
        #expect(!cmdline.flag("os3.panic"))
        #expect(cmdline.lastArgument(forKey: Array("os3.pani".utf8)) != nil)
    }

    @Test("flags: bare or nonzero decimal is on; 0, absent or junk is off")
    func flags() {
        #expect(line("os3.panic=1").flag("os3.panic"))
        #expect(line("os3.panic=2").flag("os3.panic"))
        #expect(line("os3.panic").flag("os3.panic"))
        #expect(!line("os3.panic=0").flag("os3.panic"))
        #expect(!line("os3.panic=yes").flag("os3.panic"))
        #expect(!line("os3.panic=").flag("os3.panic"))
    }

    @Test("decimal values: absent, malformed, or a number")
    func decimals() {
        #expect(line("os3.exit=0").decimal(forKey: "os3.exit") == .value(0))
        #expect(line("os3.exit=255").decimal(forKey: "os3.exit") == .value(255))
        #expect(line("os3.exit=-1").decimal(forKey: "os3.exit") == .malformed)
        #expect(line("os3.exit=0x10").decimal(forKey: "os3.exit") == .malformed)
        #expect(line("os3.exit=").decimal(forKey: "os3.exit") == .malformed)
        #expect(line("os3.exit").decimal(forKey: "os3.exit") == .malformed)
        #expect(line("other=1").decimal(forKey: "os3.exit") == .absent)
    }

    @Test("decimal parsing rejects overflow beyond UInt64")
    func decimalOverflow() {
        #expect(parseDecimal(Array("18446744073709551615".utf8)) == UInt64.max)
        #expect(parseDecimal(Array("18446744073709551616".utf8)) == nil)
        #expect(parseDecimal([UInt8]()) == nil)
    }

    @Test("works over raw bytes, as the kernel uses it")
    func rawBuffer() {
        let bytes = Array("os3.lane=tiny os3.exit=9".utf8)
        bytes.withUnsafeBytes { raw in
            let cmdline = KernelCommandLine(raw)
            #expect(cmdline.decimal(forKey: "os3.exit") == .value(9))
            #expect(cmdline.value(forKey: "os3.lane").map { Array($0) } == Array("tiny".utf8))
        }
    }
}
