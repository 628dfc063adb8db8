// EventLog.swift — os3.trace=1: a small in-memory log of scheduler and
// ring-3 events with TSC stamps, printed at the end (diagnostics only).

enum EventLog {
    static let capacity = 512
    nonisolated(unsafe) static var enabled = false
    nonisolated(unsafe) static var entries: UnsafeMutablePointer<UInt64>? = nil
    nonisolated(unsafe) static var count: UnsafeMutablePointer<UInt64>? = nil
    nonisolated(unsafe) static var start: UInt64 = 0

    static func enable() {
        let block = BootArena.take(UInt64.self, count: 1)
        block.pointee = 0
        count = block
        entries = UnsafeMutablePointer<UInt64>(bitPattern: UInt(KernelMemory.frames!.allocate(count: 4)!))
        start = arch_rdtsc()
        enabled = true
    }

    /// kind: 1 dispatch(a=thread) 2 timer-slow 3 syscall(a=nr) 4 user-exception(a=vector) 5 exit 6 wake(a=thread) 7 block
    @inline(__always) static func note(_ kind: UInt64, _ a: UInt64) {
        guard enabled else { return }
        let i = arch_atomic_add(count!, 1)
        guard i < UInt64(capacity) else { return }
        entries![Int(i) * 2] = arch_rdtsc()
        entries![Int(i) * 2 + 1] = kind << 56 | UInt64(arch_cpu()) << 48 | UInt64(Sched.current) << 32 | a
    }

    static func dump() {
        guard enabled else { return }
        var i = 0
        let n = min(Int(count!.pointee), capacity)
        while i < n {
            let e = entries![i * 2 + 1]
            Console.write("os3: ev t-us=")
            Console.writeDecimal((entries![i * 2] &- start) * 1000 / max(Interrupts.tscPerMs, 1))
            Console.write(" k=")
            Console.writeDecimal(e >> 56)
            Console.write(" cpu=")
            Console.writeDecimal((e >> 48) & 0xFF)
            Console.write(" cur=")
            Console.writeDecimal((e >> 32) & 0xFFFF)
            Console.write(" a=")
            Console.writeDecimal(e & 0xFFFF_FFFF)
            Console.write("\n")
            i += 1
        }
    }
}
