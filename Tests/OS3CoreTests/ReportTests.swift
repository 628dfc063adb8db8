import Testing
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
}
