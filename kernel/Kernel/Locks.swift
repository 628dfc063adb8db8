// Locks.swift — the interrupt-safe spinlock and per-CPU data.
//
// `IrqLock.acquire()` turns interrupts off BEFORE spinning and returns the
// caller's flags; `release(flags)` unlocks and turns interrupts back on only
// if they were on. So an interrupt handler on the same CPU can never find
// the lock held under it (no self-deadlock), whatever it takes. The
// scheduler, the heap (posix_memalign/free) and the console use it.

struct IrqLock {
    let word: UnsafeMutablePointer<UInt32>

    @inline(__always) func acquire() -> UInt64 { arch_lock_irqsave(word) }
    @inline(__always) func release(_ flags: UInt64) { arch_unlock_irqrestore(word, flags) }
    /// Release without touching the interrupt flag (after a context switch
    /// the lock is released by the thread that runs next).
    @inline(__always) func releaseWord() { arch_unlock(word) }
}

/// The kernel's locks. `initialize()` runs first thing in kmain (lock words
/// from the boot arena, each on its own cache line).
enum Locks {
    nonisolated(unsafe) static var words: UnsafeMutablePointer<UInt32>? = nil

    static func initialize() {
        let block = BootArena.take(UInt64.self, count: 4 * 8)
        block.initialize(repeating: 0, count: 4 * 8)
        words = UnsafeMutableRawPointer(block).assumingMemoryBound(to: UInt32.self)
    }

    static var scheduler: IrqLock { IrqLock(word: words.unsafelyUnwrapped) }
    static var heap: IrqLock { IrqLock(word: words.unsafelyUnwrapped + 16) }
    static var console: IrqLock { IrqLock(word: words.unsafelyUnwrapped + 32) }
}

/// Per-CPU block (irq.S: %gs base). Word indices.
enum PerCPU {
    static let maxCPUs = 8
    static let selfPointer = 0
    static let cpu = 1
    static let ticks = 2
    static let slice = 3
    static let deadline = 4
    static let current = 5
    static let tss = 6
    static let kick = 7
    static let idle = 8
    static let switches = 9
    static let stackTop = 10
    static let words = 16

    static func block(_ cpu: Int) -> UnsafeMutablePointer<UInt64> {
        UnsafeMutablePointer<UInt64>(bitPattern: UInt(arch_percpu_base()) + UInt(cpu * words * 8))!
    }

    /// Sets up CPU `cpu`'s block and points %gs at it.
    static func install(cpu: Int) {
        let b = block(cpu)
        b.initialize(repeating: 0, count: words)
        b[PerCPU.selfPointer] = UInt64(UInt(bitPattern: b))
        b[PerCPU.cpu] = UInt64(cpu)
        b[PerCPU.slice] = UInt64.max >> 1
        b[PerCPU.deadline] = UInt64.max
        arch_set_gs_base(UInt64(UInt(bitPattern: b)))
    }
}
