import ArgumentParser
import OS3Runner

/// The one check of every numeric command-line option. ArgumentParser reads "nan", "inf" and
/// "1e400" (= inf) as Doubles, and `x <= 0` is false for NaN: `--timeout nan` once passed
/// `timeout <= 0` and disabled the timeout. Every bound is also an upper one: a billion jobs or
/// runs is a typo, and a timeout beyond a day overflows nothing only by luck. Numeric options parse
/// `.unconditional`ly: otherwise ArgumentParser reads `--hog -1` as a missing value followed by an
/// option `-1`, and says "Missing value" instead of what is wrong with the number.
enum NumericOptions {
    /// The longest timeout, as in lane files (docs/FORMATS.md).
    static let maxSeconds = 86_400.0
    static let jobs = 1...256
    static let runs = 1...100_000
    static let hogs = 0...256

    /// Why `value` is not a usable number of seconds, or nil if it is.
    static func secondsProblem(_ value: Double) -> String? {
        guard value.isFinite else { return "is not a finite number" }
        guard value > 0 else { return "must be greater than 0" }
        guard value <= maxSeconds else { return "is more than \(Int(maxSeconds)) seconds (a day)" }
        return nil
    }

    static func seconds(_ value: Double?, _ name: String) throws {
        guard let value, let problem = secondsProblem(value) else { return }
        throw ValidationError("\(name) \(value) \(problem): give seconds, more than 0 and at most \(Int(maxSeconds)), e.g. \(name) 30")
    }

    static func count(_ value: Int?, _ name: String, _ range: ClosedRange<Int>) throws {
        guard let value, !range.contains(value) else { return }
        let bound = value < range.lowerBound ? "must be ≥ \(range.lowerBound)" : "must be ≤ \(range.upperBound)"
        throw ValidationError("\(name) \(value): the number \(bound): give a whole number from \(range.lowerBound) to \(range.upperBound)")
    }

    /// A probability strictly between 0 and 1 (NaN is not: both comparisons fail).
    static func rate(_ value: Double?, _ name: String) throws {
        guard let value, !(value > 0 && value < 1) else { return }
        throw ValidationError("\(name) must be a rate strictly between 0 and 1 (got \(value))")
    }

    /// `--jobs` above the core count is allowed (a user may mean it) but said out loud: the boots
    /// then share cores, and a slow boot can become a timeout or a hang that idle cores would not give.
    static func warnAboveCores(_ jobs: Int?, command: String, cores: Int = HostProbe.cores) {
        guard let jobs, jobs > cores else { return }
        printErr("\(command): warning: --jobs \(jobs) is more than this machine's \(cores) core(s): boots will share cores, and a slow boot may time out or look hung; --jobs \(cores) or fewer avoids it")
    }
}
