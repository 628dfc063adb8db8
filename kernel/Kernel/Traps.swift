// Traps.swift — GDT + TSS + IDT for the 32 CPU exceptions, and the one Swift
// trap handler every stub in arch/x86_64/traps.S calls.
//
// Expected traps: int3 while `Traps.expectBreakpoint` is set (returns), and a
// page fault at `arch_probe_read` on the armed address (resumes at the
// probe's fixup). Anything else is a kernel bug: the panic line
// `os3: PANIC: exception vector=<n> error=0x<hex> rip=0x<hex> cr2=0x<hex>`
// and exit status 0x11.

enum Traps {
    static let codeSelector: UInt16 = 0x08
    static let dataSelector: UInt16 = 0x10
    static let userDataSelector: UInt16 = 0x18 | 3
    static let userCodeSelector: UInt16 = 0x20 | 3
    /// CPU n's TSS descriptor is GDT entries 5 + 2n, 6 + 2n.
    static func tssSelector(cpu: Int) -> UInt16 { UInt16(0x28 + cpu * 16) }
    static let gdtEntries = 5 + 2 * PerCPU.maxCPUs
    static let tssStride = 112
    static let vectorCount = 32
    static let doubleFaultIST: UInt8 = 1

    // Frame word indices (traps.S).
    static let frameRAX = 14
    static let frameRDI = 9
    static let frameRSI = 10
    static let frameRDX = 11
    static let frameVector = 15
    static let frameError = 16
    static let frameRIP = 17
    static let frameCS = 18
    static let frameRFLAGS = 19
    static let frameRSP = 20
    static let trapFlag: UInt64 = 1 << 8

    nonisolated(unsafe) static var expectBreakpoint = false
    nonisolated(unsafe) static var breakpointsSeen = 0
    nonisolated(unsafe) static var probeAddress: UInt64 = 0
    nonisolated(unsafe) static var probeArmed = false
    nonisolated(unsafe) static var probeFaultCR2: UInt64 = 0

    /// Builds and loads the GDT (kernel code/data, user data/code, one TSS
    /// per CPU), CPU 0's TSS (IST1 = #DF stack) and the IDT with all 32
    /// exception vectors.
    static func install() {
        let gdt = UnsafeMutablePointer<UInt64>(bitPattern: UInt(arch_gdt_base()))!
        gdt[0] = 0
        gdt[1] = SegmentDescriptor.kernelCode64
        gdt[2] = SegmentDescriptor.kernelData
        gdt[3] = SegmentDescriptor.userData
        gdt[4] = SegmentDescriptor.userCode64
        loadCPU(0, istTop: arch_ist1_top())
        var vector = 0
        while vector < vectorCount {
            setGate(vector)
            vector += 1
        }
        loadIDT()
    }

    /// CPU `cpu`'s TSS (IST1 = `istTop`) and descriptor; loads the GDT and
    /// the task register on the calling CPU (the BSP in `install`, each AP
    /// from SMP.swift). Returns the TSS address.
    @discardableResult
    static func loadCPU(_ cpu: Int, istTop: UInt64) -> UInt64 {
        let gdt = UnsafeMutablePointer<UInt64>(bitPattern: UInt(arch_gdt_base()))!
        let tssBase = arch_tss_base() + UInt64(cpu * tssStride)
        let tssDescriptor = SegmentDescriptor.tss(base: tssBase, limit: 103)
        gdt[5 + 2 * cpu] = tssDescriptor.low
        gdt[6 + 2 * cpu] = tssDescriptor.high
        // TSS: rsp0 @4, ist1 @36 (unaligned u64 fields), iomap base @102.
        let tss = UnsafeMutableRawPointer(bitPattern: UInt(tssBase))!
        tss.initializeMemory(as: UInt8.self, repeating: 0, count: 104)
        tss.storeBytes(of: istTop, toByteOffset: 36, as: UInt64.self)
        tss.storeBytes(of: UInt16(104), toByteOffset: 102, as: UInt16.self)
        arch_load_gdt(arch_gdt_base(), UInt16(gdtEntries * 8 - 1), codeSelector, dataSelector)
        arch_load_tr(tssSelector(cpu: cpu))
        return tssBase
    }

    /// IDT gate for `vector` -> its stub (interrupt gate: IF off on entry).
    static func setGate(_ vector: Int, userCallable: Bool = false) {
        let idt = UnsafeMutablePointer<UInt64>(bitPattern: UInt(arch_idt_base()))!
        let gate = GateDescriptor(
            handler: arch_trap_stub(UInt64(vector)), selector: codeSelector,
            ist: vector == 8 ? doubleFaultIST : 0, dpl: userCallable ? 3 : 0)
        let pair = gate.encoded
        idt[vector * 2] = pair.low
        idt[vector * 2 + 1] = pair.high
    }

    /// All 256 vectors' worth of IDT (unset ones are not present).
    static func loadIDT() { arch_load_idt(arch_idt_base(), UInt16(256 * 16 - 1)) }

    /// Whether CPUID's hypervisor leaf says "KVMKVMKVM".
    static func underKVM() -> Bool {
        guard cpuid(1).2 & (1 << 31) != 0 else { return false }
        let leaf = cpuid(0x4000_0000)
        return leaf.1 == 0x4B4D_564B && leaf.2 == 0x564B_4D56 && leaf.3 == 0x0000_004D
    }

    /// A breakpoint trap delivered through the IDT and returned from:
    /// `int3` (vector 3), except under KVM, where a software interrupt kills
    /// the guest here (nested SVM without next-RIP save: KVM must emulate
    /// the int3 to re-inject it and fails, "KVM internal error. Suberror: 1";
    /// `int $3` too). There the same debug-trap path is proven with a
    /// single-step #DB (vector 1, RFLAGS.TF), a hardware trap. Returns
    /// "int3" or "db-step" (nil on failure).
    static func testBreakpoint() -> StaticString? {
        expectBreakpoint = true
        let before = breakpointsSeen
        let kvm = underKVM()
        if kvm { arch_single_step() } else { arch_breakpoint() }
        expectBreakpoint = false
        guard breakpointsSeen == before + 1 else { return nil }
        return kvm ? "db-step" : "int3"
    }

    /// Reads `address` (which must be unmapped) through the probe. Returns
    /// the CR2 the handler saw, or nil if the read did not fault.
    static func probeUnmapped(_ address: UInt64) -> UInt64? {
        probeAddress = address
        probeFaultCR2 = 0
        probeArmed = true
        let value = arch_probe_read(address)
        let faulted = !probeArmed
        probeArmed = false
        guard faulted, value == UInt64.max else { return nil }
        return probeFaultCR2
    }
}

@c(os3_trap)
func os3_trap(_ frame: UnsafeMutablePointer<UInt64>) {
    let vector = frame[Traps.frameVector]
    if vector >= 32 {
        switch vector {
        case 32: Sched.timerTick()
        case 36: SerialInput.interrupt()
        case 128:
            UserMode.callsViaGate &+= 1
            UserMode.systemCall(frame)
        default: break  // 255: LAPIC spurious, no EOI
        }
        return
    }
    // No ring-3 action may panic the kernel: user exceptions kill the thread
    // (or are its system call, see UserMode.swift).
    if frame[Traps.frameCS] & 3 == 3 {
        UserMode.exception(frame)
        return
    }
    let rip = frame[Traps.frameRIP]
    if vector == 3 && Traps.expectBreakpoint {
        Traps.breakpointsSeen += 1
        return
    }
    if vector == 1 && Traps.expectBreakpoint && frame[Traps.frameRFLAGS] & Traps.trapFlag != 0 {
        frame[Traps.frameRFLAGS] &= ~Traps.trapFlag
        Traps.breakpointsSeen += 1
        return
    }
    if vector == 14 && Traps.probeArmed && rip == arch_probe_read_rip() {
        let cr2 = arch_read_cr2()
        if cr2 == Traps.probeAddress {
            Traps.probeFaultCR2 = cr2
            Traps.probeArmed = false
            frame[Traps.frameRIP] = arch_probe_read_fixup_rip()
            return
        }
    }
    Console.write("os3: PANIC: exception vector=")
    Console.writeDecimal(vector)
    Console.write(" error=")
    Console.writeHex(frame[Traps.frameError])
    Console.write(" rip=")
    Console.writeHex(rip)
    Console.write(" cr2=")
    Console.writeHex(arch_read_cr2())
    Console.write("\n")
    DebugExit.exit(DebugExit.failure)
}
