import Testing
import Glibc
@testable import OS3Core

@Suite("Reports")
struct ReportTests {
    static func record(_ lane: String, _ kind: VerdictKind, _ detail: String) -> RunRecord {
        RunRecord(lane: lane, laneFile: "lanes/\(lane).toml", kernel: "k", argv: [], kernelCommandLine: "", runDirectory: "/runs/\(lane)",
                  serialLog: "/runs/\(lane)/serial.log", startedAt: "", duration: 0.1234, verdict: Verdict(kind: kind, detail: detail, missing: kind == .missingMarkers ? ["done"] : []),
                  end: .exited(33), markers: [], requiredCount: 4, consoleBytes: 1)
    }

    static func boots(_ records: [RunRecord]) -> [Reports.JUnitBoot] {
        records.map { Reports.JUnitBoot(record: $0, suite: "os3ctl-gate.\($0.lane)", seed: "42", consoleTail: "os3: last <line>") }
    }

    @Test("JUnit XML: one suite per boot with its properties, failures and errors counted, console text escaped, no `skipped` on <testsuites>")
    func junit() {
        let xml = Reports.junit(Self.boots([Self.record("kvm", .pass, "ok"), Self.record("tiny", .missingMarkers, "missing <done> & \"more\""),
                                            Self.record("tcg", .infraError, "QEMU died"), Self.record("big", .skipped, "no KVM\u{1}")]),
                                name: "os3ctl-gate", hostname: "ci-1", skippedFails: false)
        #expect(xml.contains("<testsuites name=\"os3ctl-gate\" tests=\"4\" failures=\"1\" errors=\"1\" time=\"0.494\">"), "\(xml)")
        #expect(xml.contains("<testsuite name=\"os3ctl-gate.tiny\" tests=\"1\" failures=\"1\" errors=\"0\" skipped=\"0\""))
        #expect(xml.contains("hostname=\"ci-1\""))
        #expect(xml.contains("<property name=\"lane\" value=\"tiny\"/>") && xml.contains("<property name=\"seed\" value=\"42\"/>")
                && xml.contains("<property name=\"kernel\" value=\"k\"/>"))
        #expect(xml.contains("<failure type=\"missing-markers\" message=\"missing-markers: missing &lt;done&gt; &amp; &quot;more&quot;\">"))
        #expect(xml.contains("last console lines:\nos3: last &lt;line&gt;</failure>"))
        #expect(xml.contains("<error type=\"infra-error\""))
        #expect(xml.contains("<skipped message=\"skipped: no KVM\u{FFFD}\"/>"))
        #expect(!xml.contains("\u{1}"))
        // A passing boot shows no console; a failing one shows its tail.
        #expect(xml.components(separatedBy: "<system-out>os3: last &lt;line&gt;</system-out>").count == 4)
    }

    @Test("each KTAP result is a test case of its boot's suite: not ok a failure, SKIP and TODO skipped, counted in the suite and the total")
    func ktapCases() {
        var r = Self.record("linux-ktap", .testFailed, "1 KTAP result not ok")
        r.ktap = KTAPReport.parse("KTAP version 1\n1..3\n    KTAP version 1\n    # Subtest: suite\n    1..1\n    ok 1 inner\nok 1 suite\nnot ok 2 <bad>\nok 3 later # SKIP no hw\n")
        let xml = Reports.junit(Self.boots([r]), name: "g", hostname: "h", skippedFails: true)
        #expect(xml.contains("<testsuites name=\"g\" tests=\"5\" failures=\"2\" errors=\"0\""), "\(xml)")
        #expect(xml.contains("<testsuite name=\"os3ctl-gate.linux-ktap\" tests=\"5\" failures=\"2\" errors=\"0\" skipped=\"1\""), "\(xml)")
        #expect(xml.contains("<testcase classname=\"os3ctl-gate.linux-ktap.ktap\" name=\"suite.inner\" time=\"0\"/>"))
        #expect(xml.contains("<testcase classname=\"os3ctl-gate.linux-ktap.ktap\" name=\"&lt;bad&gt;\" time=\"0\">\n      <failure type=\"ktap-not-ok\""))
        #expect(xml.contains("<skipped message=\"SKIP no hw\"/>"))
    }

    @Test("a skipped lane counts as the gate counts it: a failure without --allow-skipped, skipped with it")
    func skippedCountsAsTheGate() {
        let records = [Self.record("kvm", .pass, "ok"), Self.record("big", .skipped, "no KVM")]
        let failing = Reports.junit(Self.boots(records), name: "g", hostname: "h", skippedFails: true)
        #expect(failing.contains("tests=\"2\" failures=\"1\" errors=\"0\""))
        #expect(failing.contains("<failure type=\"skipped\"") && failing.contains("--allow-skipped"))
        let allowed = Reports.junit(Self.boots(records), name: "g", hostname: "h", skippedFails: false)
        #expect(allowed.contains("tests=\"2\" failures=\"0\" errors=\"0\""))
        #expect(allowed.contains("skipped=\"1\"") && allowed.contains("<skipped message="))
    }

    @Test("the summary table has one row per lane with verdict, time and markers seen/required")
    func table() {
        let t = Reports.table([Self.record("kvm", .pass, "ok"), Self.record("tiny", .missingMarkers, "missing done")])
        let lines = t.split(separator: "\n")
        #expect(lines.count == 3)
        #expect(lines[0].hasPrefix("LANE"))
        #expect(lines[1].contains("pass") && lines[1].contains("0.123s") && lines[1].contains("4/4"))
        #expect(lines[2].contains("missing-markers") && lines[2].contains("3/4"))
    }

    // MARK: the stress report's pieces

    @Test("axis ticks are 1, 2 or 5 × 10^k, start at or below the smallest value and end at or above the largest")
    func niceTicks() {
        let t = SVGChart.ticks(0, 7.3)
        #expect(t.values == [0, 2, 4, 6, 8])
        #expect(t.step == 2 && t.decimals == 0)
        let small = SVGChart.ticks(0, 0.37)
        #expect(small.values == [0, 0.1, 0.2, 0.3, 0.4])
        #expect(small.values.map(small.label) == ["0.0", "0.1", "0.2", "0.3", "0.4"])
        #expect(SVGChart.ticks(0, 31.2, count: 10).values == [0, 5, 10, 15, 20, 25, 30, 35])
        // A single value gets an axis around it, never a zero-width one.
        let one = SVGChart.ticks(3, 3)
        #expect(one.lo <= 3 && one.hi > 3)
        for (lo, hi) in [(0.0, 0.0123), (1.7, 2.9), (0, 1403.5), (12, 13), (0, 99.99), (0.004, 0.0051)] {
            let t = SVGChart.ticks(lo, hi)
            #expect(t.lo <= lo && t.hi >= hi, "\(lo)–\(hi): \(t.values)")
            #expect((3...12).contains(t.values.count), "\(lo)–\(hi): \(t.values)")
            let mantissa = t.step / pow(10, log10(t.step).rounded(.down))
            #expect([1, 2, 5].contains { abs($0 - mantissa) < 1e-6 }, "step \(t.step)")
            // Labels are exact at the chosen precision, and distinct.
            #expect(Set(t.values.map(t.label)).count == t.values.count)
        }
    }

    @Test("a log axis has the 1-2-5 ticks of every decade it spans, labelled without trailing zeros, each decade the same width")
    func logAxis() {
        let t = SVGChart.logTicks(0.7, 420)
        #expect(t.values == [0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500])
        #expect(t.values.map(t.label) == ["0.5", "1", "2", "5", "10", "20", "50", "100", "200", "500"])
        let x = SVGChart.LogScale(SVGChart.logTicks(1, 1000), range: (100, 400))
        #expect(abs(x(1) - 100) < 1e-9 && abs(x(10) - 200) < 1e-9 && abs(x(100) - 300) < 1e-9 && abs(x(1000) - 400) < 1e-9)
        // Zero (two markers on one line) sits at the axis's start instead of minus infinity.
        #expect(x(0) == 100)
    }

    @Test("a linear scale maps the ends of its domain to the ends of its range, and an axis draws one labelled tick per value with its unit")
    func scaleAndAxis() {
        let t = SVGChart.ticks(0, 10)
        let x = SVGChart.Scale(t, range: (50, 550))
        #expect(x(0) == 50 && x(10) == 550 && x(2.5) == 175)
        let y = SVGChart.Scale(t, range: (200, 0))
        #expect(y(0) == 200 && y(10) == 0)
        let axis = SVGChart.xAxis(t, x, y: 100, gridTop: 0, title: "time (s)")
        #expect(axis.components(separatedBy: "class=\"tick\"").count - 1 == t.values.count)
        #expect(axis.components(separatedBy: "class=\"grid\"").count - 1 == t.values.count)
        for v in t.values { #expect(axis.contains(">\(t.label(v))</text>")) }
        #expect(axis.contains("<text class=\"tick-label\" x=\"550.0\" y=\"117.0\" text-anchor=\"middle\">10</text>"))
        #expect(axis.contains(">time (s)</text>"))
        #expect(SVGChart.TimeUnit.fitting(maxSeconds: 1.4).name == "ms" && SVGChart.TimeUnit.fitting(maxSeconds: 31).name == "s")
    }

    @Test("every verdict has its own colour, defined once as a CSS rule that charts, legends and tables share")
    func verdictColours() {
        let colours = VerdictKind.allCases.map(VerdictColors.color)
        #expect(Set(colours).count == VerdictKind.allCases.count)
        let css = VerdictColors.css
        for k in VerdictKind.allCases {
            #expect(css.components(separatedBy: "svg .v-\(k.rawValue){fill:\(VerdictColors.color(k))").count - 1 == 1)
        }
        let legend = VerdictColors.legend([.forbiddenMarker, .pass])
        #expect(legend.components(separatedBy: "class=\"sw ").count - 1 == 2)
        #expect(legend.range(of: "v-pass")!.lowerBound < legend.range(of: "v-forbidden-marker")!.lowerBound)
    }

    static func stressRun(_ i: Int, _ kind: VerdictKind, forbidden: String? = nil, missing: [String] = [], last: String = "os3: boot ok") -> StressRun {
        var r = record("kvm", kind, forbidden.map { "forbidden marker 'panic' at console line \(20 + i): \($0)" } ?? "\(kind.rawValue) after \(i) s")
        r.verdict.forbiddenLine = forbidden
        r.verdict.missing = missing
        r.markers = [MarkerHit(id: "boot", time: 0.1, line: 1, text: last)]
        return StressRun(index: i, seed: UInt64(500 + i), offset: Double(i), underLoad: true, host: "qemu", record: r, replay: "replay \(i)")
    }

    @Test("failures group by verdict, first forbidden or missing marker and console line with numbers masked; the largest group first")
    func failureSignatures() {
        let runs = [
            Self.stressRun(0, .pass),
            Self.stressRun(1, .forbiddenMarker, forbidden: "os3: PANIC: page fault at 0x1f00 cr2=4096"),
            Self.stressRun(2, .missingMarkers, missing: ["ring3", "done"], last: "os3: smp ok cores=2"),
            Self.stressRun(3, .forbiddenMarker, forbidden: "os3: PANIC: page fault at 0x2a10 cr2=8192"),
            Self.stressRun(4, .forbiddenMarker, forbidden: "os3: PANIC: double free"),
            Self.stressRun(5, .forbiddenMarker, forbidden: "os3: PANIC: page fault at 0xfe0 cr2=0"),
            Self.stressRun(6, .hang, missing: ["ring3", "done"], last: "os3: smp ok cores=2"),
        ]
        let groups = FailureGroup.make(runs)
        #expect(groups.map(\.runs.count) == [3, 1, 1, 1])
        #expect(groups[0].runs.map(\.index) == [1, 3, 5])
        #expect(groups[0].signature.marker == "panic")
        #expect(groups[0].signature.line == "osN: PANIC: page fault at N crN=N")
        // Same missing marker and line, different verdicts: different signatures. Ties keep run order.
        #expect(groups[1].runs.map(\.index) == [2] && groups[1].signature.marker == "ring3" && groups[1].signature.kind == .missingMarkers)
        #expect(groups[2].runs.map(\.index) == [4])
        #expect(groups[3].signature.kind == .hang)
        #expect(FailureSignature.line(of: runs[2]) == "last marker line: os3: smp ok cores=2")
        // The first missing marker is the first the boot did not reach, whatever the marker files' order.
        #expect(FailureSignature(runs[2], order: ["boot": 0, "ring3": 1, "done": 2]).marker == "ring3")
        #expect(FailureSignature(runs[2], order: ["boot": 0, "done": 1, "ring3": 2]).marker == "done")
        #expect(FailureGroup.make([Self.stressRun(0, .pass)]).isEmpty)
    }

    @Test("a page of many distinct failures shows the largest groups in full and counts the rest")
    func manyGroups() {
        let runs = (0..<(HTMLReport.maxGroups + 5)).map { Self.stressRun($0, .forbiddenMarker, forbidden: "os3: PANIC: case \(String(UnicodeScalar(UInt8(65 + $0 % 26)))) \($0 / 26 == 0 ? "a" : "b")") }
        let html = HTMLReport.failureGroups(runs, tails: [:])
        #expect(html.components(separatedBy: "<div class=\"failure-group\"").count - 1 == HTMLReport.maxGroups)
        #expect(html.contains("… and 5 smaller group(s) of 5 run(s) in all"))
    }

    @Test("CPU busy is read from /proc/stat's cpu line: idle and iowait are idle, guest time is not counted twice")
    func procStat() {
        let a = CPUTimes.parse(procStat: "cpu  100 0 50 800 50 0 0 0 30 0\ncpu0 50 0 25 400 25 0 0 0 0 0\nintr 1\n")
        #expect(a == CPUTimes(busy: 150, total: 1000))
        let b = CPUTimes(busy: 150 + 300, total: 1000 + 400)
        #expect(b.busyFraction(since: a!) == 0.75)
        #expect(a!.busyFraction(since: a!) == nil)
        #expect(CPUTimes.parse(procStat: "intr 1\n") == nil)
    }

    @Test("marker times are from the start or since the previous marker of the same run, in the order the boot printed them")
    func markerGaps() {
        var run = Self.stressRun(0, .pass)
        run.record.markers = [MarkerHit(id: "b", time: 0.25, line: 3, text: ""), MarkerHit(id: "a", time: 0.1, line: 1, text: ""),
                              MarkerHit(id: "c", time: 0.25, line: 4, text: "")]
        #expect(HTMLReport.markerTimes(run, gaps: false) == ["a": 0.1, "b": 0.25, "c": 0.25])
        let gaps = HTMLReport.markerTimes(run, gaps: true)
        #expect(abs(gaps["a"]! - 0.1) < 1e-12 && abs(gaps["b"]! - 0.15) < 1e-12 && gaps["c"] == 0)
        var slow = run
        slow.record.markers = [MarkerHit(id: "a", time: 1, line: 1, text: ""), MarkerHit(id: "b", time: 3, line: 2, text: "")]
        #expect(HTMLReport.markerOrder([run, slow, run]) == ["a", "b", "c"])
    }

    @Test("the timeline draws each run from its start to its verdict on the experiment's clock")
    func timelineBars() {
        var run = Self.stressRun(0, .pass)
        run.offset = 2
        run.record.duration = 1
        let clock = SVGChart.ticks(0, 10)
        let svg = HTMLReport.timeline([run], clock: clock, spans: [TimeSpan(start: 0, end: 5)])
        let x = SVGChart.Scale(clock, range: (HTMLReport.timeLeft, HTMLReport.width - HTMLReport.timeRight))
        #expect(svg.contains("<rect class=\"run v-pass passed\" x=\"\(fixed(x(2), 1))\" y=\"9.4\" width=\"\(fixed(x(3) - x(2), 1))\""), "\(svg)")
        #expect(svg.contains("<rect class=\"load-span\" x=\"\(fixed(x(0), 1))\""))
        #expect(svg.contains(">time since the experiment started (s)</text>"))
    }

    @Test("the headline is one sentence: flaky with its interval, clean with its one-sided bound, or nothing measured")
    func headlines() {
        let flaky = StressSummary.make(lane: "kvm", runs: (0..<10).map { Self.stressRun($0, $0 < 3 ? .forbiddenMarker : .pass, forbidden: $0 < 3 ? "x" : nil) },
                                       baselineRate: 0.1, hogs: 2, sequential: nil, targetRate: 0.05)
        #expect(HTMLReport.headline(flaky) == "Flaky under load: 3 of 10 runs failed, rate 30.0% (two-sided 95% exact interval 6.7%–65.2%).")
        #expect(HTMLReport.tests(flaky).first?.hasPrefix("Baseline 10.0%: exact binomial test, two-sided") == true)
        let none = StressSummary.make(lane: "kvm", runs: [Self.stressRun(0, .infraError)], baselineRate: nil, hogs: 2, sequential: nil, targetRate: 0.05)
        #expect(HTMLReport.headline(none) == "Nothing measured: no run reached a kernel verdict (1 infrastructure error(s)).")
        let load = LoadRecord(hogs: 2, recipe: "cpu (os3ctl hog)", loadAverageBefore: 0.5, loadAverageAfter: 2.25, cpuSeconds: 19, wallSeconds: 10, cores: 2)
        let trace = HostTrace(cores: 2, interval: 0.4, samples: [HostSample(t: 0, loadAverage: 1, cpuBusy: nil), HostSample(t: 0.4, loadAverage: 2, cpuBusy: 0.5),
                                                                 HostSample(t: 0.8, loadAverage: 3, cpuBusy: 1)], loadSpans: [])
        #expect(HTMLReport.loadSentence(load, trace: trace)
                == "Load achieved: 2 × cpu (os3ctl hog), 1.9 of 2 cores kept busy by the load; load average 0.5 → 2.3; host sampled 3 times: CPU busy median 75% (max 100%), load average up to 3.0.")
    }
}

