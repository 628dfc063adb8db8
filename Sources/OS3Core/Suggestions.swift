/// "Did you mean": the known name closest to a misspelt one.
public enum Suggestions {
    /// The candidate nearest to `name` by edit distance (insertions, deletions, substitutions and
    /// swaps of neighbours, case ignored), if it is near enough to be a typo: at most `maxDistance`,
    /// by default a third of the longer name (at least 1). Ties go to the first candidate.
    public static func closest(to name: String, among candidates: [String], maxDistance: Int? = nil) -> String? {
        let typed = Array(name.lowercased().unicodeScalars)
        // A name of megabytes is no typo (and must not cost quadratic time).
        guard !typed.isEmpty, typed.count <= 256 else { return nil }
        var best: (name: String, distance: Int)?
        for candidate in candidates where candidate != name {
            let other = Array(candidate.lowercased().unicodeScalars)
            guard other.count <= 256 else { continue }
            let d = distance(typed, other)
            guard d <= (maxDistance ?? max(1, max(typed.count, other.count) / 3)) else { continue }
            if best == nil || d < best!.distance { best = (candidate, d) }
        }
        return best?.name
    }

    /// Optimal string alignment distance (Damerau–Levenshtein without repeated edits of a substring).
    static func distance(_ a: [Unicode.Scalar], _ b: [Unicode.Scalar]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var before = [Int](repeating: 0, count: b.count + 1)
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    current[j] = min(current[j], before[j - 2] + 1)
                }
            }
            (before, previous, current) = (previous, current, before)
        }
        return previous[b.count]
    }
}
