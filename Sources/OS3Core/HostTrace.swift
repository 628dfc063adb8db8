/// The host's load sampled while a stress experiment ran (`HostSampler` in OS3Runner reads it):
/// part of the experiment's record, so the report's load chart is a function of records.
public struct HostSample: Sendable, Codable, Equatable {
    /// Seconds on the experiment's clock (as `StressRun.offset`).
    public var t: Double
    /// The 1-minute load average.
    public var loadAverage: Double
    /// Fraction of all cores busy since the previous sample, 0–1 (nil for the first sample).
    public var cpuBusy: Double?

    public init(t: Double, loadAverage: Double, cpuBusy: Double?) {
        self.t = t
        self.loadAverage = loadAverage
        self.cpuBusy = cpuBusy
    }

    private enum CodingKeys: String, CodingKey { case t, loadAverage, cpuBusy }

    /// Every key present, `cpuBusy` null on the first sample (docs/JSON.md).
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(t, forKey: .t)
        try c.encode(loadAverage, forKey: .loadAverage)
        try c.encodeOrNull(cpuBusy, forKey: .cpuBusy)
    }
}

/// A stretch of the experiment's clock, in seconds.
public struct TimeSpan: Sendable, Codable, Equatable {
    public var start: Double
    public var end: Double
    public init(start: Double, end: Double) { self.start = start; self.end = end }
}

public struct HostTrace: Sendable, Codable, Equatable {
    public var cores: Int
    /// Seconds between samples (doubled each time the samples are thinned on a long experiment).
    public var interval: Double
    public var samples: [HostSample]
    /// When the synthetic load (hogs) ran.
    public var loadSpans: [TimeSpan]

    public init(cores: Int, interval: Double, samples: [HostSample], loadSpans: [TimeSpan]) {
        self.cores = cores
        self.interval = interval
        self.samples = samples
        self.loadSpans = loadSpans
    }
}

/// The aggregate `cpu` line of /proc/stat, in clock ticks.
public struct CPUTimes: Sendable, Equatable {
    public var busy: UInt64
    public var total: UInt64

    /// Reads "cpu  user nice system idle iowait irq softirq steal …": idle and iowait are idle time;
    /// guest time is already inside user, so only the first eight fields are summed.
    public static func parse(procStat: String) -> CPUTimes? {
        guard let line = procStat.split(separator: "\n").first(where: { $0.hasPrefix("cpu ") }) else { return nil }
        let fields = line.split(separator: " ").dropFirst().prefix(8).compactMap { UInt64($0) }
        guard fields.count >= 4 else { return nil }
        let total = fields.reduce(0, +)
        let idle = fields[3] + (fields.count > 4 ? fields[4] : 0)
        return CPUTimes(busy: total - idle, total: total)
    }

    /// The busy fraction of all cores between `earlier` and now (nil when no tick passed).
    public func busyFraction(since earlier: CPUTimes) -> Double? {
        guard total > earlier.total, busy >= earlier.busy else { return nil }
        return min(1, Double(busy - earlier.busy) / Double(total - earlier.total))
    }
}
