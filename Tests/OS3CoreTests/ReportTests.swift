import Testing
@testable import OS3Core

@Suite("Reports")
struct ReportTests {
    static func record(_ lane: String, _ kind: VerdictKind, _ detail: String) -> RunRecord {
        RunRecord(lane: lane, laneFile: "lanes/\(lane).toml", kernel: "k", argv: [], kernelCommandLine: "", runDirectory: "/runs/\(lane)",
                  serialLog: "/runs/\(lane)/serial.log", startedAt: "", duration: 0.1234, verdict: Verdict(kind: kind, detail: detail, missing: kind == .missingMarkers ? ["done"] : []),
                  end: .exited(33), markers: [], requiredCount: 4, consoleBytes: 1)
    }

    @Test("JUnit XML counts failures, errors and skips, and escapes console text")
    func junit() {
        let xml = Reports.junit([Self.record("kvm", .pass, "ok"), Self.record("tiny", .missingMarkers, "missing <done> & \"more\""),
                                 Self.record("tcg", .infraError, "QEMU died"), Self.record("big", .skipped, "no KVM\u{1}")])
        #expect(xml.contains("tests=\"4\" failures=\"1\" errors=\"1\" skipped=\"1\""))
        #expect(xml.contains("<failure type=\"missing-markers\" message=\"missing-markers: missing &lt;done&gt; &amp; &quot;more&quot;\">"))
        #expect(xml.contains("<error type=\"infra-error\""))
        #expect(xml.contains("<skipped message=\"skipped: no KVM\u{FFFD}\"/>"))
        #expect(!xml.contains("\u{1}"))
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
