import Glibc

/// `OS3_TRACE=1`: where os3ctl's own time goes in a run, printed to stderr as it exits — wall and
/// process CPU time (all threads) at each step, in milliseconds from the first mark. This is how
/// docs/BENCHMARKS.md's breakdown of `boot`'s overhead was measured; off, a mark costs a load.
public enum Trace {
    nonisolated(unsafe) private static var marks: [(String, Double, Double)] = []
    private static let enabled = getenv("OS3_TRACE") != nil

    public static func mark(_ step: String) {
        guard enabled else { return }
        var cpu = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu)
        marks.append((step, Clock.now, Double(cpu.tv_sec) * 1e3 + Double(cpu.tv_nsec) / 1e6))
    }

    /// Prints the marks (called on the way out).
    public static func report() {
        guard enabled, let first = marks.first else { return }
        var text = ""
        for (step, wall, cpu) in marks {
            let ms = (wall - first.1) * 1000
            text += "os3ctl trace: \(fixed(ms)) ms  cpu \(fixed(cpu)) ms  \(step)\n"
        }
        _ = text.withCString { write(2, $0, strlen($0)) }
    }

    private static func fixed(_ x: Double) -> String {
        let scaled = Int((x * 1000).rounded())
        let frac = String(abs(scaled) % 1000)
        return "\(scaled / 1000).\(String(repeating: "0", count: 3 - frac.count))\(frac)"
    }
}
