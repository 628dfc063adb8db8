import Foundation
import Testing
import OS3Core
import OS3Runner

/// Serialized: these tests look for os3ctl hog processes, so no two may run at once.
@Suite("stress: flake statistics under real host load", .tags(.integration), .serialized)
struct StressTests {
    struct Output: Decodable {
        var baseSeed: String
        var experimentDirectory: String
        var summary: StressSummary
        var load: LoadRecord?
        var hostTrace: HostTrace
        var runs: [StressRun]
    }

    /// A fake QEMU whose outcome is decided by the seed os3ctl passes: it fails (panic line) when
    /// the seed's last digit is 0 or 1 — a known 20% truth the statistics must reproduce.
    static func seededFake() throws -> String {
        try Fixture.fakeQemu("""
        seed=$(printf '%s\\n' "$@" | tr ' ' '\\n' | sed -n 's/^os3.seed=//p')
        case "$seed" in *0|*1) printf 'os3: boot ok entry=pvh mode=long64\\nos3: PANIC: seeded failure\\n'; exec sleep 5;; esac
        printf '\(Fixture.fakePassingConsole)\\n'
        exit 33
        """)
    }

    /// Hogs started by the os3ctl under test (other os3ctl builds on the machine may run their own).
    static func hogPIDs() -> [Int32] {
        let ours = URL(fileURLWithPath: Fixture.binary).resolvingSymlinksInPath().path
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { Int32($0) }.filter { pid in
            guard let cmd = try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline")) else { return false }
            let args = cmd.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            return args.count == 2 && args[0] == ours && args[1] == "hog" && Fixture.isAlive(pid)
        }
    }

    @Test("failures decided by the seed are counted exactly, and replaying a failing seed fails again")
    func seededTruth() throws {
        let fake = try Self.seededFake()
        let project = try Fixture.fakeProject.get().root
        let (status, out, err) = try Fixture.os3ctl(["stress", "--project", project, "--lane", "fake", "--runs", "30", "--jobs", "2", "--seed", "7",
                                                     "--qemu", fake, "--kernel", try Fixture.kernelImage(), "--json"])
        let result = try JSONDecoder().decode(Output.self, from: Data(out.utf8))
        let expected = (0..<30).filter { i in
            "01".contains(String(SplitMix64.runSeed(base: 7, index: i)).last!)
        }.count
        #expect(result.summary.runs == 30)
        #expect(result.summary.failures == expected, "\(err)")
        #expect(result.summary.byVerdict["forbidden-marker"] == expected)
        #expect(status == (expected > 0 ? 11 : 0))
        #expect(result.summary.clopperPearson.contains(0.2))
        let failing = try #require(result.runs.first { $0.failed })
        #expect(FileManager.default.fileExists(atPath: failing.record.serialLog))
        #expect(failing.replay.contains("os3.seed=\(failing.seed)"))
        // The replay command is real: run it (as argv, no shell) and get the same verdict.
        var argv = failing.replay.split(separator: " ").map { String($0).trimmingCharacters(in: CharacterSet(charactersIn: "'")) }
        #expect(argv.removeFirst() == "os3ctl")
        #expect(try Fixture.os3ctl(argv).status == 11)
        #expect(FileManager.default.fileExists(atPath: "\(result.experimentDirectory)/report.html"))
    }

    @Test("the printed replay line, run by a shell from another directory and environment, boots the same seed with the same timeout, load, state directory and project")
    func replayReproduces() throws {
        // Fails when the seed's last digit is 0-4: it prints on and on, so only the total timeout
        // (--timeout) ends it; without --timeout a replay would run into the lane's 30 s instead.
        let fake = try Fixture.fakeQemu("""
        seed=$(printf '%s\\n' "$@" | tr ' ' '\\n' | sed -n 's/^os3.seed=//p')
        case "$seed" in *[0-4]) printf 'os3: boot ok entry=pvh mode=long64\\n'; while :; do echo tick; sleep 0.2; done;; esac
        printf '\(Fixture.fakePassingConsole)\\n'
        exit 33
        """)
        func fails(_ base: UInt64, _ i: Int) -> Bool { "01234".contains(String(SplitMix64.runSeed(base: base, index: i)).last!) }
        let base = try #require((UInt64(0)..<1000).first { fails($0, 0) && !fails($0, 1) })
        let project = try Fixture.fakeProject.get().root
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("os3-replay-\(UUID().uuidString)").path
        let elsewhere = FileManager.default.temporaryDirectory.appendingPathComponent("os3-replay-elsewhere-\(UUID().uuidString)").path
        let kernel = "\(state)-kernel.img"  // the fake never reads it
        try Fixture.writeFakeKernel(kernel)
        let (status, out, err) = try Fixture.os3ctl(["stress", "--project", project, "--lane", "fake", "--runs", "2", "--seed", String(base),
                                                     "--timeout", "2", "--hog", "1", "--append", "extra.arg=1",
                                                     "--qemu", fake, "--kernel", kernel, "--json"],
                                                    environment: ["OS3_STATE_DIR": state])
        #expect(status == 15, "\(err)")
        let result = try JSONDecoder().decode(Output.self, from: Data(out.utf8))
        let failing = try #require(result.runs.first { $0.failed })
        #expect(failing.index == 0 && failing.record.verdict.kind == .timeout && failing.record.verdict.detail.contains("after 2 s"))
        #expect(failing.replay.contains("--timeout 2.0") && failing.replay.contains("--hog 1 --load cpu") && failing.replay.contains("--state-dir \(state)"))

        // The line as printed, through a shell, from / with another state directory in the environment.
        let binDirectory = URL(fileURLWithPath: Fixture.binary).deletingLastPathComponent().path
        let replay = try Fixture.run("/bin/sh", ["-c", failing.replay], environment: [
            "PATH": "\(binDirectory):\(ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")", "OS3_STATE_DIR": elsewhere,
        ], directory: "/")
        #expect(replay.status == 15, "\(replay.stderr)")
        #expect(replay.stderr.contains("booting under load: 1 hog(s) (cpu)"), "\(replay.stderr)")
        #expect(!FileManager.default.fileExists(atPath: elsewhere), "the replay ignored --state-dir")
        // Its record is in the experiment's state directory: the same lane, kernel command line
        // (seed and --append), QEMU command and verdict.
        let latest = try FileManager.default.destinationOfSymbolicLink(atPath: "\(state)/runs/latest")
        #expect("\(state)/runs/\(latest)" != failing.record.runDirectory)
        let record = try JSONDecoder().decode(RunRecord.self, from: Data(contentsOf: URL(fileURLWithPath: "\(state)/runs/\(latest)/result.json")))
        #expect(record.kernelCommandLine == failing.record.kernelCommandLine)
        #expect(record.kernelCommandLine.contains("extra.arg=1 os3.seed=\(failing.seed)"))
        #expect(record.argv == failing.record.argv)
        #expect(record.verdict.kind == .timeout && record.verdict.detail == failing.record.verdict.detail)
        #expect(Self.hogPIDs().isEmpty, "the replay's hog outlived it")
    }

    @Test("one seed gives one sequential decision at --jobs 1 and --jobs 2 (boots finishing out of order), the one the seeds give in run order")
    func sequentialReproducible() throws {
        // Outcome from the seed as in seededFake (20% fail), and a duration from it too, so that with
        // two jobs the boots finish out of run order.
        let fake = try Fixture.fakeQemu("""
        seed=$(printf '%s\\n' "$@" | tr ' ' '\\n' | sed -n 's/^os3.seed=//p')
        d=$(printf %s "$seed" | cut -c2)
        sleep 0.0$d
        case "$seed" in *0|*1) printf 'os3: boot ok entry=pvh mode=long64\\nos3: PANIC: seeded failure\\n'; exec sleep 5;; esac
        printf '\(Fixture.fakePassingConsole)\\n'
        exit 33
        """)
        let project = try Fixture.fakeProject.get().root
        var expected = RunOrderSequentialTest(SPRT(p0: 0.02, p1: 0.3), cap: 80)
        var i = 0
        while expected.wants(i) { expected.add(index: i, "01".contains(String(SplitMix64.runSeed(base: 3, index: i)).last!) ? .failed : .passed); i += 1 }
        for jobs in ["1", "2"] {
            let (_, out, err) = try Fixture.os3ctl(["stress", "--project", project, "--lane", "fake", "--until-confident", "--p0", "0.02", "--p1", "0.3",
                                                   "--max-runs", "80", "--jobs", jobs, "--seed", "3", "--qemu", fake, "--kernel", try Fixture.kernelImage(), "--json"])
            let result = try JSONDecoder().decode(Output.self, from: Data(out.utf8))
            let s = try #require(result.summary.sequential, "\(err)")
            #expect(s.decision == expected.decision, "--jobs \(jobs)")
            #expect(s.runs == expected.test.runs && s.failures == expected.test.failures && s.runOrder == expected.consumed, "--jobs \(jobs)")
            #expect(s.alpha == 0.05 && s.beta == 0.05)
        }
        #expect(expected.decision != .undecided)
    }

    @Test("the real kernel's seeded flake injection is measured against its known rate, and a failing seed replays")
    func injectedFlake() throws {
        let (status, out, err) = try Fixture.os3ctl(["stress", "--lane", "tiny", "--runs", "30", "--jobs", "2", "--seed", "11",
                                                     "--append", "inject.flake=0.4", "--baseline", "0.4", "--json"])
        let result = try JSONDecoder().decode(Output.self, from: Data(out.utf8))
        #expect(result.summary.runs == 30, "\(err)")
        #expect(result.summary.infraErrors == 0)
        // Every failure is the injected one, and the exact interval covers the true rate.
        #expect(result.summary.failures > 0 && result.summary.failures < 30)
        #expect(result.summary.byVerdict == ["forbidden-marker": result.summary.failures])
        #expect(result.runs.filter(\.failed).allSatisfy { $0.record.verdict.forbiddenLine?.contains("injected flake") == true })
        #expect(result.summary.clopperPearson.contains(0.4))
        #expect(status == 11)
        // The same seed gives the same outcome: replay one failing and one passing run.
        for run in [result.runs.first(where: \.failed), result.runs.first(where: { !$0.failed })].compactMap({ $0 }) {
            let replay = try Fixture.os3ctl(["boot", "--lane", "tiny", "--append", "inject.flake=0.4 os3.seed=\(run.seed)"])
            #expect(replay.status == (run.failed ? 11 : 0), "seed \(run.seed)")
        }
    }

    @Test("a stress-ng recipe loads the host, is recorded, and its workers are gone afterwards",
          .enabled(if: resolveExecutable("stress-ng") != nil, "needs stress-ng (installed by .ci/setup)"))
    func stressNGRecipe() throws {
        func stressNGPIDs() -> Set<Int32> {
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
            return Set(entries.compactMap { Int32($0) }.filter { pid in
                ((try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) ?? "").hasPrefix("stress-ng") && Fixture.isAlive(pid)
            })
        }
        let before = stressNGPIDs()
        let (status, out, err) = try Fixture.os3ctl(["stress", "--lane", "tiny", "--hog", "1", "--load", "io", "--runs", "2", "--json"])
        #expect(status == 0, "\(err)")
        let load = try #require(try JSONDecoder().decode(Output.self, from: Data(out.utf8)).load)
        #expect(load.recipe.hasPrefix("stress-ng --hdd 1"))
        #expect(load.cpuSeconds > 0)
        let gone = Date().addingTimeInterval(20)
        while !stressNGPIDs().subtracting(before).isEmpty && Date() < gone { usleep(20_000) }
        #expect(stressNGPIDs().subtracting(before).isEmpty, "stress-ng workers survived")
    }

    @Test("hogs load the host for the whole experiment, the load and the host's load are recorded, and the report renders every chart in a real browser without errors",
          .enabled(if: Chromium.path != nil, "needs chromium (installed by .ci/setup)"))
    func realLoadAndReport() throws {
        let report = FileManager.default.temporaryDirectory.appendingPathComponent("stress-\(UUID().uuidString).html").path
        let (status, out, err) = try Fixture.os3ctl(["stress", "--lane", "tiny", "--hog", "2", "--runs", "4", "--baseline", "0.2",
                                                     "--compare-idle", "--report", report, "--json"])
        #expect(status == 0, "\(err)")
        let result = try JSONDecoder().decode(Output.self, from: Data(out.utf8))
        #expect(result.summary.runs == 4)
        #expect(result.summary.failures == 0)
        #expect(result.summary.idle?.runs == 4)
        let load = try #require(result.load)
        #expect(load.hogs == 2)
        #expect(load.cpuSeconds > 0)
        #expect(Self.hogPIDs().isEmpty)
        // The host was sampled for the whole experiment, on the runs' clock; the load ran around the
        // loaded runs only (one block of --compare-idle: one loaded phase).
        let trace = result.hostTrace
        #expect(trace.samples.count >= 2)
        #expect(zip(trace.samples, trace.samples.dropFirst()).allSatisfy { $0.t <= $1.t })
        #expect(trace.samples.dropFirst().allSatisfy { ($0.cpuBusy ?? -1) >= 0 && ($0.cpuBusy ?? 2) <= 1 })
        #expect(trace.loadSpans.count == 1)
        let last = result.runs.map { $0.offset + $0.record.duration }.max() ?? 0
        #expect(trace.samples.last!.t >= last - trace.interval * 2, "sampled until the last run ended")
        for r in result.runs {
            let inside = trace.loadSpans.contains { $0.start <= r.offset && r.offset + r.record.duration <= $0.end }
            #expect(inside == r.underLoad, "#\(r.index) \(r.underLoad ? "loaded" : "idle") at \(r.offset)")
        }
        // The page loads without a console message, and every chart is there.
        #expect(try Chromium.consoleMessages(Chromium.brokenPage).isEmpty == false, "the console check can fail")
        #expect(try Chromium.consoleMessages(report) == [])
        let dom = try Chromium.dumpDOM(report)
        for id in ["chart-timeline", "chart-hostload", "chart-markers", "chart-gaps", "chart-compare", "chart-verdict-times"] {
            #expect(dom.contains("<svg id=\"\(id)\" class=\"chart\""), "\(id) missing")
        }
        #expect(dom.components(separatedBy: "class=\"run v-pass passed").count - 1 == 8)
        #expect(dom.components(separatedBy: "class=\"run v-pass passed idle\"").count - 1 == 4)
        #expect(dom.contains("<path class=\"cpu-area\"") && dom.contains("<polyline class=\"loadavg-line\""))
        #expect(dom.contains("No failure in 4 runs under load"))
        #expect(dom.contains("<p id=\"no-failures\">"))
        // Every marker the runs saw has a row in the chart from the start, and in the chart of gaps.
        #expect(result.summary.markerLatency.count > 5)
        let labels = dom.components(separatedBy: "<text class=\"row-label\"").map { $0.components(separatedBy: "</text>")[0] }
        for m in result.summary.markerLatency.keys {
            #expect(labels.filter { $0.hasSuffix(">\(m)") || $0.hasSuffix(">→ \(m)") }.count == 2, "\(m)")
        }
        let png = try Chromium.screenshot(report)
        #expect(png.count > 10_000)
    }

    @Test("the report groups failures by signature, each with its count, seeds, console tail, log link and replay command")
    func failureGroupsInReport() throws {
        let fake = try Self.seededFake()
        let project = try Fixture.fakeProject.get().root
        let report = FileManager.default.temporaryDirectory.appendingPathComponent("stress-\(UUID().uuidString).html").path
        let (_, out, err) = try Fixture.os3ctl(["stress", "--project", project, "--lane", "fake", "--runs", "20", "--jobs", "2", "--seed", "7",
                                                "--qemu", fake, "--kernel", try Fixture.kernelImage(), "--report", report, "--json"])
        let result = try JSONDecoder().decode(Output.self, from: Data(out.utf8))
        let failed = result.runs.filter(\.failed).sorted { $0.index < $1.index }
        #expect(!failed.isEmpty, "seed 7 gives failures in 20 runs: \(err)")
        let page = try String(contentsOfFile: report, encoding: .utf8)
        // One signature: forbidden marker 'panic' on the same line.
        #expect(page.components(separatedBy: "<div class=\"failure-group\"").count - 1 == 1)
        #expect(page.contains("<span class=\"count\">\(failed.count) run(s)</span>"))
        for r in failed { #expect(page.contains("#\(r.index) <code>\(r.seed)</code>")) }
        #expect(page.contains("<pre class=\"console\">") && page.contains("os3: PANIC: seeded failure</pre>"))
        #expect(page.contains("href=\"file://\(failed[0].record.serialLog)\""))
        #expect(page.contains("<code class=\"replay\">\(failed[0].replay.replacingOccurrences(of: "'", with: "&apos;"))</code>"))
        #expect(FileManager.default.fileExists(atPath: failed[0].record.serialLog))
    }

    @Test("killing os3ctl mid-stress (SIGTERM, SIGINT or SIGKILL) leaves no hog or QEMU running", arguments: [SIGTERM, SIGINT, SIGKILL])
    func killMidStress(_ sig: Int32) throws {
        let pids = FileManager.default.temporaryDirectory.appendingPathComponent("qemu-pids-\(UUID().uuidString)").path
        let fake = try Fixture.fakeQemu("""
        echo $$ >> '\(pids)'
        printf 'os3: boot ok entry=pvh mode=long64\\n'
        exec sleep 100
        """)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Fixture.binary)
        p.arguments = ["stress", "--project", try Fixture.fakeProject.get().root, "--lane", "fake", "--hog", "2", "--runs", "50", "--jobs", "2", "--qemu", fake,
                       "--kernel", try Fixture.kernelImage(), "--timeout", "60"]
        p.environment = ProcessInfo.processInfo.environment.merging(["OS3_STATE_DIR": Fixture.state.path]) { $1 }
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        // Wait until the hogs and both guests are up.
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline && (Self.hogPIDs().count < 2 || ((try? String(contentsOfFile: pids, encoding: .utf8))?.split(separator: "\n").count ?? 0) < 2) {
            usleep(20_000)
        }
        #expect(Self.hogPIDs().count == 2)
        kill(p.processIdentifier, sig)
        p.waitUntilExit()
        if sig != SIGKILL { #expect(p.terminationStatus == 128 + sig) }
        let qemus = (try String(contentsOfFile: pids, encoding: .utf8)).split(separator: "\n").compactMap { Int32($0) }
        let gone = Date().addingTimeInterval(20)
        while Date() < gone && (!Self.hogPIDs().isEmpty || qemus.contains(where: Fixture.isAlive)) { usleep(20_000) }
        #expect(Self.hogPIDs().isEmpty, "hogs survived")
        for q in qemus { #expect(!Fixture.isAlive(q), "fake QEMU \(q) survived") }
    }
}

enum Chromium {
    static let path: String? = ["chromium", "chromium-browser", "google-chrome"].lazy.compactMap { resolveExecutable($0) }.first

    /// Runs headless Chromium at 1280 px; stdout, and stderr (its log, console messages included).
    static func run(_ args: [String]) throws -> (out: Data, log: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path!)
        p.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1280,1400"] + args
        let out = Pipe(), log = FileManager.default.temporaryDirectory.appendingPathComponent("chromium-\(UUID().uuidString).log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let logHandle = try FileHandle(forWritingTo: log)
        defer { try? FileManager.default.removeItem(at: log) }
        p.standardOutput = out
        p.standardError = logHandle
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        try logHandle.close()
        return (data, (try? String(contentsOf: log, encoding: .utf8)) ?? "")
    }

    static func dumpDOM(_ file: String) throws -> String {
        String(decoding: try run(["--dump-dom", "file://\(file)"]).out, as: UTF8.self)
    }

    /// What the page wrote to the browser's console (script errors, failed checks): Chromium logs
    /// each as a line with ":CONSOLE" at --enable-logging=stderr.
    static func consoleMessages(_ file: String) throws -> [String] {
        try run(["--enable-logging=stderr", "--v=0", "--dump-dom", "file://\(file)"]).log
            .split(separator: "\n").filter { $0.contains(":CONSOLE") }.map(String.init)
    }

    /// A page with a script error, to show that `consoleMessages` sees one.
    static var brokenPage: String {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("broken-\(UUID().uuidString).html").path
        FileManager.default.createFile(atPath: file, contents: Data("<html><body><script>undefinedFunction()</script></body></html>".utf8))
        return file
    }

    static func screenshot(_ file: String) throws -> Data {
        let png = file + ".png"
        _ = try run(["--screenshot=\(png)", "file://\(file)"])
        return try Data(contentsOf: URL(fileURLWithPath: png))
    }
}

@Suite("the host sampler of stress experiments")
struct HostSamplerTests {
    @Test("a sampler past its deadline stops by itself after one sample, and stop() returns what it saw")
    func deadline() {
        let origin = Clock.now
        let sampler = HostSampler.start(origin: origin, interval: 0.05, deadline: origin)
        let trace = sampler.stop()
        #expect(trace.samples.count == 1)
        #expect(trace.samples[0].cpuBusy == nil, "no earlier sample to compare with")
        #expect(trace.samples[0].loadAverage >= 0 && trace.samples[0].t >= 0)
        #expect(trace.cores == HostProbe.cores)
        // stop() twice is harmless.
        #expect(sampler.stop() == trace)
    }

    @Test("on a long experiment the samples stay under the cap: every other one is dropped and the interval doubles")
    func thinning() {
        let sampler = HostSampler.start(origin: Clock.now, interval: 0.001, cap: 16)
        // Wait for enough samples to overflow the cap at least once (it thins at 16).
        var seen = 0
        while seen < 20 { usleep(20_000); seen += 1 }
        sampler.loadRan(from: Clock.now - 0.01, to: Clock.now)
        let trace = sampler.stop()
        #expect(trace.samples.count < 16)
        #expect(trace.interval > 0.001)
        #expect(zip(trace.samples, trace.samples.dropFirst()).allSatisfy { $0.t < $1.t })
        #expect(trace.samples.dropFirst().allSatisfy { $0.cpuBusy.map { (0...1).contains($0) } ?? true })
        #expect(trace.loadSpans.count == 1)
    }
}
