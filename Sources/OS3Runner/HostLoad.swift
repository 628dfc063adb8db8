import FoundationEssentials
import Glibc
import OS3Core

/// Synthetic host load for stress experiments: N busy processes (os3ctl's own `hog`, one core
/// each, normal priority) or a stress-ng recipe. Each load process leads its own process group under
/// its own supervisor (`ChildProcess`), so none — nor any stress-ng worker — outlives os3ctl.
public final class HostLoad: @unchecked Sendable {
    public enum Recipe: String, CaseIterable, Sendable {
        case cpu, vm, cache, io, mixed

        /// stress-ng arguments for `n` workers (nil for os3ctl's own CPU hogs).
        func stressNG(_ n: Int, tempDir: String) -> [String]? {
            switch self {
            case .cpu: nil
            case .vm: ["--vm", "\(n)", "--vm-bytes", "256M"]
            case .cache: ["--cache", "\(n)"]
            case .io: ["--hdd", "\(n)", "--hdd-bytes", "64M", "--temp-path", tempDir]
            case .mixed: ["--cpu", "\(n)", "--vm", "1", "--vm-bytes", "256M", "--cache", "1", "--hdd", "1", "--hdd-bytes", "64M", "--temp-path", tempDir]
            }
        }
    }

    private let processes: [ChildProcess]
    private let started: Double
    private let loadBefore: Double
    public let hogs: Int
    public let recipeDescription: String
    private let tempDir: String?

    private init(processes: [ChildProcess], hogs: Int, recipe: String, tempDir: String?) {
        self.processes = processes
        self.hogs = hogs
        self.recipeDescription = recipe
        self.tempDir = tempDir
        self.started = Clock.now
        self.loadBefore = HostLoad.loadAverage()
    }

    /// Starts the load. `hogs` = 0 starts nothing (and records that).
    public static func start(hogs: Int, recipe: Recipe) throws -> HostLoad {
        guard hogs > 0 else { return HostLoad(processes: [], hogs: 0, recipe: "none", tempDir: nil) }
        if recipe == .cpu {
            let me = try selfExecutable()
            var children: [ChildProcess] = []
            do {
                for _ in 0..<hogs { children.append(try ChildProcess.spawn([me, "hog"])) }
            } catch {
                children.forEach { $0.terminate() }
                throw error
            }
            return HostLoad(processes: children, hogs: hogs, recipe: "cpu (os3ctl hog)", tempDir: nil)
        }
        guard let stressNG = resolveExecutable("stress-ng") else {
            throw OS3Error(.toolMissing, "--load \(recipe.rawValue) needs stress-ng, which is not installed",
                           fix: "apt-get install -y stress-ng, or use --load cpu")
        }
        let temp = Path.temporaryDirectory + "os3-stress-ng-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: temp, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let args = recipe.stressNG(hogs, tempDir: temp)!
        let child = try ChildProcess.spawn([stressNG] + args + ["--quiet"])
        return HostLoad(processes: [child], hogs: hogs, recipe: "stress-ng " + args.filter { !$0.hasPrefix("/") }.joined(separator: " "), tempDir: temp)
    }

    /// Stops the load (kill ladder on every group) and reports what it achieved.
    public func stop() -> LoadRecord {
        let cpu = cpuSeconds()
        let wall = Clock.now - started
        let after = HostLoad.loadAverage()
        for p in processes { p.terminate(grace: 0.5) }
        if let tempDir { try? FileManager.default.removeItem(atPath: tempDir) }
        return LoadRecord(hogs: hogs, recipe: recipeDescription, loadAverageBefore: loadBefore, loadAverageAfter: after,
                          cpuSeconds: cpu, wallSeconds: wall, cores: HostProbe.cores)
    }

    /// CPU time used so far by every process in the load's process groups (stress-ng workers too).
    public func cpuSeconds() -> Double {
        let groups = Set(processes.map(\.pid))
        guard !groups.isEmpty, let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return 0 }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        var total = 0.0
        for entry in entries where entry.first?.isNumber == true {
            guard let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            // Fields after "comm)": state ppid pgrp ... utime(14) stime(15) counted from 1.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 13, let pgrp = Int32(fields[2]), groups.contains(pgrp),
                  let utime = Double(fields[11]), let stime = Double(fields[12]) else { continue }
            total += (utime + stime) / ticks
        }
        return total
    }

    /// The 1-minute load average.
    public static func loadAverage() -> Double {
        guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8),
              let first = text.split(separator: " ").first else { return 0 }
        return Double(first) ?? 0
    }
}

/// The running os3ctl binary (hogs are os3ctl itself, so nothing else needs installing).
public func selfExecutable() throws -> String {
    var buffer = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    guard n > 0 else { throw OS3Error(.io, "cannot find the os3ctl executable (/proc/self/exe)") }
    return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
