import Testing
@testable import OS3Core

/// LAVA jobs rendered from lanes, and LAVA's raw logs judged by os3ctl's own engine (docs/LAVA.md).
@Suite("LAVA jobs and logs")
struct LAVATests {
    static func lane(memory: String = "2M", append: String = "os3.lane=tiny os3.storm=4000", extra: [String] = ["-machine", "acpi=off"],
                     idle: Double = 5, total: Double = 20) throws -> Lane {
        var lane = try Lane(name: "tiny", accelerator: .tcg, machine: "microvm", memory: memory, cpus: 1, cpuModel: "qemu64",
                            append: append, markerFiles: ["boot"], totalTimeout: total, idleTimeout: idle, qemuArgs: extra)
        lane.lava = .init(deviceType: "qemu-os3ctl", tags: ["kvm", "mem-16g"])
        return lane
    }

    static let markers = MarkerSet(
        required: [Marker(id: "boot", pattern: .literal("os3: boot ok")),
                   Marker(id: "cmdline", pattern: .literal("os3: cmdline \"os3.lane=")),
                   Marker(id: "done", pattern: .literal("os3: ALL OK"))],
        forbidden: [Marker(id: "panic", pattern: .literal("os3: PANIC"))],
        orders: [["boot", "done"]])

    // MARK: rendering

    @Test("the job's QEMU options are the QEMU backend's argv minus what LAVA's template adds and the QMP socket")
    func extraOptions() throws {
        let q = QemuInvocation(binary: "qemu-system-x86_64", lane: try Self.lane(), kernel: "/k/os3.elf")
        let job = LAVAJob(invocation: q, kernelURL: "file:///k/os3.elf", jobName: "t")
        #expect(job.extraOptions == [
            ["-name", "os3-tiny"], ["-machine", "microvm"], ["-accel", "tcg"], ["-cpu", "qemu64"], ["-smp", "1"],
            ["-nodefaults"], ["-no-user-config"], ["-no-reboot"], ["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"],
            ["-machine", "acpi=off"], ["-serial", "stdio"],
        ])
        let words = job.extraOptions.flatMap { $0 }
        for gone in ["-m", "-kernel", "-append", "-mon", "-S", "-display", "chardev:con0"] {
            #expect(!words.contains(gone), "\(gone) must not reach LAVA")
        }
    }

    @Test("the job YAML names the device type, tags, memory, timeouts, kernel and the wrapper-framed monitor")
    func render() throws {
        let q = QemuInvocation(binary: "qemu-system-x86_64", lane: try Self.lane(append: "os3.lane=tiny a=\"b c\""), kernel: "/k/os3.elf",
                               extraAppend: "os3.panic=1")
        let yaml = try LAVAJob(invocation: q, kernelURL: "file:///k/os3.elf", jobName: "os3ctl tiny").render()
        #expect(yaml.contains("device_type: \"qemu-os3ctl\"\n"))
        #expect(yaml.contains("tags: [\"kvm\", \"mem-16g\"]\n"))
        #expect(yaml.contains("memory: \"2M\"\n"))
        #expect(yaml.contains("arch: \"amd64\"\n"))
        #expect(yaml.contains("  - \"-machine microvm\"\n"))
        #expect(yaml.contains("  - \"-serial stdio\"\n"))
        #expect(yaml.contains("job: {seconds: 140}"))
        #expect(yaml.contains("timeout: {seconds: 20}\n    monitors:"))
        #expect(yaml.contains("kernel: {url: \"file:///k/os3.elf\", image_arg: \"-kernel {kernel} -append 'os3.lane=tiny a=\\\"b c\\\" os3.panic=1'\"}"))
        #expect(yaml.contains("start: \"os3ctl-qemu-start\""))
        #expect(yaml.contains("end: \"os3ctl-qemu-(exit|signal)=\\\\d+\""))
    }

    @Test("console input becomes a LAVA interactive test: typed after the marker's text (as a Python regex), ended by the wrapper's exit line")
    func interactive() throws {
        var lane = try Self.lane()
        lane.consoleInput = .init(after: "boot", text: "ello")
        let q = QemuInvocation(binary: "qemu-system-x86_64", lane: lane, kernel: "/k/os3.elf")
        let yaml = try LAVAJob(invocation: q, kernelURL: "file:///k/os3.elf", jobName: "t", markers: Self.markers).render()
        #expect(yaml.contains("    interactive:\n    - name: os3ctl-console-input\n      prompts: [\"os3\\\\: boot ok\"]\n"))
        #expect(yaml.contains("      - name: wait-for-prompt\n        command: null\n"))
        #expect(yaml.contains("        command: \"ello\"\n        wait_for_prompt: false\n"))
        #expect(yaml.contains("        - message: \"os3ctl-qemu-(exit|signal)=\\\\d+\"\n"))
        #expect(!yaml.contains("monitors:"))
    }

    @Test("an argument LAVA's command-line splitter would garble is refused, not passed on altered")
    func quoting() throws {
        let q = QemuInvocation(binary: "qemu-system-x86_64", lane: try Self.lane(append: "it's"), kernel: "/k/os3.elf")
        #expect(throws: OS3Error.self) { try LAVAJob(invocation: q, kernelURL: "file:///k", jobName: "t").render() }
    }

    @Test("lanes a LAVA job cannot express are named, with why")
    func unsupported() throws {
        var lane = try Self.lane()
        #expect(LAVAJob.unsupported(lane) == nil)
        lane.consoleInput = .init(after: "boot", text: "ello")
        #expect(LAVAJob.unsupported(lane, markers: Self.markers) == nil)
        lane.consoleInput = .init(after: "boot", text: "two\nlines")
        #expect(LAVAJob.unsupported(lane)?.contains("line break") == true)
        lane.consoleInput = .init(after: "rx", text: "ello")
        let regex = MarkerSet(required: [Marker(id: "rx", pattern: .regex("rx ready n=[0-9]+"))], forbidden: [], orders: [])
        #expect(LAVAJob.unsupported(lane, markers: regex)?.contains("not a plain-text marker") == true)
        lane = try Self.lane()
        lane.boot = .disk(image: "d.img")
        #expect(LAVAJob.unsupported(lane)?.contains("method \"disk\"") == true)
    }

    // MARK: lane files

    @Test("lava-device-type and lava-tags are read from a lane file, with defaults")
    func laneKeys() throws {
        let base = "accelerator = \"tcg\"\nmachine = \"microvm\"\nmemory = \"2M\"\ncpus = 1\ncpu = \"qemu64\"\nmarkers = [\"boot\"]\n"
        let plain = try Lane.parse(name: "t", file: "lanes/t.toml", text: base + "[timeouts]\ntotal = 5\nidle = 1\n")
        #expect(plain.lava == .init(deviceType: "qemu-os3ctl", tags: []))
        let tagged = try Lane.parse(name: "t", file: "lanes/t.toml",
                                    text: base + "lava-device-type = \"qemu\"\nlava-tags = [\"kvm\"]\n[timeouts]\ntotal = 5\nidle = 1\n")
        #expect(tagged.lava == .init(deviceType: "qemu", tags: ["kvm"]))
    }

    @Test("a bad LAVA tag or device type is refused naming the file, the line and the fix")
    func laneErrors() throws {
        let base = "accelerator = \"tcg\"\nmachine = \"microvm\"\nmemory = \"2M\"\ncpus = 1\ncpu = \"qemu64\"\nmarkers = [\"boot\"]\n"
        for (line, key) in [("lava-tags = [\"kvm\", \"has space\"]", "lava-tags"), ("lava-tags = [\"kvm\", \"kvm\"]", "lava-tags"),
                            ("lava-device-type = \"\"", "lava-device-type")] {
            do {
                _ = try Lane.parse(name: "t", file: "lanes/t.toml", text: base + line + "\n[timeouts]\ntotal = 5\nidle = 1\n")
                Issue.record("\(line) was accepted")
            } catch let e as OS3Error {
                #expect(e.code == .invalidLane)
                #expect(e.file == "lanes/t.toml")
                #expect(e.line == 7, "\(key)")
                #expect(e.fix != nil)
            }
        }
    }

    // MARK: logs

    /// A raw log line as LAVA 2023.01 writes it (its `"` escaped as `\"` inside the JSON string).
    static func entry(_ t: Double, _ lvl: String, _ msg: String) -> String {
        let s = Int(t)
        let frac = String(Int(((t - Double(s)) * 1_000_000).rounded())).leftPadded(to: 6, with: "0")
        let escaped = msg.replacingAll("\"", with: "\\\"")
        return "- {\"dt\": \"2026-12-06T07:27:\(String(s).leftPadded(to: 2, with: "0")).\(frac)\", \"lvl\": \"\(lvl)\", \"msg\": \(JSONText.string(escaped).pretty)}"
    }

    /// A job log: LAVA's lines, the wrapper's start, the console (time, line), then the end lines.
    static func log(_ console: [(Double, String)], exit: String? = "os3ctl-qemu-exit=33", endAt: Double? = nil, lavaEnd: [(String, String)] = []) -> String {
        var lines = [entry(1, "info", "start: 3 lava-test-monitor-retry"), entry(1.5, "target", "os3ctl-qemu-start"),
                     entry(1.6, "info", "ok: start string found, lava test monitoring started")]
        lines += console.map { entry($0.0, "target", $0.1) }
        let last = (console.last?.0 ?? 1.5)
        if let exit { lines.append(entry(endAt ?? last + 0.01, "target", exit)) }
        for (lvl, msg) in lavaEnd { lines.append(entry(endAt ?? last + 0.01, lvl, msg)) }
        lines += [entry(50, "info", "Finalising connection for namespace 'common'"), entry(50.1, "target", "poweroff")]
        return lines.joined(separator: "\n") + "\n"
    }

    static let passing: [(Double, String)] = [(2, "os3: boot ok entry=pvh"), (2.1, "os3: cmdline \"os3.lane=tiny\""), (2.2, "os3: ALL OK")]

    @Test("the console is what the wrapper framed, unescaped, without LAVA's own lines or its poweroff echo")
    func console() {
        let c = LAVALog(raw: Self.log(Self.passing)).console
        #expect(c.text == "os3: boot ok entry=pvh\nos3: cmdline \"os3.lane=tiny\"\nos3: ALL OK\n")
        #expect(c.end == .exited(33))
        #expect(c.startTime != nil)
        #expect(c.endTime! - c.startTime! > 0.7 && c.endTime! - c.startTime! < 0.72)
    }

    @Test("a date in LAVA's log reads as seconds since the epoch")
    func time() {
        #expect(LAVALog.parseTime("1970-01-01T00:00:01.5") == 1.5)
        #expect(LAVALog.parseTime("2026-12-06T07:27:04.000000") == 1_796_542_024)
        #expect(LAVALog.parseTime("garbage") == nil)
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var raw: String
        var expected: VerdictKind
        var evidence: VerdictEvidence
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "every marker and exit 33 on the wrapper's line: pass on the device's exit line",
             raw: log(passing), expected: .pass, evidence: .deviceExitLine),
        Case(name: "a panic line: forbidden marker (LAVA called it an infrastructure error)",
             raw: log([(2, "os3: boot ok entry=pvh"), (2.1, "os3: PANIC: deliberate")], exit: "os3ctl-qemu-exit=35"),
             expected: .forbiddenMarker, evidence: .console),
        Case(name: "a marker missing with exit 33: missing markers (LAVA called it a pass)",
             raw: log([(2, "os3: boot ok entry=pvh"), (2.2, "os3: ALL OK")]), expected: .missingMarkers, evidence: .deviceExitLine),
        Case(name: "exit 15: wrong exit code (LAVA called it an infrastructure error)",
             raw: log(passing, exit: "os3ctl-qemu-exit=15"), expected: .wrongExitCode, evidence: .deviceExitLine),
        Case(name: "silent after boot until LAVA's test timeout: hang (LAVA called it a pass)",
             raw: log([(2, "os3: boot ok entry=pvh")], exit: nil, endAt: 22, lavaEnd: [("exception", "lava-test-monitor timed out after 20 seconds")]),
             expected: .hang, evidence: .console),
        Case(name: "printing until LAVA's test timeout: timeout",
             raw: log((0..<80).map { (2 + Double($0) / 4, "tick \($0)") }, exit: nil, endAt: 22,
                      lavaEnd: [("exception", "lava-test-monitor timed out after 20 seconds")]),
             expected: .timeout, evidence: .console),
        Case(name: "a gap longer than the idle timeout before the exit line: hang, as os3ctl would have stopped it",
             raw: log([(2, "os3: boot ok entry=pvh"), (9, "os3: cmdline \"os3.lane=tiny\""), (9.1, "os3: ALL OK")]),
             expected: .hang, evidence: .console),
        Case(name: "the exit line logged as LAVA's feedback after its monitor moved on still decides",
             raw: log(passing, exit: nil, lavaEnd: [("info", "start: 4 finalize (timeout 00:02:30) [common]"), ("feedback", "os3ctl-qemu-exit=33")]),
             expected: .pass, evidence: .deviceExitLine),
        Case(name: "silent until LAVA stopped QEMU, whose wrapper then said signal 15: hang",
             raw: log([(2, "os3: boot ok entry=pvh")], exit: nil, endAt: 22,
                      lavaEnd: [("exception", "lava-test-monitor timed out after 20 seconds"), ("feedback", "os3ctl-qemu-signal=15")]),
             expected: .hang, evidence: .console),
        Case(name: "QEMU killed by a signal: infrastructure error",
             raw: log(passing, exit: "os3ctl-qemu-signal=9"), expected: .infraError, evidence: .deviceExitLine),
        Case(name: "no exit line and no timeout, LAVA's error: infrastructure error on LAVA's job",
             raw: log(passing, exit: nil, lavaEnd: [("error", "Connection closed")]), expected: .infraError, evidence: .lavaJob),
        Case(name: "QEMU never started on the device: infrastructure error on LAVA's job",
             raw: entry(1, "error", "Cannot find command 'qemu-system-x86_64' in $PATH") + "\n", expected: .infraError, evidence: .lavaJob),
    ]

    @Test("LAVA logs judged by os3ctl's verdicts, whatever LAVA's status said", arguments: cases)
    func judge(_ c: Case) throws {
        let outcome = LAVAJudge.judge(LAVALog(raw: c.raw).console, lane: try Self.lane(), markers: Self.markers)
        #expect(outcome.verdict.kind == c.expected, "\(outcome.verdict.detail)")
        #expect(outcome.verdict.evidence == c.evidence, "\(outcome.verdict.detail)")
    }
}
