import _Volatile
// Timing.swift — os3.timing=1: TSC cycles between boot phases, one line.

enum Timing {
    nonisolated(unsafe) static var marks: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) =
        (0, 0, 0, 0, 0, 0, 0, 0)

    nonisolated(unsafe) static var mtrrDefaultAtBoot: UInt64 = 0
    static func mark(_ index: Int) {
        let now = arch_rdtsc()
        withUnsafeMutableBytes(of: &marks) { $0.storeBytes(of: now, toByteOffset: index * 8, as: UInt64.self) }
    }

    /// `os3: timing kcycles frames=<n> paging=<n> pfault=<n> heap=<n> selftest=<n> storm=<n>`
    static func bench() {
        var x: UInt64 = 1
        var t = arch_rdtsc()
        var i = 0
        while i < 100_000 { x = x &* 6364136223846793005 &+ 1442695040888963407; i += 1 }
        let alu = arch_rdtsc() &- t
        let heapWord = VolatileMappedRegister<UInt64>(unsafeBitPattern: UInt(KernelMemory.heap!.base))
        t = arch_rdtsc()
        i = 0
        while i < 100_000 { heapWord.store(heapWord.load() &+ x); i += 1 }
        let mem = arch_rdtsc() &- t
        let bssWord = VolatileMappedRegister<UInt64>(unsafeBitPattern: UInt(arch_cmdline_buffer() + 2048))
        t = arch_rdtsc()
        i = 0
        while i < 100_000 { bssWord.store(bssWord.load() &+ x); i += 1 }
        let bss = arch_rdtsc() &- t
        Console.write("os3: bench alu=")
        Console.writeDecimal(alu)
        Console.write(" heapmem=")
        Console.writeDecimal(mem)
        Console.write(" bssmem=")
        Console.writeDecimal(bss)
        Console.write("\n")
    }

    /// `os3: timing kcycles multitasking=<n>` (interrupts, threads, SMP,
    /// scheduler checks, ring 3: from mark 6 to mark 7).
    static func reportMultitasking() {
        withUnsafeBytes(of: &marks) { raw in
            Console.write("os3: timing kcycles multitasking=")
            Console.writeDecimal((raw.load(fromByteOffset: 56, as: UInt64.self)
                &- raw.load(fromByteOffset: 48, as: UInt64.self)) / 1000)
            Console.write("\n")
        }
    }

    static func report() {
        bench()
        withUnsafeBytes(of: &marks) { raw in
            func delta(_ i: Int) -> UInt64 {
                (raw.load(fromByteOffset: (i + 1) * 8, as: UInt64.self)
                    &- raw.load(fromByteOffset: i * 8, as: UInt64.self)) / 1000
            }
            Console.write("os3: timing kcycles frames=")
            Console.writeDecimal(delta(0))
            Console.write(" paging=")
            Console.writeDecimal(delta(1))
            Console.write(" highmem+pfault=")
            Console.writeDecimal(delta(2))
            Console.write(" heap=")
            Console.writeDecimal(delta(3))
            Console.write(" selftest=")
            Console.writeDecimal(delta(4))
            Console.write(" storm=")
            Console.writeDecimal(delta(5))
            Console.write(" mtrrdef=")
            Console.writeHex(mtrrDefaultAtBoot)
            Console.write(" pat=")
            Console.writeHex(arch_rdmsr(0x277))
            Console.write(" cr0=")
            Console.writeHex(arch_read_cr0())
            Console.write("\n")
        }
    }
}
