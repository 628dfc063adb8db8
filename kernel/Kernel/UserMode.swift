// UserMode.swift — ring 3: user threads, system calls, and enforcement.
//
// Address space: the kernel's page tables plus one user region at
// `base` (PML4 slot 1): a read-only code page holding arch/x86_64/user.S's
// programs, and one stack page per user thread, with unmapped gaps between.
// Only these pages carry the U bit; the kernel's identity map stays
// supervisor-only, so a ring-3 touch of kernel memory is a #PF.
//
// System calls: `int $0x80` (IDT gate with DPL 3). Under the kvm lanes'
// hypervisor a software interrupt from ring 3 arrives as #UD at the `int`
// instruction instead (it cannot deliver `int n`; `syscall` there does not
// even leave ring 3), so a #UD from ring 3 whose bytes at RIP are CD 80 is
// the same system call, RIP moved past it. Under TCG the gate is used. The
// marker says which path carried the calls.
//
// OS/3 rule: no ring-3 action may panic the kernel. Any exception from
// ring 3 kills the thread (its vector and address are recorded), a system
// call with a pointer outside the user's mapped pages kills it too; the
// kernel keeps running and the tests assert each kill happened as expected.

enum UserMode {
    static let base: UInt64 = 0x0000_0080_0000_0000
    static let codePage = 0  // PT index
    static let firstStackPage = 16  // PT index; thread i's stack at 16 + 2i (gaps between)
    static let maxThreads = 8
    static let badPointerKill: Int64 = -2

    static let sysExit: UInt64 = 0
    static let sysWrite: UInt64 = 1
    static let sysYield: UInt64 = 2

    nonisolated(unsafe) static var pageTable: UnsafeMutablePointer<UInt64>? = nil
    nonisolated(unsafe) static var offsets: (UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0)
    nonisolated(unsafe) static var stacksUsed = 0
    nonisolated(unsafe) static var callsViaGate: UInt64 = 0
    nonisolated(unsafe) static var callsViaUD: UInt64 = 0

    static let user: UInt64 = 1 << 2
    static let present: UInt64 = 1
    static let writable: UInt64 = 1 << 1

    /// Builds the user region (PDPT, PD, PT, code page) in the kernel's
    /// tables: PML4 slot 1, visible on every CPU.
    static func initialize() {
        func frame() -> UInt64 {
            let f = KernelMemory.allocateFrame()
            KernelMemory.zeroPage(f)
            return f
        }
        let pdpt = frame(), pd = frame(), pt = frame(), code = frame()
        withUnsafeMutableBytes(of: &offsets) { arch_user_program_offsets($0.baseAddress!.assumingMemoryBound(to: UInt64.self)) }
        guard offsets.0 <= 4096 else { panic("ring3: the user programs do not fit one page") }
        UnsafeMutableRawPointer(bitPattern: UInt(code))!
            .copyMemory(from: UnsafeRawPointer(bitPattern: UInt(arch_user_programs()))!, byteCount: Int(offsets.0))
        let table = UnsafeMutablePointer<UInt64>(bitPattern: UInt(pt))!
        table[codePage] = code | present | user  // read-only
        KernelMemory.pointer(pd, to: UInt64.self)[0] = pt | present | writable | user
        KernelMemory.pointer(pdpt, to: UInt64.self)[0] = pd | present | writable | user
        let pml4 = KernelMemory.pointer(arch_read_cr3() & PageTableEntry.addressMask, to: UInt64.self)
        pml4[1] = pdpt | present | writable | user
        pageTable = table
    }

    /// A kernel thread that enters ring 3 at `program` (an offset into the
    /// code page) with a fresh user stack page.
    static func spawn(program: UInt64, pinned: Int?) -> Int? {
        guard stacksUsed < maxThreads else { return nil }
        let index = firstStackPage + 2 * stacksUsed
        stacksUsed += 1
        let stack = KernelMemory.allocateFrame()
        pageTable!.advanced(by: index).pointee = stack | present | writable | user
        let stackTop = base + UInt64(index + 1) * 4096
        guard let id = Sched.spawn(userThreadBody, argument: base + program, priority: 2, pinned: pinned) else {
            return nil
        }
        Sched.thread(id).pointee.userStackTop = stackTop
        return id
    }

    /// Whether [address, address + count) lies in mapped user pages.
    static func userRange(_ address: UInt64, _ count: UInt64) -> Bool {
        guard count <= 4096, address >= base, address &+ count >= address,
            address &+ count <= base + 512 * 4096
        else { return false }
        var page = (address - base) >> 12
        let last = (address &+ max(count, 1) &- 1 - base) >> 12
        while page <= last {
            if pageTable!.advanced(by: Int(page)).pointee & (present | user) != (present | user) { return false }
            page += 1
        }
        return true
    }

    /// `int $0x80` (through the gate, or recognised in `exception`).
    static func systemCall(_ frame: UnsafeMutablePointer<UInt64>) {
        guard frame[Traps.frameCS] & 3 == 3 else { panic("system call gate entered from ring 0") }
        let me = Sched.current
        let t = Sched.thread(me)
        EventLog.note(3, frame[Traps.frameRAX])
        t.pointee.counter &+= 1
        switch frame[Traps.frameRAX] {
        case sysExit:
            t.pointee.exitCode = Int64(bitPattern: frame[Traps.frameRDI])
            Sched.exitCurrent()
        case sysWrite:
            let pointer = frame[Traps.frameRDI]
            let count = frame[Traps.frameRSI]
            guard count <= 200, userRange(pointer, count) else {
                t.pointee.killVector = badPointerKill
                t.pointee.killAddress = pointer
                Sched.exitCurrent()
            }
            let flags = Locks.console.acquire()
            Console.write("os3: ring3 write \"")
            Console.write(bytes: UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: UInt(pointer)), count: Int(count)))
            Console.write("\"\n")
            Locks.console.release(flags)
            frame[Traps.frameRAX] = count
        case sysYield:
            frame[Traps.frameRAX] = 0
            Sched.yield()
        default:
            frame[Traps.frameRAX] = UInt64.max  // unknown call: an error, not a kill
        }
    }

    /// Any exception from ring 3.
    static func exception(_ frame: UnsafeMutablePointer<UInt64>) {
        let vector = frame[Traps.frameVector]
        let rip = frame[Traps.frameRIP]
        EventLog.note(4, vector)
        if vector == 6, userRange(rip, 2),
            UnsafePointer<UInt8>(bitPattern: UInt(rip))![0] == 0xCD,
            UnsafePointer<UInt8>(bitPattern: UInt(rip))![1] == 0x80
        {
            // The hypervisor could not deliver `int $0x80`: it is the system call.
            callsViaUD &+= 1
            frame[Traps.frameRIP] = rip + 2
            systemCall(frame)
            return
        }
        let t = Sched.thread(Sched.current)
        t.pointee.killVector = Int64(vector)
        t.pointee.killAddress = vector == 14 ? arch_read_cr2() : rip
        t.pointee.exitCode = Int64(bitPattern: frame[Traps.frameError])
        Sched.exitCurrent()
    }
}

/// A user thread's kernel side: into ring 3, never back here.
func userThreadBody(_ entry: UInt64) {
    let t = Sched.thread(Sched.current)
    arch_enter_user(rip: entry, rsp: t.pointee.userStackTop, arg: 0)
}
