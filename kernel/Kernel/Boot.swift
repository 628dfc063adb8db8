// Boot.swift — kmain: the first Swift code, called by boot.S in long mode.
// Prints the boot protocol (docs/KERNEL.md) and exits through isa-debug-exit.

import _Volatile

/// Longest command line we read from the start-info pointer.
let commandLineLimit = 4096
/// Words of the command line kept as spans (more: slower lookups, same answers).
let argumentCapacity = 64
/// Regions of the memory map resolved once (more: the uncached O(n²) scan).
let regionCapacity = 64

@c(kmain)
func kmain(startInfo: UInt64) {
    Serial.initialize()
    Locks.initialize()

    guard startInfo != 0, startInfo < bootIdentityMapEnd - UInt64(PVHStartInfo.size),
        let info = PVHStartInfo(bytes: physicalBytes(startInfo, count: PVHStartInfo.size))
    else { panic("no valid PVH start info (bad magic in hvm_start_info)") }
    // A bare "\n" first: firmware (SeaBIOS: "Booting from ROM..") may have
    // left the line unterminated, and every protocol line must start a line.
    Console.write("\nos3: boot ok entry=pvh mode=long64\n")

    let commandLine = KernelArguments(
        readCommandLine(info.commandLineAddress),
        storage: BootArena.take(KernelArgumentSpan.self, count: argumentCapacity), capacity: argumentCapacity)
    Console.write("os3: cmdline \"")
    Console.write(bytes: commandLine.bytes)
    Console.write("\"\n")

    runRequestedFailureModes(commandLine)
    let randomness = Randomness(commandLine)

    // Traps first: from here on a CPU exception is a panic line, not a
    // silent triple fault.
    Traps.install()
    Console.write("os3: idt ok vectors=32 ist=1 gdt=code,data,tss\n")
    guard let how = Traps.testBreakpoint() else { panic("breakpoint did not come back through the IDT") }
    Console.write("os3: trap breakpoint ok via=")
    Console.write(how)
    Console.write("\n")

    let memoryMap = MemoryMap(
        copyMemoryMap(info), regionCache: BootArena.take(MemoryRegion.self, count: regionCapacity),
        capacity: regionCapacity)
    if commandLine.flag("os3.memmap") { printMemoryMap(memoryMap) }
    let summary = memoryMap.summary()
    Console.write("os3: memmap entries=")
    Console.writeDecimal(summary.entryCount)
    Console.write(" ram=")
    Console.writeDecimal(summary.ramMiB)
    Console.write(" usable=")
    Console.writeDecimal(summary.usableMiB)
    Console.write(" above4g=")
    Console.writeDecimal(summary.above4GMiB)
    Console.write("\n")

    Timing.mtrrDefaultAtBoot = arch_rdmsr(0x2FF)
    if commandLine.flag("os3.mtrr") { arch_wrmsr(0x2FF, 0x806) }
    Timing.mark(0)
    KernelMemory.initializeFrames(memoryMap)
    Timing.mark(1)
    KernelPaging.install(memoryMap)
    Timing.mark(2)

    if let address = memoryMap.highMemoryTestAddress() {
        // Reserve the block so nothing else holds it, touch it through the
        // kernel's own tables, give it back.
        guard let block = KernelMemory.frames!.allocate(count: 512, alignment: MemoryBounds.twoMiB, minimum: address),
            block == address
        else { panic("highmem test block is not free") }
        touchHighMemory(address)
        _ = KernelMemory.frames!.free(block, count: 512)
        Console.write("os3: highmem touched ok addr=")
        Console.writeHex(address)
        Console.write(" tables=kernel\n")
    } else {
        Console.write("os3: highmem none\n")
    }

    guard let cr2 = Traps.probeUnmapped(unmappedProbeAddress), cr2 == unmappedProbeAddress else {
        panic("page fault on an unmapped address was not recovered")
    }
    Console.write("os3: trap pagefault recovered cr2=")
    Console.writeHex(cr2)
    Console.write("\n")

    runRequestedFaults(commandLine)

    Timing.mark(3)
    KernelMemory.initializeHeap()
    Timing.mark(4)
    HeapSelfTest.runtimeObjects()
    HeapSelfTest.doubleFree()
    Timing.mark(5)
    switch commandLine.decimal(forKey: "os3.storm") {
    case .value(let ops) where ops > 0 && ops <= 1_000_000: HeapSelfTest.conservation(ops: Int(ops))
    case .absent: HeapSelfTest.conservation(ops: HeapSelfTest.defaultStorm)
    default: panic("os3.storm must be a decimal from 1 to 1000000")
    }
    Timing.mark(6)
    if commandLine.flag("os3.timing") { Timing.report() }
    if commandLine.flag("os3.exhaust") { HeapSelfTest.exhaustion() }

    Timing.mark(6)
    Multitasking.run(commandLine)
    Timing.mark(7)
    if commandLine.flag("os3.timing") { Timing.reportMultitasking() }
    randomness.failIfFlakeInjected()

    if commandLine.flag("os3.poweroff") {
        Console.write("os3: ALL OK\n")
        PowerOff.now()
    }
    switch commandLine.decimal(forKey: "os3.exit") {
    case .absent:
        Console.write("os3: ALL OK\n")
        DebugExit.exit(DebugExit.success)
    case .value(let code) where code <= 255:
        Console.write("os3: exiting with ")
        Console.writeDecimal(code)
        Console.write("\n")
        DebugExit.exit(UInt8(code))
    default:
        panic("os3.exit must be a decimal from 0 to 255")
    }
}

/// The test-only kernel arguments that make the boot fail on purpose.
func runRequestedFailureModes(_ commandLine: KernelArguments) {
    if commandLine.flag("os3.panic") {
        panic("deliberate panic requested by os3.panic=1")
    }
    if commandLine.flag("os3.triplefault") {
        arch_triple_fault()
    }
    if commandLine.flag("os3.hang") {
        arch_halt_forever()
    }
    if commandLine.flag("os3.chatter") {
        var n: UInt64 = 0
        while true {
            Console.write("os3: chatter ")
            Console.writeDecimal(n)
            Console.write("\n")
            n &+= 1
            // Busy delay by TSC (~0.1-0.3 ms at 1-3 GHz). Not `pause` in a
            // loop: under nested KVM pause-loop exiting makes that crawl.
            let start = arch_rdtsc()
            while arch_rdtsc() &- start < 300_000 {}
        }
    }
}

/// Canonical, never mapped (PML4 slot 252 is empty): the page-fault probe
/// and os3.fault=pf/df use it.
let unmappedProbeAddress: UInt64 = 0x0000_7E57_0000_0ACE

/// `os3.fault=ud|pf|df`: an exception nobody expects, after the IDT exists,
/// so the panic path is tested end to end (vector 6, 14, or 8 on IST1).
func runRequestedFaults(_ commandLine: KernelArguments) {
    if commandLine.value(forKey: "os3.fault", is: "ud") { arch_fault_ud() }
    if commandLine.value(forKey: "os3.fault", is: "pf") {
        let value = UnsafePointer<UInt64>(bitPattern: UInt(unmappedProbeAddress))!.pointee
        Console.writeHex(value)
        panic("os3.fault=pf: the unmapped read did not fault")
    }
    if commandLine.value(forKey: "os3.fault", is: "df") { arch_fault_df(stack: unmappedProbeAddress & ~0xFFF) }
}

/// The PVH memory map copied into the kernel (the firmware's copy sits in
/// low memory that is slow to read under KVM: ~20 ms for the map's O(n²)
/// analysis when read in place).
func copyMemoryMap(_ info: PVHStartInfo) -> UnsafeBufferPointer<MemoryMapEntry> {
    guard info.memoryMapEntryCount > 0, info.memoryMapAddress != 0,
        info.memoryMapAddress < bootIdentityMapEnd - UInt64(memmapBufferEntries * PVHMemoryMapEntries.entrySize)
    else { panic("PVH start info has no memory map") }
    let count = min(Int(info.memoryMapEntryCount), memmapBufferEntries)
    let raw = PVHMemoryMapEntries(
        bytes: physicalBytes(info.memoryMapAddress, count: count * PVHMemoryMapEntries.entrySize))
    // Decoded once into the kernel: the map is walked O(n²) several times and
    // every instruction counts under nested KVM (docs/KERNEL.md, "Speed").
    let decoded = UnsafeMutablePointer<MemoryMapEntry>(bitPattern: UInt(arch_memmap_buffer()))!
    var i = 0
    while i < count {
        (decoded + i).initialize(to: raw[i])
        i += 1
    }
    return UnsafeBufferPointer(start: decoded, count: count)
}

/// Bytes at an identity-mapped physical address (below 1 GiB at boot).
func physicalBytes(_ address: UInt64, count: Int) -> UnsafeRawBufferPointer {
    UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: UInt(address)), count: count)
}

/// The NUL-terminated command line at `address`, without the NUL.
func readCommandLine(_ address: UInt64) -> UnsafeRawBufferPointer {
    guard address != 0, address < bootIdentityMapEnd - UInt64(commandLineLimit) else {
        return UnsafeRawBufferPointer(start: nil, count: 0)
    }
    let bytes = physicalBytes(address, count: commandLineLimit)
    let length = arch_strnlen(bytes.baseAddress!, UInt64(commandLineLimit))
    // Copy into the kernel (see copyMemoryMap).
    let buffer = UnsafeMutableRawPointer(bitPattern: UInt(arch_cmdline_buffer()))!
    buffer.copyMemory(from: bytes.baseAddress!, byteCount: length)
    return UnsafeRawBufferPointer(start: buffer, count: length)
}

/// Through the kernel's page tables (which map all RAM), writes address-dependent patterns to
/// its first, middle and last words, and reads them back (volatile, so the
/// compiler cannot fold the round trip). Panics on a mismatch.
func touchHighMemory(_ address: UInt64) {
    let offsets: (UInt64, UInt64, UInt64) = (0, MemoryBounds.oneMiB, MemoryBounds.twoMiB - 8)
    func pattern(_ at: UInt64) -> UInt64 { 0x05F3_C0DE_0000_0000 ^ at ^ (at << 17) }
    func check(_ offset: UInt64) {
        let at = address + offset
        let word = VolatileMappedRegister<UInt64>(unsafeBitPattern: UInt(at))
        word.store(pattern(at))
        word.store(~pattern(at))
        guard word.load() == ~pattern(at) else {
            panic("highmem readback mismatch")
        }
        word.store(pattern(at))
        guard word.load() == pattern(at) else {
            panic("highmem readback mismatch")
        }
    }
    check(offsets.0)
    check(offsets.1)
    check(offsets.2)
}

/// `os3.memmap=1`: one line per firmware entry, then per resolved region.
func printMemoryMap(_ memoryMap: BootMemoryMap) {
    for entry in memoryMap.entries {
        Console.write("os3: memmap entry base=")
        Console.writeHex(entry.base)
        Console.write(" size=")
        Console.writeHex(entry.size)
        Console.write(" type=")
        Console.writeDecimal(UInt64(entry.type))
        Console.write("\n")
    }
    memoryMap.forEachRegion { region in
        Console.write("os3: memmap region base=")
        Console.writeHex(region.base)
        Console.write(" end=")
        Console.writeHex(region.end)
        Console.write(region.kind == .ram ? " ram\n" : " reserved\n")
    }
}

/// `os3.seed=N` (default 0) and `inject.flake=P`: printed after the command
/// line; a boot whose seeded draw falls under P fails at the end with
/// `os3: PANIC: injected flake seed=<n> p=<ppm>/1000000 draw=<n>`.
struct Randomness {
    let seed: UInt64
    let flakePPM: UInt32?

    init(_ commandLine: KernelArguments) {
        switch commandLine.decimal(forKey: "os3.seed") {
        case .absent: seed = 0
        case .value(let n): seed = n
        case .malformed: panic("os3.seed must be a decimal from 0 to 18446744073709551615")
        }
        if commandLine.contains(key: "inject.flake") {
            guard let value = commandLine.value(forKey: "inject.flake"), let ppm = parseProbabilityPPM(value) else {
                panic("inject.flake must be a probability from 0 to 1 (e.g. 0.2)")
            }
            flakePPM = ppm
        } else {
            flakePPM = nil
        }
        Console.write("os3: random seed=")
        Console.writeDecimal(seed)
        if let flakePPM {
            Console.write(" flake-ppm=")
            Console.writeDecimal(UInt64(flakePPM))
            Console.write("\n")
        } else {
            Console.write(" flake=off\n")
        }
    }

    func failIfFlakeInjected() {
        guard let flakePPM, FaultInjection.flakeFails(seed: seed, ppm: flakePPM) else { return }
        let flags = Locks.console.acquire()
        Console.write("os3: PANIC: injected flake seed=")
        Console.writeDecimal(seed)
        Console.write(" p=")
        Console.writeDecimal(UInt64(flakePPM))
        Console.write("/1000000 draw=")
        Console.writeDecimal(UInt64(FaultInjection.flakeDraw(seed: seed)))
        Console.write("\n")
        Locks.console.release(flags)
        DebugExit.exit(DebugExit.failure)
    }
}
