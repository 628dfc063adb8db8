// PROBE (temporary): what happened during the preemption check's window.
@_extern(c, "probe_ticks_base") func probe_ticks_base() -> UnsafeMutablePointer<UInt64>

enum Probe {
    static let capacity = 64
    nonisolated(unsafe) static var armed = false
    nonisolated(unsafe) static var n = 0
    nonisolated(unsafe) static var a = -1
    nonisolated(unsafe) static var b = -1
    // per dispatch: tsc, tick, prev, next, counterA, counterB, preempting
    nonisolated(unsafe) static var log: UnsafeMutablePointer<UInt64>? = nil

    static func arm(_ ta: Int, _ tb: Int) {
        if log == nil { log = UnsafeMutablePointer<UInt64>(bitPattern: UInt(KernelMemory.heap!.allocate(size: capacity * 56, alignment: 64)!)) }
        n = 0; a = ta; b = tb; armed = true
    }

    /// Scheduler lock held.
    static func dispatch(_ prev: Int, _ next: Int, _ preempting: Bool) {
        guard armed, arch_cpu() == 0, n < capacity else { return }
        let e = log! + n * 7
        e[0] = arch_rdtsc(); e[1] = Sched.ticks; e[2] = UInt64(prev); e[3] = UInt64(next)
        e[4] = Sched.thread(a).pointee.counter; e[5] = Sched.thread(b).pointee.counter
        e[6] = preempting ? 1 : 0
        n += 1
    }

    static func us(_ d: UInt64) -> UInt64 { d &* 1000 / max(Interrupts.tscPerMs, 1) }

    /// Summary always; details when `full`.
    static func report(startTSC: UInt64, startTick: UInt64, endTick: UInt64, full: Bool) {
        armed = false
        let ring = probe_ticks_base()
        // tick gaps inside the window
        var minGap = UInt64.max, maxGap: UInt64 = 0
        var t = startTick &+ 2
        while t <= endTick && t &- startTick < 250 {
            let g = ring[Int(t & 255) * 2] &- ring[Int((t &- 1) & 255) * 2]
            if g < minGap { minGap = g }
            if g > maxGap { maxGap = g }
            t &+= 1
        }
        var runsA: UInt64 = 0, runsB: UInt64 = 0
        var i = 0
        while i < n { if log![i * 7 + 3] == UInt64(a) { runsA += 1 }; if log![i * 7 + 3] == UInt64(b) { runsB += 1 }; i += 1 }
        // per run progress: counter of the dispatched thread at the next dispatch minus at its own
        var killed: UInt64 = 0, minRun = UInt64.max
        i = 0
        while i + 1 < n {
            let nx = log![i * 7 + 3]
            if nx == UInt64(a) || nx == UInt64(b) {
                let col = nx == UInt64(a) ? 4 : 5
                let d = log![(i + 1) * 7 + col] &- log![i * 7 + col]
                if d == 0 { killed += 1 }
                if d < minRun { minRun = d }
            }
            i += 1
        }
        Console.write("os3: probe killed="); Console.writeDecimal(killed)
        Console.write(" minrun="); Console.writeDecimal(minRun)
        Console.write(" window ticks="); Console.writeDecimal(endTick &- startTick)
        Console.write(" us="); Console.writeDecimal(us(arch_rdtsc() &- startTSC))
        Console.write(" gap-us-min="); Console.writeDecimal(us(minGap))
        Console.write(" max="); Console.writeDecimal(us(maxGap))
        Console.write(" dispatches="); Console.writeDecimal(UInt64(n))
        Console.write(" runs-a="); Console.writeDecimal(runsA)
        Console.write(" runs-b="); Console.writeDecimal(runsB)
        Console.write("\n")
        guard full || killed > 0 else { return }
        i = 0
        while i < n {
            let e = log! + i * 7
            Console.write("os3: probe dispatch t-us="); Console.writeDecimal(us(e[0] &- startTSC))
            Console.write(" tick="); Console.writeDecimal(e[1] &- startTick)
            Console.write(" prev="); Console.writeDecimal(e[2])
            Console.write(" next="); Console.writeDecimal(e[3])
            Console.write(" ca="); Console.writeDecimal(e[4])
            Console.write(" cb="); Console.writeDecimal(e[5])
            Console.write(" pre="); Console.writeDecimal(e[6])
            Console.write("\n")
            i += 1
        }
        t = startTick
        while t <= endTick &+ 2 && t &- startTick < 250 {
            Console.write("os3: probe tick="); Console.writeDecimal(t &- startTick)
            Console.write(" t-us="); Console.writeDecimal(us(ring[Int(t & 255) * 2] &- startTSC))
            Console.write(" rip="); Console.writeHex(ring[Int(t & 255) * 2 + 1])
            Console.write("\n")
            t &+= 1
        }
    }
}
