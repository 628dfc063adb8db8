import Testing
@testable import OS3Core

@Suite("Did you mean: the nearest name")
struct SuggestionTests {
    @Test("a typo finds the name it was meant to be: a letter missing, extra, wrong, or two swapped",
          arguments: [("tny", "tiny"), ("tinyy", "tiny"), ("tinu", "tiny"), ("itny", "tiny"), ("KVM", "kvm"), ("kvm-hugmem", "kvm-hugemem"), ("tcg-bigmen", "tcg-bigmem")])
    func typos(_ typed: String, _ meant: String) {
        #expect(Suggestions.closest(to: typed, among: ["kvm", "kvm-hugemem", "tcg-bigmem", "tiny"]) == meant)
    }

    @Test("a name far from every candidate suggests nothing; nor does an empty or huge one",
          arguments: ["x86", "qemu", "", String(repeating: "t", count: 10_000)])
    func noGuess(_ typed: String) {
        #expect(Suggestions.closest(to: typed, among: ["kvm", "kvm-hugemem", "tcg-bigmem", "tiny"]) == nil)
    }

    @Test("the distance counts insertions, deletions, substitutions and neighbour swaps once each")
    func distance() {
        func d(_ a: String, _ b: String) -> Int { Suggestions.distance(Array(a.unicodeScalars), Array(b.unicodeScalars)) }
        #expect(d("boot", "boot") == 0)
        #expect(d("bot", "boot") == 1)
        #expect(d("boto", "boot") == 1)
        #expect(d("gate", "stress") == 5)
        #expect(d("", "scan") == 4)
    }
}

@Suite("What a --kernel must look like before QEMU is started")
struct KernelImageTests {
    static func image(_ bytes: [UInt8], at offset: Int = 0, size: Int = 9000) -> [UInt8] {
        var header = [UInt8](repeating: 0, count: size)
        header.replaceSubrange(offset..<offset + bytes.count, with: bytes)
        return header
    }

    @Test("ELF, a bzImage (HdrS at 0x202) and a Multiboot header anywhere in the first 8 KiB are x86_64 kernels")
    func bootable() {
        #expect(KernelImage.problem(header: Self.image([0x7F, 0x45, 0x4C, 0x46]), size: 9000, arch: .x86_64) == nil)
        #expect(KernelImage.problem(header: Self.image(Array("HdrS".utf8), at: 0x202), size: 9000, arch: .x86_64) == nil)
        // magic 0x1BADB002, flags 0, checksum -(magic + flags), little-endian, at 4-aligned 4096.
        let multiboot: [UInt8] = [0x02, 0xB0, 0xAD, 0x1B, 0, 0, 0, 0, 0xFE, 0x4F, 0x52, 0xE4]
        #expect(KernelImage.problem(header: Self.image(multiboot, at: 4096), size: 9000, arch: .x86_64) == nil)
    }

    @Test("a Multiboot magic with a wrong checksum, or past the first 8 KiB, is not one")
    func notMultiboot() {
        let badSum: [UInt8] = [0x02, 0xB0, 0xAD, 0x1B, 0, 0, 0, 0, 0, 0, 0, 0]
        #expect(KernelImage.problem(header: Self.image(badSum, at: 64), size: 9000, arch: .x86_64) != nil)
        let multiboot: [UInt8] = [0x02, 0xB0, 0xAD, 0x1B, 0, 0, 0, 0, 0xFE, 0x4F, 0x52, 0xE4]
        #expect(KernelImage.problem(header: Self.image(multiboot, at: 8192, size: 8204), size: 9000, arch: .x86_64) != nil)
    }

    @Test("anything else is refused on x86_64 saying how it starts; an empty file everywhere; other architectures load raw binaries")
    func refused() {
        let script = Array("#!/bin/sh\necho hi\n".utf8)
        #expect(KernelImage.problem(header: script, size: script.count, arch: .x86_64)
                == ##"it starts with 23 21 2f 62 69 6e 2f 73 ("#!/bin/s"): no ELF, bzImage or Multiboot header"##)
        #expect(KernelImage.problem(header: [0x4D, 0x5A, 0x90, 0, 3, 0, 0, 0], size: 8, arch: .x86_64)
                == "it starts with 4d 5a 90 00 03 00 00 00: no ELF, bzImage or Multiboot header")
        for arch in Arch.allCases { #expect(KernelImage.problem(header: [], size: 0, arch: arch) == "it is empty") }
        #expect(KernelImage.problem(header: script, size: script.count, arch: .aarch64) == nil)
        #expect(KernelImage.problem(header: script, size: script.count, arch: .riscv64) == nil)
    }
}
