import COS3Bytes

/// A multi-pattern byte matcher (Aho–Corasick, compiled to a full DFA): one pass over the input
/// finds every occurrence of every pattern, however many patterns there are. The marker matcher
/// uses it so that 100 pending markers cost the same as one.
final class AhoCorasick: @unchecked Sendable {
    /// delta[state << shift | classes[byte]] -> next state.
    let delta: [Int32]
    /// Byte -> column: every byte that occurs in some pattern has its own, all others share 0.
    /// Marker files use a few dozen distinct bytes, so a row is 64 entries instead of 256 — a table
    /// a quarter the size, built and freed on every boot's critical path (memory is expensive here:
    /// faulting in and freeing a megabyte costs ~0.8 ms on this machine).
    let classes: [UInt8]
    let shift: Int
    /// Nonzero where a state ends at least one pattern.
    let hasOutput: [UInt8]
    /// Patterns ending at each state (including through suffix links), flattened.
    private let outputStart: [Int32]
    private let outputs: [Int32]
    let patternCount: Int
    /// Nonzero for bytes that begin some pattern; `singleStart` is that byte when there is only one.
    let starts: [UInt8]
    let singleStart: Int32

    /// Patterns must be non-empty. Pattern i is reported as i.
    init(_ patterns: [[UInt8]]) {
        var classes = [UInt8](repeating: 0, count: 256)
        var used = 0
        for p in patterns { for b in p where classes[Int(b)] == 0 && used < 255 { used += 1; classes[Int(b)] = UInt8(used) } }
        // More than 255 distinct bytes cannot happen (256 values, one class is "other"); if all
        // 256 occur, the last one shares class 0 only by name: give every byte its own column.
        if used == 255 { for b in 0..<256 { classes[b] = UInt8(truncatingIfNeeded: b) } }
        let width = used == 255 ? 256 : used + 1
        var shift = 0
        while 1 << shift < width { shift += 1 }
        let row = 1 << shift
        self.classes = classes
        self.shift = shift
        // One flat table from the start: building it is on every os3ctl start, so no array per state.
        var goto: [Int32] = Array(repeating: -1, count: row)
        // At most one state per pattern byte: no regrowth (and copying) of the table while building.
        goto.reserveCapacity(row * (1 + patterns.reduce(0) { $0 + $1.count }))
        var out: [[Int32]] = [[]]
        var states = 1
        for (index, p) in patterns.enumerated() {
            var s = 0
            for b in p {
                let c = Int(classes[Int(b)])
                let next = goto[s << shift | c]
                if next >= 0 {
                    s = Int(next)
                } else {
                    goto.append(contentsOf: repeatElement(-1, count: row))
                    out.append([])
                    goto[s << shift | c] = Int32(states)
                    s = states
                    states += 1
                }
            }
            out[s].append(Int32(index))
        }
        // Breadth-first: failure links, then the full DFA (missing edges follow the failure link).
        var fail = [Int](repeating: 0, count: states)
        var queue: [Int] = []
        queue.reserveCapacity(states)
        for c in 0..<row {
            let s = goto[c]
            if s < 0 { goto[c] = 0 } else { fail[Int(s)] = 0; queue.append(Int(s)) }
        }
        var head = 0
        while head < queue.count {
            let r = queue[head]
            head += 1
            if !out[fail[r]].isEmpty { out[r] += out[fail[r]] }
            let f = fail[r] << shift
            for c in 0..<row {
                let s = goto[r << shift | c]
                if s < 0 {
                    goto[r << shift | c] = goto[f | c]
                } else {
                    fail[Int(s)] = Int(goto[f | c])
                    queue.append(Int(s))
                }
            }
        }
        delta = goto
        hasOutput = out.map { $0.isEmpty ? 0 : 1 }
        var outStarts: [Int32] = [0]
        var flat: [Int32] = []
        for o in out {
            flat += o
            outStarts.append(Int32(flat.count))
        }
        outputStart = outStarts
        outputs = flat
        patternCount = patterns.count
        var first = [UInt8](repeating: 0, count: 256)
        for p in patterns { if let b = p.first { first[Int(b)] = 1 } }
        starts = first
        let firsts = first.indices.filter { first[$0] != 0 }
        singleStart = firsts.count == 1 ? Int32(firsts[0]) : -1
    }

    /// Runs the automaton (see os3_ac_scan): true if it stopped on a state with output.
    func scan(state: inout Int32, _ bytes: UnsafePointer<UInt8>, position: inout Int, end: Int) -> Bool {
        var pos = position
        let hit = delta.withUnsafeBufferPointer { d in
            classes.withUnsafeBufferPointer { cl in
                hasOutput.withUnsafeBufferPointer { o in
                    starts.withUnsafeBufferPointer { st in
                        os3_ac_scan(d.baseAddress!, cl.baseAddress!, Int32(shift), o.baseAddress!, st.baseAddress!, singleStart,
                                    &state, bytes, &pos, end) != 0
                    }
                }
            }
        }
        position = pos
        return hit
    }

    /// One step of the automaton (what os3_ac_scan does per byte).
    func next(_ state: Int32, _ byte: UInt8) -> Int32 { delta[Int(state) << shift | Int(classes[Int(byte)])] }

    /// The patterns that end at `state`.
    func patterns(endingAt state: Int32) -> ArraySlice<Int32> {
        outputs[Int(outputStart[Int(state)])..<Int(outputStart[Int(state) + 1])]
    }
}
