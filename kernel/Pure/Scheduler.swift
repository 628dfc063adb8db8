// Scheduler.swift — the scheduler's policy as pure logic: per-core ready
// queues by priority, pick/peek, affinity, work stealing, thread states.
//
// Compiled into the kernel (Kernel/Threads.swift holds it under the
// interrupt-safe scheduler lock and does the context switches) and for the
// host tests. Nothing allocates: all state lives in caller-provided storage
// (`storageSize` bytes). Every operation is O(priorities + cores) or O(queue
// length) for stealing; arithmetic is wrapping (`&+`): in the kvm lanes
// every ring-0 instruction is emulated, and this runs on every preemption.
//
// Model:
//  - Threads have an id (0 ..< capacity), a priority (0 = idle ... 3 =
//    high), and either a pinned core or none (they may run anywhere).
//  - Each core has one FIFO per priority and at most one running thread.
//  - `peekReady(core:)` says which thread the next `reschedule(core:)` on
//    that core will run, without changing anything; `reschedule` runs exactly
//    that thread (tested on random operation sequences).
//  - Choice on core c: the highest priority among the heads of c's queues
//    and c's running thread (if it is still runnable); on a tie the queued
//    thread wins (round robin: the running one goes to the tail). If that
//    choice has priority 0 (idle) or there is none, a ready thread with
//    priority > 0 that is NOT pinned may be stolen from another core
//    (lowest core number first, highest priority first). Pinned threads
//    never run anywhere but their core.

public enum ThreadState: UInt8, Sendable {
    case free = 0
    case ready = 1
    case running = 2
    case blocked = 3
    case dead = 4
}

public struct SchedulerCounts: Equatable, Sendable {
    public var ready = 0
    public var running = 0
    public var blocked = 0
    public var dead = 0
    public init() {}
    public var live: Int { ready &+ running &+ blocked }
}

public struct SchedulerPolicy {
    public static let priorities = 4
    public static let idlePriority = 0
    public static let noCore = -1
    public static let none: Int32 = -1

    public let capacity: Int
    public let cores: Int

    // Per thread (Int32 each): state, priority, pinned core (-1), current
    // core (queue it is on / core it runs on / last core), next link.
    let state: UnsafeMutablePointer<Int32>
    let priority: UnsafeMutablePointer<Int32>
    let pinned: UnsafeMutablePointer<Int32>
    let core: UnsafeMutablePointer<Int32>
    let next: UnsafeMutablePointer<Int32>
    // Per core x priority: head, tail. Per core: running thread.
    let head: UnsafeMutablePointer<Int32>
    let tail: UnsafeMutablePointer<Int32>
    let running: UnsafeMutablePointer<Int32>

    public private(set) var counts = SchedulerCounts()
    /// Threads ever created (ids are not reused).
    public private(set) var created = 0

    public static func storageSize(capacity: Int, cores: Int) -> Int {
        (capacity * 5 + cores * priorities * 2 + cores) * 4
    }

    /// `storage` must hold `storageSize(capacity:cores:)` bytes (overwritten).
    public init(storage: UnsafeMutableRawPointer, capacity: Int, cores: Int) {
        precondition(capacity > 0 && cores > 0)
        self.capacity = capacity
        self.cores = cores
        let words = storage.bindMemory(
            to: Int32.self, capacity: SchedulerPolicy.storageSize(capacity: capacity, cores: cores) / 4)
        state = words
        priority = words + capacity
        pinned = words + capacity * 2
        core = words + capacity * 3
        next = words + capacity * 4
        head = words + capacity * 5
        tail = head + cores * SchedulerPolicy.priorities
        running = tail + cores * SchedulerPolicy.priorities
        var i = 0
        while i < capacity {
            state[i] = 0
            priority[i] = 0
            pinned[i] = -1
            core[i] = 0
            next[i] = -1
            i &+= 1
        }
        i = 0
        while i < cores &* SchedulerPolicy.priorities {
            head[i] = -1
            tail[i] = -1
            i &+= 1
        }
        i = 0
        while i < cores {
            running[i] = -1
            i &+= 1
        }
    }

    // MARK: - Queries

    public func state(of id: Int) -> ThreadState { ThreadState(rawValue: UInt8(truncatingIfNeeded: state[id])) ?? .free }
    public func priority(of id: Int) -> Int { Int(priority[id]) }
    /// The pinned core, or nil for a thread that may run anywhere.
    public func pinnedCore(of id: Int) -> Int? { pinned[id] < 0 ? nil : Int(pinned[id]) }
    /// The core a thread is queued on, runs on, or last ran on.
    public func core(of id: Int) -> Int { Int(core[id]) }
    public func running(on core: Int) -> Int? { running[core] < 0 ? nil : Int(running[core]) }

    /// Ready threads queued on `core` (all priorities), in pick order.
    public func queued(on core: Int) -> [Int] {
        var out: [Int] = []
        var p = SchedulerPolicy.priorities &- 1
        while p >= 0 {
            var t = head[core &* SchedulerPolicy.priorities &+ p]
            while t >= 0 {
                out.append(Int(t))
                t = next[Int(t)]
            }
            p &-= 1
        }
        return out
    }

    // MARK: - Creating threads

    /// A new ready thread, queued on its pinned core or on `core`. nil when
    /// all ids are used or the arguments are out of range.
    public mutating func spawn(priority: Int, pinnedTo pin: Int?, core home: Int) -> Int? {
        guard let id = newThread(priority: priority, pinnedTo: pin, core: home) else { return nil }
        state[id] = Int32(ThreadState.ready.rawValue)
        counts.ready &+= 1
        enqueue(id)
        return id
    }

    /// Registers the context already running on `core` (the boot thread, a
    /// core's idle loop) as a running thread. nil if the core already runs
    /// one or no id is left.
    public mutating func adoptRunning(priority: Int, pinnedTo pin: Int?, core home: Int) -> Int? {
        guard home >= 0, home < cores, running[home] < 0,
            let id = newThread(priority: priority, pinnedTo: pin, core: home)
        else { return nil }
        state[id] = Int32(ThreadState.running.rawValue)
        counts.running &+= 1
        running[home] = Int32(id)
        return id
    }

    mutating func newThread(priority p: Int, pinnedTo pin: Int?, core home: Int) -> Int? {
        guard created < capacity, p >= 0, p < SchedulerPolicy.priorities, home >= 0, home < cores else { return nil }
        if let pin, pin < 0 || pin >= cores { return nil }
        let id = created
        created &+= 1
        priority[id] = Int32(p)
        pinned[id] = pin.map { Int32($0) } ?? -1
        core[id] = Int32(pin ?? home)
        next[id] = -1
        return id
    }

    // MARK: - Pick and peek

    /// The thread the next `reschedule(core:)` on `core` will run (nil: the
    /// core has nothing to run, not even an idle thread). Changes nothing.
    public func peekReady(core c: Int) -> Int? {
        let choice = choose(core: c)
        return choice.thread < 0 ? nil : Int(choice.thread)
    }

    /// Picks exactly what `peekReady(core:)` returned: dequeues it (a stolen
    /// thread moves to `core`), requeues the previously running thread if
    /// it was still runnable and is not the pick, and marks the pick
    /// running. Returns it (nil: nothing to run; the core's running slot is
    /// then empty).
    public mutating func reschedule(core c: Int) -> Int? {
        let choice = choose(core: c)
        let current = running[c]
        if choice.thread == current { return current < 0 ? nil : Int(current) }
        if current >= 0 && state[Int(current)] == Int32(ThreadState.running.rawValue) {
            state[Int(current)] = Int32(ThreadState.ready.rawValue)
            counts.running &-= 1
            counts.ready &+= 1
            enqueue(Int(current))
        }
        running[c] = choice.thread
        guard choice.thread >= 0 else { return nil }
        let id = Int(choice.thread)
        remove(id, from: Int(choice.queueCore))
        core[id] = Int32(c)
        state[id] = Int32(ThreadState.running.rawValue)
        counts.ready &-= 1
        counts.running &+= 1
        return id
    }

    struct Choice {
        var thread: Int32
        var queueCore: Int32  // -1: the running thread itself
    }

    func choose(core c: Int) -> Choice {
        let current = running[c]
        var best = Choice(thread: -1, queueCore: -1)
        var bestPriority: Int32 = -1
        if current >= 0 && state[Int(current)] == Int32(ThreadState.running.rawValue) {
            best = Choice(thread: current, queueCore: -1)
            bestPriority = priority[Int(current)]
        }
        // Highest non-empty local queue; a tie with the running thread goes to the queue.
        var p = SchedulerPolicy.priorities &- 1
        let base = c &* SchedulerPolicy.priorities
        while p >= 0 && Int32(p) >= bestPriority {
            let h = head[base &+ p]
            if h >= 0 {
                best = Choice(thread: h, queueCore: Int32(c))
                bestPriority = Int32(p)
                break
            }
            p &-= 1
        }
        if bestPriority > Int32(SchedulerPolicy.idlePriority) { return best }
        // Steal: an unpinned ready thread above idle from another core.
        var stolen = Choice(thread: -1, queueCore: -1)
        var stolenPriority: Int32 = 0
        var other = 0
        while other < cores {
            if other != c {
                var q = SchedulerPolicy.priorities &- 1
                while q > Int(stolenPriority) {
                    var t = head[other &* SchedulerPolicy.priorities &+ q]
                    while t >= 0 {
                        if pinned[Int(t)] < 0 {
                            stolen = Choice(thread: t, queueCore: Int32(other))
                            stolenPriority = Int32(q)
                            break
                        }
                        t = next[Int(t)]
                    }
                    q &-= 1
                }
            }
            other &+= 1
        }
        return stolen.thread >= 0 ? stolen : best
    }

    // MARK: - State changes

    /// Running or ready -> blocked (a ready thread leaves its queue). The
    /// core's running slot keeps the thread until the next reschedule.
    @discardableResult
    public mutating func block(_ id: Int) -> Bool {
        switch state[id] {
        case Int32(ThreadState.running.rawValue):
            counts.running &-= 1
        case Int32(ThreadState.ready.rawValue):
            remove(id, from: Int(core[id]))
            counts.ready &-= 1
        default:
            return false
        }
        state[id] = Int32(ThreadState.blocked.rawValue)
        counts.blocked &+= 1
        return true
    }

    /// Blocked -> ready, queued on its pinned core or the core it last ran
    /// on. A thread still in a core's running slot (it blocked but that core
    /// has not rescheduled yet) becomes running again instead.
    @discardableResult
    public mutating func wake(_ id: Int) -> Bool {
        guard state[id] == Int32(ThreadState.blocked.rawValue) else { return false }
        counts.blocked &-= 1
        if running[Int(core[id])] == Int32(id) {
            state[id] = Int32(ThreadState.running.rawValue)
            counts.running &+= 1
            return true
        }
        state[id] = Int32(ThreadState.ready.rawValue)
        counts.ready &+= 1
        enqueue(id)
        return true
    }

    /// Any live state -> dead (a ready thread leaves its queue).
    @discardableResult
    public mutating func exit(_ id: Int) -> Bool {
        switch state[id] {
        case Int32(ThreadState.running.rawValue): counts.running &-= 1
        case Int32(ThreadState.ready.rawValue):
            remove(id, from: Int(core[id]))
            counts.ready &-= 1
        case Int32(ThreadState.blocked.rawValue): counts.blocked &-= 1
        default: return false
        }
        state[id] = Int32(ThreadState.dead.rawValue)
        counts.dead &+= 1
        return true
    }

    // MARK: - Queues

    mutating func enqueue(_ id: Int) {
        let c = pinned[id] >= 0 ? Int(pinned[id]) : Int(core[id])
        core[id] = Int32(c)
        let q = c &* SchedulerPolicy.priorities &+ Int(priority[id])
        next[id] = -1
        if tail[q] >= 0 { next[Int(tail[q])] = Int32(id) } else { head[q] = Int32(id) }
        tail[q] = Int32(id)
    }

    mutating func remove(_ id: Int, from c: Int) {
        let q = c &* SchedulerPolicy.priorities &+ Int(priority[id])
        var previous: Int32 = -1
        var t = head[q]
        while t >= 0 && t != Int32(id) {
            previous = t
            t = next[Int(t)]
        }
        guard t >= 0 else { return }
        let after = next[id]
        if previous >= 0 { next[Int(previous)] = after } else { head[q] = after }
        if tail[q] == Int32(id) { tail[q] = previous }
        next[id] = -1
    }
}
