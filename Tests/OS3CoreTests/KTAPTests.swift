import Testing
@testable import OS3Core

@Suite("KTAP")
struct KTAPTests {
    /// What KUnit prints for a suite with one skip and one failure (Linux 6.x, printk times on).
    static let kunit = """
    [    0.512345] KTAP version 1
    [    0.512350] 1..2
    [    0.512400]     KTAP version 1
    [    0.512410]     # Subtest: example
    [    0.512420]     # module: example
    [    0.512430]     1..3
    [    0.512440]     # example_simple_test: initializing
    [    0.512450]     ok 1 example_simple_test
    [    0.512460]     ok 2 example_skip_test # SKIP this test should be skipped
    [    0.512470]     not ok 3 example_mark_skipped_test
    [    0.512480] # example: pass:1 fail:1 skip:1 total:3
    [    0.512490] not ok 1 example
    [    0.512500] ok 2 other # SKIP not built
    """

    @Test("every planned result present and none not ok: no shortfall")
    func allPass() {
        let r = KTAPReport.parse("KTAP version 1\n1..3\nok 1 a\nok 2 - b\nok 3 c # SKIP no hardware\n")
        #expect(r.plan == 3)
        #expect(r.results.map(\.name) == ["a", "b", "c"])
        #expect(r.results.map(\.status) == [.ok, .ok, .skip])
        #expect(r.results[2].directive == "no hardware")
        #expect(r.shortfall == nil)
    }

    @Test("a not ok without a directive fails and names the test and its line")
    func notOkFails() {
        let r = KTAPReport.parse("KTAP version 1\n1..2\nok 1 a\nnot ok 2 b\n")
        #expect(r.failures.map(\.name) == ["b"])
        #expect(r.shortfall == "1 KTAP result not ok, first 'b' at console line 4")
    }

    @Test("not ok with SKIP or TODO does not fail")
    func directivesExcuse() {
        let r = KTAPReport.parse("TAP version 13\n1..2\nnot ok 1 a # SKIP why\nnot ok 2 b # TODO later\n")
        #expect(r.results.map(\.status) == [.skip, .todo])
        #expect(r.shortfall == nil)
    }

    @Test("results the plan promised but the console never showed fail like missing markers")
    func missingResults() {
        let r = KTAPReport.parse("KTAP version 1\n1..4\nok 1 a\nok 2 b\n")
        #expect(r.missing == [3, 4])
        #expect(r.shortfall == "2 of 4 planned KTAP results missing (3, 4)")
    }

    @Test("no header or no plan is a shortfall, never a pass")
    func noPlan() {
        #expect(KTAPReport.parse("ok 1 a\n").shortfall?.hasPrefix("no KTAP output") == true)
        #expect(KTAPReport.parse("KTAP version 1\nok 1 a\n").shortfall?.hasPrefix("no KTAP plan line") == true)
    }

    @Test("KUnit nesting: subtests get dotted paths, printk timestamps are ignored")
    func kunitNesting() {
        let r = KTAPReport.parse(Self.kunit)
        #expect(r.plan == 2)
        #expect(r.results.map(\.path) == ["example.example_simple_test", "example.example_skip_test",
                                          "example.example_mark_skipped_test", "example", "other"])
        #expect(r.results.map(\.depth) == [1, 1, 1, 0, 0])
        #expect(r.failures.map(\.path) == ["example.example_mark_skipped_test", "example"])
        #expect(r.missing.isEmpty)
    }

    @Test("console noise between results does not count; a crash mid-suite leaves results missing")
    func crashMidSuite() {
        let text = """
        KTAP version 1
        1..3
        ok 1 first
        random kernel message: ok 2 is not at the start of the line
        [    1.000000] BUG: kernel NULL pointer dereference
        """
        let r = KTAPReport.parse(text)
        #expect(r.results.count == 1)
        #expect(r.missing == [2, 3])
    }

    @Test("results out of order are noted as problems; a huge plan does not allocate its size")
    func oddInput() {
        let r = KTAPReport.parse("KTAP version 1\n1..999999999\nok 2 b\n")
        #expect(r.problems == ["line 3: result 2 follows 0"])
        #expect(r.plan == 999_999_999)
        #expect(r.missingCount == 999_999_998)
        #expect(r.missing.count == 1000)
        #expect(r.shortfall?.hasPrefix("999999998 of 999999999 planned KTAP results missing (1, 3, 4, 5, 6, …)") == true)
    }
}
