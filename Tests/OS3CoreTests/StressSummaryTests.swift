import Testing
import Foundation
@testable import OS3Core

@Suite("Stress summaries and reports")
struct StressSummaryTests {
    static func run(_ i: Int, _ kind: VerdictKind, loaded: Bool = true, duration: Double = 0.1, missing: [String] = []) -> StressRun {
        let hits = [MarkerHit(id: "boot", time: duration / 2, line: 2, text: "boot")]
        let record = RunRecord(lane: "kvm", laneFile: "lanes/kvm.toml", kernel: "k", argv: [], kernelCommandLine: "", runDirectory: "/r/\(i)",
                               serialLog: "/r/\(i)/serial.log", startedAt: "", duration: duration,
                               verdict: Verdict(kind: kind, detail: "\(kind.rawValue) <detail>", missing: missing),
                               end: .exited(33), markers: hits, requiredCount: 2, consoleBytes: 10)
        return StressRun(index: i, seed: UInt64(1000 + i), offset: Double(i) * 0.2, underLoad: loaded, host: "qemu",
                         record: record, replay: "os3ctl boot --lane kvm --append os3.seed=\(1000 + i)")
    }

    static let runs: [StressRun] = (0..<16).map { i in
        switch i {
        case 3: run(i, .missingMarkers, missing: ["done"])
        case 7: run(i, .forbiddenMarker, duration: 0.05)
        case 11: run(i, .infraError)
        default: run(i, .pass, duration: 0.1 + Double(i) / 100)
        }
    } + (0..<16).map { run(100 + $0, .pass, loaded: false) }

    @Test("failures are counted by verdict and missing marker; infrastructure errors are kept out of the rate")
    func counts() {
        let s = StressSummary.make(lane: "kvm", runs: Self.runs, baselineRate: 0.2, alternative: .less, sequential: nil, targetRate: 0.05)
        #expect(s.runs == 15)
        #expect(s.failures == 2)
        #expect(s.infraErrors == 1)
        #expect(s.byVerdict == ["missing-markers": 1, "forbidden-marker": 1, "infra-error": 1])
        #expect(s.byMissingMarker == ["done": 1])
        #expect(s.idle?.runs == 16)
        #expect(s.idle?.failures == 0)
        #expect(abs(s.baseline!.pValue - Stats.binomialCDF(2, 15, 0.2)) < 1e-12)
        #expect(s.runsForTarget == Stats.runsToBound(rate: 0.05, failures: 2))
        #expect(s.timeToVerdict?.count == 15)
        #expect(s.markerLatency["boot"]?.count == 15)
        #expect(s.slowest.first?.index == 15)
        #expect(s.runsByHost == ["qemu": 15])
        #expect(s.failuresByHost == ["qemu": 2])
    }

    @Test("the text summary states the interval, the replay of each failure, and the upper bound when nothing failed")
    func text() {
        let s = StressSummary.make(lane: "kvm", runs: Self.runs, baselineRate: nil, hogs: 2, sequential: nil, targetRate: 0.05)
        let t = s.text(runs: Self.runs, load: nil)
        #expect(t.contains("2 of 15 runs failed under load"))
        // After failures, the runs needed to bound the rate below 5% are not "59 passing runs".
        #expect(!t.contains("59"))
        #expect(t.contains("would take at least \(Stats.runsToBound(rate: 0.05, failures: 2)) runs in all with no more than 2 failure(s)"))
        #expect(t.contains("Fisher's exact test, two-sided: p = "))
        #expect(t.contains("no significant difference between the rates under load and idle at level 0.05"))
        #expect(!t.contains("load makes a difference"))
        // With no hogs nothing ran "under load".
        let unloaded = StressSummary.make(lane: "kvm", runs: Self.runs, baselineRate: nil, hogs: 0, sequential: nil, targetRate: 0.05)
        #expect(unloaded.text(runs: Self.runs, load: nil).contains("2 of 15 runs failed (rate"))
        #expect(!unloaded.text(runs: Self.runs, load: nil).split(separator: "\n")[0].contains("under load"))
        #expect(t.contains("replay: os3ctl boot --lane kvm --append os3.seed=1003"))
        #expect(t.contains("infrastructure errors"))
        // One-sided (less): 13 clean runs are not evidence that the rate is below 1 in 5 (0.8^13 = 0.055); 16 are (0.8^16 = 0.028).
        let thirteen = (0..<13).map { Self.run($0, .pass) }
        let t13 = StressSummary.make(lane: "kvm", runs: thirteen, baselineRate: 0.2, alternative: .less, sequential: nil, targetRate: 0.05).text(runs: thirteen, load: nil)
        #expect(t13.contains("0 of 13 runs failed"))
        #expect(t13.contains("the rate is below 20.6% with 95% confidence"))
        #expect(t13.contains("exact binomial test, one-sided (H1: rate < 20.0%), level 0.05, 0 of 13 failed: not evidence against a rate of 20.0% at this level (p = 0.0550 > 0.05)"))
        let sixteen = (0..<16).map { Self.run($0, .pass) }
        let t16 = StressSummary.make(lane: "kvm", runs: sixteen, baselineRate: 0.2, alternative: .less, sequential: nil, targetRate: 0.05).text(runs: sixteen, load: nil)
        #expect(t16.contains("the rate is below 17.1% with 95% confidence"))
        #expect(t16.contains("takes 59 runs with no failure at all (this experiment: 16)"))
        #expect(t16.contains("evidence that the rate is below 20.0% (p = 0.0281 ≤ 0.05)"))
        // The same 16/16, two-sided (the default): p = 0.0548, not significant at 5%.
        let two = StressSummary.make(lane: "kvm", runs: sixteen, baselineRate: 0.2, sequential: nil, targetRate: 0.05).text(runs: sixteen, load: nil)
        #expect(two.contains("two-sided (H1: rate ≠ 20.0%), level 0.05, 0 of 16 failed: not evidence against a rate of 20.0% at this level (p = 0.0548 > 0.05)"))
        #expect(!two.contains("refutes"))
    }

    static func context(_ title: String = "t", trace: HostTrace? = nil) -> HTMLReport.Context {
        HTMLReport.Context(title: title, lane: "kvm", kernel: "/k/os3.elf", baseSeed: 2026, hostTrace: trace, consoleTails: [3: "os3: boot <ok>\nos3: last line"])
    }

    @Test("the HTML report is one self-contained page with every chart, one bar per run, escaped text and each verdict's colour defined once")
    func html() {
        let s = StressSummary.make(lane: "kvm", runs: Self.runs, baselineRate: nil, hogs: 2, sequential: nil, targetRate: 0.05)
        let trace = HostTrace(cores: 2, interval: 0.4, samples: [HostSample(t: 0, loadAverage: 0.5, cpuBusy: nil), HostSample(t: 0.4, loadAverage: 1.5, cpuBusy: 0.9)],
                              loadSpans: [TimeSpan(start: 0, end: 3)])
        let page = HTMLReport.render(summary: s, runs: Self.runs, load: nil, context: Self.context("stress <kvm>", trace: trace))
        #expect(page.hasPrefix("<!DOCTYPE html>"))
        #expect(page.contains("<title>stress &lt;kvm&gt;</title>"))
        for id in ["chart-timeline", "chart-hostload", "chart-markers", "chart-gaps", "chart-compare", "chart-verdict-times"] {
            #expect(page.contains("<svg id=\"\(id)\" class=\"chart\""), "\(id)")
        }
        #expect(page.components(separatedBy: "<rect class=\"run ").count - 1 == Self.runs.count)
        #expect(page.components(separatedBy: "<rect class=\"run v-pass passed idle\"").count - 1 == 16)
        #expect(!page.contains("<script"))
        #expect(!page.contains("src=") && !page.contains("href=\"http"))
        #expect(page.contains("&lt;detail&gt;"))
        #expect(!page.contains("<detail>"))
        // One rule per verdict colour; nothing else on the page names a verdict's colour.
        for k in VerdictKind.allCases {
            #expect(page.components(separatedBy: "svg .v-\(k.rawValue){").count - 1 == 1, "\(k)")
        }
        #expect(page.contains("<p id=\"headline\" class=\"bad\">Flaky under load: 2 of 15 runs failed"))
        #expect(page.contains("two-sided 95% exact interval"))
        // Failure groups: missing 'done', forbidden, infra-error; the example's console tail is escaped.
        #expect(page.components(separatedBy: "<div class=\"failure-group\"").count - 1 == 3)
        #expect(page.contains("<pre class=\"console\">os3: boot &lt;ok&gt;\nos3: last line</pre>"))
        #expect(page.contains("href=\"file:///r/3/serial.log\""))
        #expect(page.contains("<code class=\"replay\">os3ctl boot --lane kvm --append os3.seed=1003</code>"))
    }

    @Test("the HTML headline keeps the one-sided zero-failure bound apart from the two-sided interval, and says which is which")
    func htmlBound() {
        let clean = (0..<16).map { Self.run($0, .pass) }
        let s = StressSummary.make(lane: "kvm", runs: clean, baselineRate: nil, hogs: 0, sequential: nil, targetRate: 0.05)
        let page = HTMLReport.render(summary: s, runs: clean, load: nil, context: Self.context())
        let headline = page.components(separatedBy: "<p id=\"headline\"")[1].components(separatedBy: "</p>")[0]
        #expect(headline.contains("No failure in 16 runs: the failure rate is below 17.1% (one-sided exact 95% upper bound; two-sided 95% exact interval 0.0%–20.6%)"))
        #expect(!headline.contains("under load"))
        #expect(page.contains("<p id=\"no-failures\">No run failed.</p>"))
        #expect(!page.contains("id=\"sec-compare\""))
        // Without idle runs every chart but the comparison is still there, time to verdict in one row.
        for id in ["chart-timeline", "chart-hostload", "chart-verdict-times", "chart-markers", "chart-gaps"] { #expect(page.contains("<svg id=\"\(id)\""), "\(id)") }
        #expect(page.contains(">all runs</text>"))
        #expect(page.contains("No test was asked for"))
        #expect(page.contains("No synthetic load (--hog 0)"))
        #expect(page.contains("The host's load was not sampled in this record."))
    }

    @Test("the sequential line states α, β, the runs in run order, runs left out after the decision, and that the intervals are approximate")
    func sequentialText() {
        var t = RunOrderSequentialTest(SPRT(p0: 0.01, p1: 0.2, alpha: 0.01, beta: 0.1), cap: 50)
        // Run 1 finishes first, then 0 and 2.. — 14 passes in run order decide nothing yet at α 0.01, β 0.1.
        t.add(index: 1, .passed)
        var i = 0
        while t.decision == .undecided { if i != 1 { t.add(index: i, .passed) }; i += 1 }
        t.add(index: i, .passed) // in flight when the test decided
        let clean = (0...i).map { Self.run($0, .pass) }
        let s = StressSummary.make(lane: "kvm", runs: clean, baselineRate: nil, sequential: .init(t), targetRate: 0.05)
        let text = s.text(runs: clean, load: nil)
        #expect(text.contains("H0 rate ≤ 1.0% vs H1 rate ≥ 20.0%, α 0.01, β 0.1): decided rate<=p0 after \(t.test.runs) runs"))
        #expect(t.test.runs == Int((log(0.1 / 0.99) / log(0.8 / 0.99)).rounded(.up)))
        #expect(text.contains("1 run(s) finished after the decision: counted in the rate, not in the test"))
        #expect(text.contains("the intervals above (fixed-sample) are approximate"))
    }

    @Test("with a pool of hosts each host's rate is reported and the exact test says whether they share one rate")
    func hosts() {
        func on(_ host: String, _ runs: [StressRun]) -> [StressRun] { runs.map { var r = $0; r.host = host; return r } }
        let a = on("qemu+ssh://a/system", (0..<20).map { Self.run($0, $0 < 8 ? .missingMarkers : .pass) })
        let b = on("qemu+ssh://b/system", (20..<40).map { Self.run($0, .pass) })
        let s = StressSummary.make(lane: "kvm", runs: a + b, baselineRate: nil, sequential: nil, targetRate: 0.05)
        #expect(s.hostsEqualRateP == Stats.fisherExact(8, 12, 0, 20))
        let text = s.text(runs: a + b, load: nil)
        #expect(text.contains("qemu+ssh://a/system 8/20 failed (40.0%, 95% exact"))
        #expect(text.contains("qemu+ssh://b/system 0/20 failed (0.0%"))
        #expect(text.contains("the hosts' rates differ: the pooled rate above mixes them"))
        let agree = StressSummary.make(lane: "kvm", runs: on("x", Array(Self.runs.prefix(8))) + on("y", Array(Self.runs.dropFirst(8).prefix(8))),
                                       baselineRate: nil, sequential: nil, targetRate: 0.05)
        #expect(agree.text(runs: [], load: nil).contains("no significant difference between hosts"))
        #expect(StressSummary.make(lane: "kvm", runs: Self.runs, baselineRate: nil, sequential: nil, targetRate: 0.05).hostsEqualRateP == nil)
    }
}
