import COS3Bytes

/// A multi-pattern byte matcher (Aho–Corasick, compiled to a full DFA): one pass over the input
/// finds every occurrence of every pattern, however many patterns there are. The marker matcher
/// uses it so that 100 pending markers cost the same as one.
final class AhoCorasick: @unchecked Sendable {
    /// delta[state * 256 + byte] -> next state.
    let delta: [Int32]
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
        // One flat table from the start (256 entries per state): building it is on every
        // os3ctl start, so no array per state.
        var goto: [Int32] = Array(repeating: -1, count: 256)
        var out: [[Int32]] = [[]]
        var states = 1
        for (index, p) in patterns.enumerated() {
            var s = 0
            for b in p {
                let next = goto[s << 8 | Int(b)]
                if next >= 0 {
                    s = Int(next)
                } else {
                    goto.append(contentsOf: repeatElement(-1, count: 256))
                    out.append([])
                    goto[s << 8 | Int(b)] = Int32(states)
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
        for b in 0..<256 {
            let s = goto[b]
            if s < 0 { goto[b] = 0 } else { fail[Int(s)] = 0; queue.append(Int(s)) }
        }
        var head = 0
        while head < queue.count {
            let r = queue[head]
            head += 1
            if !out[fail[r]].isEmpty { out[r] += out[fail[r]] }
            let f = fail[r] << 8
            for b in 0..<256 {
                let s = goto[r << 8 | b]
                if s < 0 {
                    goto[r << 8 | b] = goto[f | b]
                } else {
                    fail[Int(s)] = Int(goto[f | b])
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
            hasOutput.withUnsafeBufferPointer { o in
                starts.withUnsafeBufferPointer { st in
                    os3_ac_scan(d.baseAddress!, o.baseAddress!, st.baseAddress!, singleStart, &state, bytes, &pos, end) != 0
                }
            }
        }
        position = pos
        return hit
    }

    /// The patterns that end at `state`.
    func patterns(endingAt state: Int32) -> ArraySlice<Int32> {
        outputs[Int(outputStart[Int(state)])..<Int(outputStart[Int(state) + 1])]
    }
}
