import FoundationEssentials
import Glibc
import OS3Core

/// Samples the host's load (1-minute load average from /proc/loadavg, the share of all cores busy
/// from /proc/stat) on a thread of its own while a stress experiment runs, so the report can draw
/// the load under the runs. It stops on `stop()`, at its deadline, or on SIGINT/SIGTERM, whichever
/// comes first (its wait is a `Cancellation`); memory stays bounded on long experiments: at `cap`
/// samples every other one is dropped and the interval doubles.
public final class HostSampler: @unchecked Sendable {
    private let condition = Condition()
    private var samples: [HostSample] = []
    private var interval: Double
    private var finished = false
    /// Set by `stop()`; the pipe only wakes the thread early.
    private var stopping = false
    private var spans: [TimeSpan] = []
    private let origin: Double
    private let wake: [Int32]
    private let cap: Int

    /// Starts sampling now; times are seconds since `origin` (a `Clock.now` value).
    public static func start(origin: Double, interval: Double = 0.4, deadline: Double? = nil, cap: Int = 4096) -> HostSampler {
        let sampler = HostSampler(origin: origin, interval: interval, cap: cap)
        startThread(name: "os3-hostsample") { sampler.loop(Cancellation(deadline: deadline)) }
        return sampler
    }

    private init(origin: Double, interval: Double, cap: Int) {
        var fds: [Int32] = [-1, -1]
        if pipe(&fds) == 0 { for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) } } else { fds = [-1, -1] }
        self.wake = fds
        self.origin = origin
        self.interval = interval
        self.cap = max(cap, 16)
    }

    private func loop(_ cancel: Cancellation) {
        var previous = Self.cpuTimes()
        while true {
            let now = Self.cpuTimes()
            let busy = previous.flatMap { p in now.flatMap { $0.busyFraction(since: p) } }
            previous = now ?? previous
            condition.lock()
            samples.append(HostSample(t: Clock.now - origin, loadAverage: HostLoad.loadAverage(), cpuBusy: busy))
            if samples.count >= cap {
                samples = samples.enumerated().filter { $0.offset % 2 == 0 }.map(\.element)
                interval *= 2
            }
            let wait = interval
            condition.unlock()
            var fds = [pollfd(fd: wake[0], events: Int16(POLLIN), revents: 0)]
            if cancel.wait(&fds, timeout: wait) != nil || fds[0].revents != 0 || condition.withLocked({ stopping }) { break }
        }
        condition.lock()
        finished = true
        condition.broadcast()
        condition.unlock()
    }

    /// Notes a stretch of the experiment's clock when the synthetic load ran.
    public func loadRan(from start: Double, to end: Double) {
        condition.lock()
        spans.append(TimeSpan(start: start - origin, end: end - origin))
        condition.unlock()
    }

    /// Stops the sampling (waits for the thread, which wakes at once) and returns what it saw.
    public func stop() -> HostTrace {
        condition.lock()
        stopping = true
        condition.unlock()
        if wake[1] >= 0 { var b: UInt8 = 1; _ = write(wake[1], &b, 1) }
        condition.lock()
        while !finished { condition.wait() }
        let trace = HostTrace(cores: HostProbe.cores, interval: interval, samples: samples, loadSpans: spans)
        condition.unlock()
        return trace
    }

    deinit { for fd in wake where fd >= 0 { close(fd) } }

    static func cpuTimes() -> CPUTimes? {
        (try? String(contentsOfFile: "/proc/stat", encoding: .utf8)).flatMap { CPUTimes.parse(procStat: $0) }
    }
}

extension Condition {
    func withLocked<T>(_ body: () -> T) -> T {
        lock()
        defer { unlock() }
        return body()
    }
}
