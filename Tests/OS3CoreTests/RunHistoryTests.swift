import OS3Core
import Testing

/// `os3ctl runs` and its retention rule, on entries made by hand (no files).
@Suite("Run history: listing and the retention rule")
struct RunHistoryTests {
    static func entry(_ name: String, _ kind: VerdictKind?, startedAt: String = "") -> RunEntry {
        let lane = RunEntry(name: name, path: "/s/runs/\(name)", status: .incomplete("x")).lane
        precondition(lane != "?" && name.hasSuffix("-" + name.suffix(6)), "a test name must look like STAMP-LANE-XXXXXX: \(name)")
        guard let kind else { return RunEntry(name: name, path: "/s/runs/\(name)", status: .incomplete("no result.json")) }
        let record = RunRecord(lane: lane, laneFile: "lanes/\(lane).toml", kernel: "k", argv: [], kernelCommandLine: "", runDirectory: "/s/runs/\(name)",
                               serialLog: "/s/runs/\(name)/serial.log", startedAt: startedAt, duration: 1.5,
                               verdict: Verdict(kind: kind, detail: "d"), end: .exited(33), markers: [], requiredCount: 1, consoleBytes: 1)
        return RunEntry(name: name, path: "/s/runs/\(name)", status: .recorded(record))
    }

    @Test("the lane and start second come from a directory's name when there is no record; never a verdict")
    func namesWithoutRecords() {
        let e = RunEntry(name: "20261206-070650-kvm-uefi-Ab12Cd", path: "/s/runs/x", status: .running(pid: 42))
        #expect(e.lane == "kvm-uefi")
        #expect(e.stamp == "20261206-070650")
        #expect(e.startedAt == "2026-12-06T07:06:50Z")
        #expect(e.state == "running" && e.record == nil && !e.passed && !e.failed)
        let odd = RunEntry(name: "not-a-run", path: "/s/runs/not-a-run", status: .incomplete("no result.json"))
        #expect(odd.lane == "?" && odd.stamp == "" && odd.state == "incomplete")
    }

    @Test("newest first: by the second in the name, then the record's millisecond start time")
    func ordering() {
        let a = Self.entry("20261206-070650-kvm-aaaaaa", .pass, startedAt: "2026-12-06T07:06:50.900Z")
        let b = Self.entry("20261206-070650-kvm-zzzzzz", .pass, startedAt: "2026-12-06T07:06:50.100Z")
        let c = Self.entry("20261206-070651-kvm-mmmmmm", nil)
        let sorted = [b, c, a].sorted(by: RunEntry.newestFirst).map(\.name)
        #expect(sorted == [c.name, a.name, b.name])
    }

    @Test("prune keeps the newest N passes of each lane and removes only older passes and skips")
    func retention() {
        // Newest first, as RunStore.entries() gives them.
        let entries = [
            Self.entry("20261206-070659-kvm-aaaaa9", .pass),
            Self.entry("20261206-070658-tiny-aaaaa8", .pass),
            Self.entry("20261206-070657-kvm-aaaaa7", .missingMarkers),
            Self.entry("20261206-070656-kvm-aaaaa6", .pass),
            Self.entry("20261206-070655-kvm-aaaaa5", nil),
            Self.entry("20261206-070654-kvm-aaaaa4", .pass),
            Self.entry("20261206-070653-kvm-aaaaa3", .skipped),
            Self.entry("20261206-070652-kvm-aaaaa2", .skipped),
            Self.entry("20261206-070651-kvm-aaaaa1", .timeout),
            Self.entry("20261206-070650-tiny-aaaaa0", .pass),
        ]
        let two = RunRetention.toRemove(entries, keepPasses: 2).map(\.name)
        #expect(two == ["20261206-070654-kvm-aaaaa4"])
        let one = RunRetention.toRemove(entries, keepPasses: 1).map(\.name)
        #expect(one == ["20261206-070656-kvm-aaaaa6", "20261206-070654-kvm-aaaaa4", "20261206-070652-kvm-aaaaa2", "20261206-070650-tiny-aaaaa0"])
        // Zero: every pass and skip goes; failures and the run without a record never do.
        let none = Set(RunRetention.toRemove(entries, keepPasses: 0).map(\.name))
        #expect(none == Set(entries.filter { $0.passed || $0.record?.verdict.kind == .skipped }.map(\.name)))
        #expect(entries.filter { $0.failed || $0.record == nil }.allSatisfy { !none.contains($0.name) })
        // What `latest` points to is kept, and counts as one of the kept.
        let protected = RunRetention.toRemove(entries, keepPasses: 1, protected: ["20261206-070654-kvm-aaaaa4"]).map(\.name)
        #expect(protected == ["20261206-070656-kvm-aaaaa6", "20261206-070652-kvm-aaaaa2", "20261206-070650-tiny-aaaaa0"])
    }

    @Test("the table says running and incomplete for directories without a record, with '-' for their time")
    func table() {
        let rows = RunListing.table([
            Self.entry("20261206-070659-kvm-aaaaa9", .pass, startedAt: "2026-12-06T07:06:59.123Z"),
            RunEntry(name: "20261206-070658-tiny-aaaaa8", path: "/s/runs/20261206-070658-tiny-aaaaa8", status: .running(pid: 77)),
            RunEntry(name: "20261206-070657-uefi-aaaaa7", path: "/s/runs/20261206-070657-uefi-aaaaa7", status: .incomplete("no result.json")),
        ]).split(separator: "\n").map(String.init)
        #expect(rows.count == 4)
        #expect(rows[0].hasPrefix("STARTED"))
        #expect(rows[1].contains("2026-12-06 07:06:59  kvm ") && rows[1].contains(" pass ") && rows[1].contains("1.500s") && rows[1].hasSuffix("/s/runs/20261206-070659-kvm-aaaaa9"))
        #expect(rows[2].contains(" tiny ") && rows[2].contains("running (pid 77)") && rows[2].contains(" - "))
        #expect(rows[3].contains(" uefi ") && rows[3].contains("incomplete") && !rows[3].contains("pass"))
    }

    @Test("host test counts are read from the summaries of the usual runners, summed; anything else gives no count", arguments: [
        ("Test Suite 'All tests' passed at 2026-12-06 07:00:00.000.\n\t Executed 0 tests, with 0 failures (0 unexpected) in 0.0 (0.0) seconds\n"
         + "✔ Test run with 62 tests in 10 suites passed after 0.031 seconds.\n", 62),
        ("\t Executed 3 tests, with 0 failures (0 unexpected) in 0.1 (0.1) seconds\n\t Executed 12 tests, with 0 failures (0 unexpected) in 0.2 (0.2) seconds\n", 12),
        ("✔ Test run with 1 test passed after 0.001 seconds.\r\n", 1),
        ("test result: ok. 5 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s\n"
         + "test result: ok. 7 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s\n", 12),
        ("100% tests passed, 0 tests failed out of 9\n", 9),
        ("All tests successful.\nFiles=3, Tests=42,  0 wallclock secs\nResult: PASS\n", 42),
        ("============================== 17 passed, 2 skipped in 0.31s ==============================\n", 17),
    ])
    func hostTestCounts(output: String, count: Int) {
        #expect(HostTestCount.passed(in: output) == count)
    }

    @Test("output without a recognised summary gives no count, not zero")
    func noHostTestCount() {
        #expect(HostTestCount.passed(in: "") == nil)
        #expect(HostTestCount.passed(in: "ok  \texample.com/pkg\t0.012s\nall good: 62 tests\n") == nil)
        // A failure summary is not a pass count.
        #expect(HostTestCount.passed(in: "\t Executed 5 tests, with 1 failure (0 unexpected) in 0.1 (0.1) seconds\n") == nil)
    }
}
