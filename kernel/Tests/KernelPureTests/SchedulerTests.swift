import Testing
@testable import KernelPure

/// A policy over its own storage (freed by the test's `defer`).
final class PolicyBox {
    let storage: UnsafeMutableRawPointer
    var policy: SchedulerPolicy
    init(capacity: Int = 32, cores: Int = 2) {
        storage = UnsafeMutableRawPointer.allocate(
            byteCount: SchedulerPolicy.storageSize(capacity: capacity, cores: cores), alignment: 8)
        policy = SchedulerPolicy(storage: storage, capacity: capacity, cores: cores)
    }
    deinit { storage.deallocate() }
}

/// An independent, obviously-correct model of the documented policy.
struct ReferenceScheduler {
    struct T { var priority: Int; var pinned: Int?; var core: Int; var state: ThreadState }
    var threads: [T] = []
    var queues: [[[Int]]]  // [core][priority] FIFO
    var running: [Int?]
    init(cores: Int) {
        queues = Array(repeating: Array(repeating: [], count: SchedulerPolicy.priorities), count: cores)
        running = Array(repeating: nil, count: cores)
    }
    mutating func enqueue(_ id: Int) {
        let c = threads[id].pinned ?? threads[id].core
        threads[id].core = c
        queues[c][threads[id].priority].append(id)
    }
    mutating func dequeue(_ id: Int) {
        let c = threads[id].core
        queues[c][threads[id].priority].removeAll { $0 == id }
    }
    func choose(_ c: Int) -> Int? {
        var best: Int? = nil
        var bestP = -1
        if let r = running[c], threads[r].state == .running { best = r; bestP = threads[r].priority }
        for p in stride(from: SchedulerPolicy.priorities - 1, through: 0, by: -1) where p >= bestP {
            if let h = queues[c][p].first { best = h; bestP = p; break }
        }
        if bestP > 0 { return best }
        for p in stride(from: SchedulerPolicy.priorities - 1, through: 1, by: -1) {
            for other in queues.indices where other != c {
                if let t = queues[other][p].first(where: { threads[$0].pinned == nil }) { return t }
            }
        }
        return best
    }
    mutating func reschedule(_ c: Int) -> Int? {
        let pick = choose(c)
        if pick == running[c] { return pick }
        if let r = running[c], threads[r].state == .running {
            threads[r].state = .ready
            enqueue(r)
        }
        running[c] = pick
        if let p = pick {
            dequeue(p)
            threads[p].core = c
            threads[p].state = .running
        }
        return pick
    }
}

@Suite("Scheduler policy: queues, peek/pick, affinity")
struct SchedulerTests {
    @Test("peek_ready predicts the pick without consuming it")
    func peekDoesNotConsume() {
        let box = PolicyBox()
        let boot = box.policy.adoptRunning(priority: 2, pinnedTo: 0, core: 0)!
        let high = box.policy.spawn(priority: 3, pinnedTo: 0, core: 0)!
        let low = box.policy.spawn(priority: 1, pinnedTo: 0, core: 0)!
        #expect(box.policy.peekReady(core: 0) == high)
        #expect(box.policy.peekReady(core: 0) == high)  // twice: nothing consumed
        #expect(box.policy.queued(on: 0) == [high, low])
        #expect(box.policy.counts.ready == 2)
        #expect(box.policy.reschedule(core: 0) == high)
        #expect(box.policy.state(of: boot) == .ready)
        #expect(box.policy.queued(on: 0) == [boot, low])
        #expect(box.policy.peekReady(core: 0) == high)  // the running high one keeps the core
        #expect(box.policy.reschedule(core: 0) == high)
        box.policy.exit(high)
        #expect(box.policy.peekReady(core: 0) == boot)
        #expect(box.policy.reschedule(core: 0) == boot)
        box.policy.block(boot)
        #expect(box.policy.peekReady(core: 0) == low)
        #expect(box.policy.reschedule(core: 0) == low)
    }

    @Test("equal priorities take turns; the running thread goes to the tail")
    func roundRobin() {
        let box = PolicyBox(cores: 1)
        let a = box.policy.adoptRunning(priority: 2, pinnedTo: nil, core: 0)!
        let b = box.policy.spawn(priority: 2, pinnedTo: nil, core: 0)!
        let c = box.policy.spawn(priority: 2, pinnedTo: nil, core: 0)!
        #expect(box.policy.reschedule(core: 0) == b)
        #expect(box.policy.reschedule(core: 0) == c)
        #expect(box.policy.reschedule(core: 0) == a)
        #expect(box.policy.reschedule(core: 0) == b)
    }

    @Test("an idle core steals unpinned threads, never pinned ones")
    func stealing() {
        let box = PolicyBox(cores: 2)
        let idle1 = box.policy.adoptRunning(priority: 0, pinnedTo: 1, core: 1)!
        let pinned = box.policy.spawn(priority: 3, pinnedTo: 0, core: 0)!
        let free = box.policy.spawn(priority: 1, pinnedTo: nil, core: 0)!
        #expect(box.policy.peekReady(core: 1) == free)
        #expect(box.policy.reschedule(core: 1) == free)
        #expect(box.policy.core(of: free) == 1)
        #expect(box.policy.state(of: idle1) == .ready)
        #expect(box.policy.queued(on: 0) == [pinned])
        #expect(box.policy.reschedule(core: 1) == free)  // nothing better
        box.policy.exit(free)
        #expect(box.policy.reschedule(core: 1) == idle1)  // the pinned one stays on core 0
        #expect(box.policy.peekReady(core: 0) == pinned)
    }

    @Test("spawn fails loudly when ids run out or arguments are out of range")
    func spawnFailures() {
        let box = PolicyBox(capacity: 2, cores: 1)
        #expect(box.policy.spawn(priority: 4, pinnedTo: nil, core: 0) == nil)
        #expect(box.policy.spawn(priority: 1, pinnedTo: 1, core: 0) == nil)
        #expect(box.policy.spawn(priority: 1, pinnedTo: nil, core: 0) != nil)
        #expect(box.policy.spawn(priority: 1, pinnedTo: nil, core: 0) != nil)
        #expect(box.policy.spawn(priority: 1, pinnedTo: nil, core: 0) == nil)
    }

    @Test("block and wake: a woken thread is queued again; one still in its core's slot runs on")
    func blockWake() {
        let box = PolicyBox(cores: 1)
        let a = box.policy.adoptRunning(priority: 2, pinnedTo: nil, core: 0)!
        let b = box.policy.spawn(priority: 1, pinnedTo: nil, core: 0)!
        box.policy.block(a)
        box.policy.wake(a)  // before any reschedule: still the core's thread
        #expect(box.policy.state(of: a) == .running)
        #expect(box.policy.reschedule(core: 0) == a)
        box.policy.block(a)
        #expect(box.policy.reschedule(core: 0) == b)
        box.policy.wake(a)
        #expect(box.policy.peekReady(core: 0) == a)
        #expect(box.policy.reschedule(core: 0) == a)
        #expect(box.policy.counts == { var c = SchedulerCounts(); c.ready = 1; c.running = 1; return c }())
    }

    @Test("random spawn/block/wake/exit/reschedule sequences match the reference model", arguments: [1, 2, 3, 4])
    func randomized(cores: Int) {
        var random = SplitMix64(seed: UInt64(0x5CED_0000 + cores))
        for round in 0..<60 {
            let box = PolicyBox(capacity: 24, cores: cores)
            var model = ReferenceScheduler(cores: cores)
            // Every core starts with a pinned idle thread, like the kernel.
            for c in 0..<cores {
                let id = box.policy.adoptRunning(priority: 0, pinnedTo: c, core: c)!
                model.threads.append(.init(priority: 0, pinned: c, core: c, state: .running))
                model.running[c] = id
            }
            var ranOn: [Int: Set<Int>] = [:]
            for _ in 0..<300 {
                let c = random.next(below: cores)
                switch random.next(below: 10) {
                case 0, 1:
                    let p = 1 + random.next(below: 3)
                    let pin: Int? = random.next(below: 2) == 0 ? random.next(below: cores) : nil
                    let id = box.policy.spawn(priority: p, pinnedTo: pin, core: c)
                    if model.threads.count < 24 {
                        #expect(id == model.threads.count)
                        model.threads.append(.init(priority: p, pinned: pin, core: pin ?? c, state: .ready))
                        model.enqueue(id!)
                    } else {
                        #expect(id == nil)
                    }
                case 2:
                    let id = random.next(below: model.threads.count)
                    guard model.threads[id].priority > 0 else { break }
                    let was = model.threads[id].state
                    let ok = box.policy.block(id)
                    #expect(ok == (was == .ready || was == .running))
                    if was == .ready { model.dequeue(id) }
                    if ok { model.threads[id].state = .blocked }
                case 3:
                    let id = random.next(below: model.threads.count)
                    let ok = box.policy.wake(id)
                    #expect(ok == (model.threads[id].state == .blocked))
                    if ok {
                        if model.running[model.threads[id].core] == id {
                            model.threads[id].state = .running
                        } else {
                            model.threads[id].state = .ready
                            model.enqueue(id)
                        }
                    }
                case 4:
                    let id = random.next(below: model.threads.count)
                    guard model.threads[id].priority > 0 else { break }
                    let was = model.threads[id].state
                    let ok = box.policy.exit(id)
                    #expect(ok == (was != .dead))
                    if was == .ready { model.dequeue(id) }
                    if ok { model.threads[id].state = .dead }
                default:
                    let peek = box.policy.peekReady(core: c)
                    #expect(peek == box.policy.peekReady(core: c), "peek must not consume")
                    #expect(peek == model.choose(c), "round \(round): peek differs from the model")
                    let pick = box.policy.reschedule(core: c)
                    #expect(pick == peek, "round \(round): reschedule did not pick what peek said")
                    #expect(pick == model.reschedule(c))
                    if let pick { ranOn[pick, default: []].insert(c) }
                }
                // Invariants after every step.
                var counts = SchedulerCounts()
                for (id, t) in model.threads.enumerated() {
                    #expect(box.policy.state(of: id) == t.state)
                    switch t.state {
                    case .ready: counts.ready += 1
                    case .running: counts.running += 1
                    case .blocked: counts.blocked += 1
                    case .dead: counts.dead += 1
                    case .free: break
                    }
                }
                #expect(box.policy.counts == counts)
                for core in 0..<cores {
                    #expect(box.policy.queued(on: core) == model.queues[core].reversed().flatMap { $0 })
                    #expect(box.policy.running(on: core) == model.running[core])
                }
            }
            // Affinity: a pinned thread never ran anywhere but its core.
            for (id, coresSeen) in ranOn {
                if let pin = model.threads[id].pinned { #expect(coresSeen == [pin]) }
            }
        }
    }
}
