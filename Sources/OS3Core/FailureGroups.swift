/// Failures that look alike: the same verdict, the same first forbidden or missing marker and the
/// same console line (numbers masked, so addresses and counters do not split a group).
public struct FailureSignature: Sendable, Hashable {
    public var kind: VerdictKind
    /// The forbidden marker that fired, else the first required marker never seen.
    public var marker: String?
    /// The line with every run of digits replaced by "N".
    public var line: String

    /// `order`: each marker's place in the boot (`MarkerOrder`), so that the first missing marker is
    /// the first the boot did not reach, not the first in the marker files.
    public init(_ run: StressRun, order: [String: Int] = [:]) {
        let v = run.record.verdict
        kind = v.kind
        if let forbidden = v.forbiddenLine {
            marker = Self.forbiddenID(v.detail)
            line = Self.mask(forbidden)
        } else {
            marker = v.missing.enumerated().min { (order[$0.element] ?? Int.max, $0.offset) < (order[$1.element] ?? Int.max, $1.offset) }?.element
            line = Self.mask(Self.line(of: run))
        }
    }

    /// The line shown for a run: the forbidden line, or the last marker line before the boot went wrong,
    /// or (nothing seen) the verdict's detail.
    public static func line(of run: StressRun) -> String {
        let v = run.record.verdict
        if let forbidden = v.forbiddenLine { return forbidden }
        if let last = run.record.markers.last { return "last marker line: " + last.text }
        return v.detail
    }

    /// The id in "forbidden marker 'ID' at console line …" (Verdict.judge's wording).
    static func forbiddenID(_ detail: String) -> String? {
        let prefix = "forbidden marker '"
        guard detail.hasPrefix(prefix) else { return nil }
        let rest = detail.dropFirst(prefix.count)
        guard let end = rest.firstIndex(of: "'") else { return nil }
        return String(rest[..<end])
    }

    /// Each run of decimal digits, and each 0x-prefixed hex number, becomes one "N".
    static func mask(_ s: String) -> String {
        let chars = Array(s)
        var out = "", i = 0
        while i < chars.count {
            let c = chars[i]
            guard c.isASCII && c.isNumber else { out.append(c); i += 1; continue }
            out += "N"
            if c == "0", i + 2 < chars.count, chars[i + 1] == "x", chars[i + 2].isHexDigit {
                i += 2
                while i < chars.count, chars[i].isHexDigit { i += 1 }
            } else {
                while i < chars.count, chars[i].isASCII && chars[i].isNumber { i += 1 }
            }
        }
        return out
    }
}

public struct FailureGroup: Sendable {
    public var signature: FailureSignature
    /// In run order; the first is the example shown.
    public var runs: [StressRun]

    /// Every failed run in a group, the largest group first (ties: the earliest first failure).
    public static func make(_ runs: [StressRun]) -> [FailureGroup] {
        let place = Dictionary(uniqueKeysWithValues: MarkerOrder.of(runs).enumerated().map { ($0.element, $0.offset) })
        var order: [FailureSignature] = []
        var members: [FailureSignature: [StressRun]] = [:]
        for r in runs.sorted(by: { $0.index < $1.index }) where r.failed {
            let s = FailureSignature(r, order: place)
            if members[s] == nil { order.append(s) }
            members[s, default: []].append(r)
        }
        return order.enumerated().sorted { a, b in
            let x = members[a.element]!.count, y = members[b.element]!.count
            return x != y ? x > y : a.offset < b.offset
        }.map { FailureGroup(signature: $0.element, runs: members[$0.element]!) }
    }
}

public enum MarkerOrder {
    /// The markers in the order a boot prints them: by their median place in each run's console
    /// order (times differ between runs under load and idle; the order of the phases does not).
    public static func of(_ runs: [StressRun]) -> [String] {
        var places: [String: [Double]] = [:]
        for r in runs {
            for (place, hit) in r.record.markers.sorted(by: { $0.time < $1.time }).enumerated() { places[hit.id, default: []].append(Double(place)) }
        }
        let median = places.mapValues { Stats.spread($0)!.median }
        return median.keys.sorted { (median[$0]!, $0) < (median[$1]!, $1) }
    }
}
