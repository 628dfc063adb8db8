/// The stress report: one self-contained page (inline CSS and SVG — no script, no network) that
/// answers, in order: what did the experiment find (headline), when did runs fail and what was the
/// host doing (timeline over the host's load), where does a boot's time go (every marker on one
/// axis), what do the failures look like (grouped by signature, with logs and replays) and what did
/// load change (load versus idle). Every colour means one verdict on the whole page (VerdictColors).
public enum HTMLReport {
    /// What the page needs besides the statistics: all of it from the experiment's records.
    public struct Context: Sendable {
        public var title: String
        public var lane: String
        public var kernel: String
        public var baseSeed: UInt64
        public var hostTrace: HostTrace?
        /// The last console lines of a run, by run index (one per failure group is enough).
        public var consoleTails: [Int: String]

        public init(title: String, lane: String, kernel: String, baseSeed: UInt64, hostTrace: HostTrace?, consoleTails: [Int: String] = [:]) {
            self.title = title
            self.lane = lane
            self.kernel = kernel
            self.baseSeed = baseSeed
            self.hostTrace = hostTrace
            self.consoleTails = consoleTails
        }
    }

    /// Width of every chart's drawing, in CSS pixels at 100% (the page is readable at 1280 px).
    static let width = 1160.0
    /// Left and right margins shared by the timeline and the host-load chart, so their x axes align.
    static let timeLeft = 78.0, timeRight = 64.0

    public static func render(summary s: StressSummary, runs: [StressRun], load: LoadRecord?, context c: Context) -> String {
        let kinds = Set(runs.map(\.record.verdict.kind))
        var h = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(esc(c.title))</title>
        <style>
        \(css)
        \(VerdictColors.css)
        </style></head><body>
        <h1 id="title">\(esc(c.title))</h1>
        <p id="headline" class="\(s.runs == 0 ? "none" : s.failures == 0 ? "ok" : "bad")">\(esc(headline(s)))</p>
        <ul id="facts">
        """
        for t in tests(s) { h += "<li class=\"test\">\(esc(t))</li>\n" }
        h += "<li id=\"load-achieved\">\(esc(loadSentence(load, trace: c.hostTrace)))</li>\n"
        h += "<li id=\"identity\">kernel <code>\(esc(c.kernel))</code> · lane <b>\(esc(c.lane))</b> · base seed <code>\(c.baseSeed)</code> · "
        h += "\(runs.filter(\.underLoad).count) run(s)\(s.hogs > 0 ? " under load" : "")\(runs.contains { !$0.underLoad } ? ", \(runs.filter { !$0.underLoad }.count) idle" : "")</li>\n"
        h += "</ul>\n"
        h += "<p class=\"legend-line\">Colours, on the whole page: " + VerdictColors.legend(kinds.union([.pass])) + "</p>\n"

        h += "<section id=\"sec-timeline\"><h2>Timeline of runs, over the host's load</h2>\n"
        h += "<p class=\"note\">Each run is a bar from its start to its verdict on the experiment's clock\(runs.contains { !$0.underLoad } ? " (thin bars: idle runs of --compare-idle)" : ""). Below, on the same clock: the share of all CPU cores busy and the 1-minute load average, sampled while the experiment ran; shaded: the synthetic load was on.</p>\n"
        let end = max(runs.map { $0.offset + $0.record.duration }.max() ?? 0, c.hostTrace?.samples.last?.t ?? 0)
        let clock = SVGChart.ticks(0, max(end, 0.001), count: 10)
        h += timeline(runs, clock: clock, spans: c.hostTrace?.loadSpans ?? [])
        h += hostLoad(c.hostTrace, clock: clock)
        h += "</section>\n"

        h += "<section id=\"sec-markers\"><h2>Where the time goes</h2>\n"
        h += "<p class=\"note\">First the time from each boot's start to its verdict; then every marker on one axis, in the order the boot prints them; one dot per run, coloured by its verdict\(runs.contains { !$0.underLoad } ? "; each marker has a row for the runs under load and one for the idle runs" : ""). The black bar is the median; dots at the left end of the log axis are at or below its first tick. The second chart shows the time since the previous marker of the same run: the phase that stretches stands out.</p>\n"
        h += verdictTimes(runs)
        h += markerStrips(runs, gaps: false)
        h += markerStrips(runs, gaps: true)
        h += "</section>\n"

        h += "<section id=\"sec-failures\"><h2>Failures, grouped by signature</h2>\n"
        h += failureGroups(runs, tails: c.consoleTails)
        h += "</section>\n"

        if let idle = s.idle {
            h += "<section id=\"sec-compare\"><h2>Under load versus idle</h2>\n"
            h += compare(s, idle: idle, runs: runs)
            h += "</section>\n"
        }

        h += "<section id=\"sec-runs\"><h2>Runs</h2>\n<table id=\"runs\"><tr><th>#</th><th>load</th><th>start (s)</th><th>seed</th><th>verdict</th><th>time</th><th>markers</th><th>detail</th></tr>\n"
        for r in runs.sorted(by: { $0.index < $1.index }) {
            let k = r.record.verdict.kind
            h += "<tr><td>\(r.index)</td><td>\(r.underLoad ? "load" : "idle")</td><td>\(fixed(r.offset, 2))</td><td>\(r.seed)</td>"
            h += "<td class=\"\(VerdictColors.cssClass(k))\">\(k.rawValue)</td><td>\(Reports.seconds(r.record.duration))</td>"
            h += "<td>\(r.record.seenCount)/\(r.record.requiredCount)</td><td>\(esc(r.failed ? r.record.verdict.detail : ""))</td></tr>\n"
        }
        h += "</table></section>\n"
        h += "<details id=\"text-summary\"><summary>The text summary (as printed)</summary><pre>\(esc(s.text(runs: runs, load: load)))</pre></details>\n"
        h += "</body></html>\n"
        return h
    }

    static let css = """
    body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:20px auto;padding:0 16px;color:#1d1d1d;max-width:1200px}
    h1{font-size:21px;margin:0 0 6px} h2{font-size:17px;margin:30px 0 6px;border-bottom:1px solid #ddd;padding-bottom:3px}
    #headline{font-size:18px;font-weight:600;margin:6px 0;padding:8px 12px;border-left:6px solid #2e8540;background:#f3f8f4}
    #headline.bad{border-left-color:#d62728;background:#fdf3f3} #headline.none{border-left-color:#7f7f7f;background:#f4f4f4}
    #facts{margin:6px 0 4px;padding-left:20px} #facts li{margin:2px 0}
    .note{color:#444;font-size:13px;margin:4px 0 8px}
    .legend{display:inline} .key{margin-right:12px;white-space:nowrap}
    .sw{display:inline-block;width:11px;height:11px;margin-right:4px;vertical-align:-1px;border-radius:2px}
    .chart{display:block;margin:6px 0 10px;background:#fff}
    .chart text{font:11px system-ui,sans-serif;fill:#333} .chart .axis-title{font-size:12px;fill:#111}
    .chart .row-label{font-size:11px;fill:#222} .chart .annot{font-size:11px;fill:#444} .chart .annot.stretch{fill:#b00;font-weight:700}
    .chart .grid{stroke:#e8e8e8} .chart .tick,.chart .domain{stroke:#666} .chart .band{fill:#f6f6f6}
    .chart .load-span{fill:#fff1c9} .chart .cpu-area{fill:#6baed6;stroke:none;fill-opacity:.45} .chart .cpu-line{fill:none;stroke:#3182bd;stroke-width:1.2}
    .chart .loadavg-line{fill:none;stroke:#111;stroke-width:1.6} .chart .median{stroke:#111;stroke-width:2}
    .chart .dot{fill-opacity:.75;stroke-width:.6;stroke:#fff} .chart .dot.failed{fill-opacity:1;stroke:#000}
    .chart .whisker{stroke:#111;stroke-width:2} .chart .rate-dot{fill:#111} .chart .run.idle{fill-opacity:.9}
    .failure-group{border:1px solid #ddd;border-left-width:6px;padding:8px 12px;margin:10px 0;break-inside:avoid}
    .failure-group h3{font-size:14px;margin:0 0 4px} .failure-group .seeds{font-size:12px;word-break:break-all}
    pre{background:#f6f6f6;padding:8px 10px;font-size:12px;white-space:pre-wrap;overflow-wrap:anywhere;margin:6px 0}
    code{font-size:12px;overflow-wrap:anywhere}
    table{border-collapse:collapse;font-size:12px;width:100%} td,th{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}
    .compare{display:flex;gap:24px;flex-wrap:wrap} .compare .arm{flex:1;min-width:300px;border:1px solid #ddd;padding:8px 12px}
    .compare .rate{font-size:20px;font-weight:600}
    @page{size:A4 landscape;margin:10mm}
    @media print{body{max-width:none;margin:0;padding:0;font-size:11px} section{break-inside:avoid-page} h2{break-after:avoid}
    .chart{break-inside:avoid} #runs{font-size:9px} a{color:inherit;text-decoration:none}}
    """

    static func esc(_ s: String) -> String { Reports.xml(s) }
    static func pct(_ x: Double) -> String { fixed(x * 100, 1) + "%" }

    // MARK: headline

    /// The experiment's verdict in one sentence, with its interval.
    public static func headline(_ s: StressSummary) -> String {
        let under = s.hogs > 0 ? " under load" : ""
        if s.runs == 0 {
            return "Nothing measured: no run reached a kernel verdict (\(s.infraErrors) infrastructure error(s))."
        }
        if s.failures == 0 {
            return "No failure in \(s.runs) runs\(under): the failure rate is below \(pct(s.upperBound)) (one-sided exact 95% upper bound; two-sided 95% exact interval \(pct(s.clopperPearson.lower))–\(pct(s.clopperPearson.upper)))."
        }
        return "Flaky\(under): \(s.failures) of \(s.runs) runs failed, rate \(pct(s.failureRate)) (two-sided 95% exact interval \(pct(s.clopperPearson.lower))–\(pct(s.clopperPearson.upper)))."
    }

    /// The tests that ran, each as the sentence of the statistics (StressSummary.text's wording).
    public static func tests(_ s: StressSummary) -> [String] {
        var out: [String] = []
        if let q = s.sequential {
            let head = "Sequential test (Wald's SPRT in run order, H0 rate ≤ \(pct(q.p0)) vs H1 rate ≥ \(pct(q.p1)), α \(fixedTrim(q.alpha)), β \(fixedTrim(q.beta)))"
            out.append(q.decision == .undecided ? head + ": undecided after \(q.runs) runs (cap \(q.cap))."
                       : head + ": decided \(q.decision.rawValue) after \(q.runs) runs (\(q.failures) failed); the intervals are approximate after an early stop.")
        }
        if let b = s.baseline { out.append(b.sentence.prefix(1).uppercased() + b.sentence.dropFirst() + ".") }
        if let i = s.idle {
            out.append("Idle comparison: \(i.failures) of \(i.runs) failed without load; Fisher's exact test, two-sided, level \(fixedTrim(s.alpha)): p = \(format4(i.fisherP)) — "
                       + (i.fisherP <= s.alpha ? "the failure rates under load and idle differ." : "no significant difference (which does not show the rates are equal)."))
        }
        if out.isEmpty {
            out.append("No test was asked for (--baseline, --compare-idle or --until-confident): the interval is the result.")
        }
        if s.infraErrors > 0 { out.append("\(s.infraErrors) run(s) ended in infrastructure errors and are left out of the rate.") }
        return out
    }

    /// What the load achieved, from the load record and the sampled host.
    public static func loadSentence(_ l: LoadRecord?, trace: HostTrace?) -> String {
        var parts: [String] = []
        if let l {
            parts.append("Load achieved: \(l.hogs) × \(l.recipe), \(fixed(l.busyCores, 1)) of \(l.cores) cores kept busy by the load; load average \(fixed(l.loadAverageBefore, 1)) → \(fixed(l.loadAverageAfter, 1))")
        } else {
            parts.append("No synthetic load (--hog 0)")
        }
        if let t = trace, let cpu = Stats.spread(t.samples.compactMap(\.cpuBusy)), let la = Stats.spread(t.samples.map(\.loadAverage)) {
            parts.append("host sampled \(t.samples.count) times: CPU busy median \(fixed(cpu.median * 100, 0))% (max \(fixed(cpu.max * 100, 0))%), load average up to \(fixed(la.max, 1))")
        }
        return parts.joined(separator: "; ") + "."
    }

    // MARK: timeline and host load

    static func timeline(_ runs: [StressRun], clock: SVGChart.Ticks, spans: [TimeSpan]) -> String {
        let ordered = runs.sorted { ($0.offset, $0.index) < ($1.offset, $1.index) }
        let rowH = max(4, min(14, 420 / Double(max(ordered.count, 1))))
        let top = 8.0, plotH = rowH * Double(ordered.count), height = top + plotH + 44
        let x = SVGChart.Scale(clock, range: (timeLeft, width - timeRight))
        var svg = SVGChart.open(id: "chart-timeline", width: width, height: height, label: "timeline of \(runs.count) runs on the experiment's clock")
        for span in spans {
            svg += "<rect class=\"load-span\" x=\"\(fixed(x(span.start), 1))\" y=\"\(fixed(top, 1))\" width=\"\(fixed(max(1, x(span.end) - x(span.start)), 1))\" height=\"\(fixed(plotH, 1))\"/>\n"
        }
        svg += SVGChart.xAxis(clock, x, y: top + plotH, gridTop: top, title: "time since the experiment started (s)")
        let labelEvery = rowH >= 10 ? 1 : Int((10 / rowH).rounded(.up))
        for (row, r) in ordered.enumerated() {
            let y = top + Double(row) * rowH
            let k = r.record.verdict.kind
            if row % labelEvery == 0 {
                svg += "<text class=\"row-label\" x=\"\(fixed(timeLeft - 6, 1))\" y=\"\(fixed(y + rowH * 0.8, 1))\" text-anchor=\"end\" font-size=\"\(fixed(min(11, rowH), 0))\">#\(r.index)\(r.underLoad ? "" : " idle")</text>"
            }
            let h = r.underLoad ? rowH * 0.8 : rowH * 0.4
            let yy = y + (rowH - h) / 2
            svg += "<rect class=\"run \(VerdictColors.cssClass(k)) \(r.failed ? "failed" : "passed")\(r.underLoad ? "" : " idle")\" x=\"\(fixed(x(r.offset), 1))\" y=\"\(fixed(yy, 1))\" width=\"\(fixed(max(2, x(r.offset + r.record.duration) - x(r.offset)), 1))\" height=\"\(fixed(h, 1))\"><title>#\(r.index)\(r.underLoad ? "" : " (idle)") \(k.rawValue) after \(Reports.seconds(r.record.duration)), started at \(fixed(r.offset, 2)) s, seed \(r.seed)</title></rect>\n"
        }
        return svg + "</svg>\n"
    }

    static func hostLoad(_ trace: HostTrace?, clock: SVGChart.Ticks) -> String {
        let top = 10.0, plotH = 130.0, height = top + plotH + 66
        let x = SVGChart.Scale(clock, range: (timeLeft, width - timeRight))
        var svg = SVGChart.open(id: "chart-hostload", width: width, height: height, label: "host CPU busy and load average on the experiment's clock")
        guard let trace, !trace.samples.isEmpty else {
            svg += "<text x=\"\(timeLeft)\" y=\"40\">The host's load was not sampled in this record.</text>\n"
            return svg + "</svg>\n"
        }
        let cpuTicks = SVGChart.Ticks(values: [0, 25, 50, 75, 100], step: 25, decimals: 0)
        let yc = SVGChart.Scale(cpuTicks, range: (top + plotH, top))
        let laTicks = SVGChart.ticks(0, max(Double(trace.cores), trace.samples.map(\.loadAverage).max() ?? 1), count: 4)
        let yl = SVGChart.Scale(laTicks, range: (top + plotH, top))
        for span in trace.loadSpans {
            svg += "<rect class=\"load-span\" x=\"\(fixed(x(span.start), 1))\" y=\"\(fixed(top, 1))\" width=\"\(fixed(max(1, x(span.end) - x(span.start)), 1))\" height=\"\(fixed(plotH, 1))\"/>\n"
        }
        svg += SVGChart.yAxis(cpuTicks, yc, x: timeLeft, gridEnd: width - timeRight, title: "CPU busy (%)")
        svg += SVGChart.yAxis(laTicks, yl, x: width - timeRight, gridEnd: nil, title: "load average", right: true)
        svg += SVGChart.xAxis(clock, x, y: top + plotH, gridTop: top + plotH, title: "time since the experiment started (s)")
        // CPU busy as a step area: each sample's value holds since the previous sample.
        var prevT = trace.samples.first!.t
        var path = "", line = ""
        for s in trace.samples {
            guard let busy = s.cpuBusy else { prevT = s.t; continue }
            let y = fixed(yc(busy * 100), 1)
            if path.isEmpty { path = "M\(fixed(x(prevT), 1)) \(fixed(yc(0), 1)) "; line = "M\(fixed(x(prevT), 1)) \(y) " }
            path += "L\(fixed(x(prevT), 1)) \(y) L\(fixed(x(s.t), 1)) \(y) "
            line += "L\(fixed(x(prevT), 1)) \(y) L\(fixed(x(s.t), 1)) \(y) "
            prevT = s.t
        }
        if !path.isEmpty {
            path += "L\(fixed(x(prevT), 1)) \(fixed(yc(0), 1)) Z"
            svg += "<path class=\"cpu-area\" d=\"\(path)\"/><path class=\"cpu-line\" d=\"\(line)\"/>\n"
        }
        let points = trace.samples.map { "\(fixed(x($0.t), 1)),\(fixed(yl($0.loadAverage), 1))" }.joined(separator: " ")
        svg += "<polyline class=\"loadavg-line\" points=\"\(points)\"/>\n"
        let ly = top + plotH + 52
        svg += "<rect class=\"cpu-area\" x=\"\(timeLeft)\" y=\"\(fixed(ly - 9, 1))\" width=\"14\" height=\"10\"/><text x=\"\(timeLeft + 18)\" y=\"\(fixed(ly, 1))\">CPU busy, all \(trace.cores) cores (left axis)</text>"
        svg += "<line class=\"loadavg-line\" x1=\"\(timeLeft + 230)\" y1=\"\(fixed(ly - 4, 1))\" x2=\"\(timeLeft + 250)\" y2=\"\(fixed(ly - 4, 1))\"/><text x=\"\(timeLeft + 254)\" y=\"\(fixed(ly, 1))\">1-minute load average (right axis)</text>"
        svg += "<rect class=\"load-span\" x=\"\(timeLeft + 470)\" y=\"\(fixed(ly - 9, 1))\" width=\"14\" height=\"10\" stroke=\"#d9c27a\"/><text x=\"\(timeLeft + 488)\" y=\"\(fixed(ly, 1))\">synthetic load on · one sample every \(fixed(trace.interval, 2)) s</text>\n"
        return svg + "</svg>\n"
    }

    // MARK: where the time goes

    /// One marker's times: from the boot's start, or since the previous marker of the same run.
    public static func markerTimes(_ run: StressRun, gaps: Bool) -> [String: Double] {
        var out: [String: Double] = [:]
        var previous = 0.0
        for hit in run.record.markers.sorted(by: { $0.time < $1.time }) {
            out[hit.id] = gaps ? hit.time - previous : hit.time
            previous = hit.time
        }
        return out
    }

    public static func markerOrder(_ runs: [StressRun]) -> [String] { MarkerOrder.of(runs) }

    static func markerStrips(_ runs: [StressRun], gaps: Bool) -> String {
        let judged = runs.filter { !$0.infra }
        let times = judged.map { ($0, markerTimes($0, gaps: gaps)) }
        let ids = markerOrder(judged)
        let id = gaps ? "chart-gaps" : "chart-markers"
        guard !ids.isEmpty else {
            return SVGChart.open(id: id, width: width, height: 40, label: "no marker was seen") + "<text x=\"10\" y=\"24\">No marker was seen in any run.</text></svg>\n"
        }
        let arms: [(name: String, underLoad: Bool)] = judged.contains { !$0.underLoad } ? [("load", true), ("idle", false)] : [("", true)]
        let subH = arms.count == 2 ? 13.0 : 18.0, bandH = subH * Double(arms.count) + 4
        let left = 200.0, right = 190.0, top = 8.0, plotH = bandH * Double(ids.count)
        let height = top + plotH + 46
        let maxT = times.flatMap { $0.1.values }.max() ?? 1
        let unit = SVGChart.TimeUnit.fitting(maxSeconds: maxT)
        // Gaps on a log axis: a phase of 2 ms that doubles moves as far as one of 200 ms that doubles.
        let smallest = max(0.1, (times.flatMap { $0.1.values }.filter { $0 > 0 }.min() ?? 0.001) * unit.factor)
        let ticks = gaps ? SVGChart.logTicks(smallest, maxT * unit.factor) : SVGChart.ticks(0, maxT * unit.factor, count: 10)
        let x: any SVGChart.AxisScale = gaps ? SVGChart.LogScale(ticks, range: (left, width - right)) : SVGChart.Scale(ticks, range: (left, width - right))
        let label = gaps ? "time since the previous marker of the same run, per marker" : "time from the boot's start to each marker"
        var svg = SVGChart.open(id: id, width: width, height: height, label: label)
        // The medians first, so the phase that stretches most under load can be marked.
        func median(_ m: String, _ underLoad: Bool) -> Double? {
            Stats.spread(times.filter { $0.0.underLoad == underLoad }.compactMap { $0.1[m] })?.median
        }
        let stretch: [String: Double] = arms.count == 2 ? ids.reduce(into: [:]) { d, m in
            // A ratio of two zero-length phases (markers on one line) says nothing.
            if let l = median(m, true), let i = median(m, false), i > 0, l > 0 { d[m] = l / i }
        } : [:]
        let most = stretch.max { $0.value < $1.value }.flatMap { $0.value >= 1.25 ? $0.key : nil }
        for row in ids.indices {
            let y0 = top + Double(row) * bandH
            if row % 2 == 0 { svg += "<rect class=\"band\" x=\"0\" y=\"\(fixed(y0, 1))\" width=\"\(Int(width))\" height=\"\(fixed(bandH, 1))\"/>" }
        }
        svg += SVGChart.xAxis(ticks, x, y: top + plotH, gridTop: top,
                              title: gaps ? "time since the previous marker of the same run (\(unit.name), log scale)" : "time since the boot started (\(unit.name))")
        for (row, m) in ids.enumerated() {
            let y0 = top + Double(row) * bandH + 2
            svg += "<text class=\"row-label\" x=\"\(fixed(left - (arms.count == 2 ? 30 : 8), 1))\" y=\"\(fixed(y0 + bandH / 2 + 2, 1))\" text-anchor=\"end\">\(gaps && row > 0 ? "→ " : "")\(esc(m))</text>"
            for (a, arm) in arms.enumerated() {
                let cy = y0 + subH * (Double(a) + 0.5)
                if !arm.name.isEmpty {
                    svg += "<text class=\"annot\" x=\"\(fixed(left - 4, 1))\" y=\"\(fixed(cy + 3, 1))\" text-anchor=\"end\" font-size=\"9\">\(arm.name)</text>"
                }
                // Passes first, failures on top of them.
                let points = times.filter { $0.0.underLoad == arm.underLoad }.sorted { !$0.0.failed && $1.0.failed }
                for (r, t) in points {
                    guard let v = t[m] else { continue }
                    let jitter = Double(Int(r.seed % 7) - 3) * subH / 14
                    svg += "<circle class=\"dot \(VerdictColors.cssClass(r.record.verdict.kind))\(r.failed ? " failed" : "")\" cx=\"\(fixed(x(v * unit.factor), 1))\" cy=\"\(fixed(cy + jitter, 1))\" r=\"\(r.failed ? "3.2" : "2.6")\"><title>#\(r.index)\(r.underLoad ? "" : " idle") \(esc(m)): \(fixed(v * unit.factor, unit.factor > 1 ? 1 : 3)) \(unit.name)</title></circle>"
                }
                if let med = median(m, arm.underLoad) {
                    let px = x(med * unit.factor)
                    svg += "<line class=\"median\" x1=\"\(fixed(px, 1))\" y1=\"\(fixed(cy - subH / 2 + 1, 1))\" x2=\"\(fixed(px, 1))\" y2=\"\(fixed(cy + subH / 2 - 1, 1))\"/>"
                }
                if !arm.name.isEmpty {
                    svg += "<text class=\"annot\" x=\"\(fixed(width - right + 8, 1))\" y=\"\(fixed(cy + 4, 1))\">\(arm.name)\(median(m, arm.underLoad).map { ": median \(fixed($0 * unit.factor, unit.factor > 1 ? 1 : 3)) \(unit.name)" } ?? "")</text>"
                }
            }
            if arms.count == 1, let med = median(m, true) {
                svg += "<text class=\"annot\" x=\"\(fixed(width - right + 8, 1))\" y=\"\(fixed(y0 + bandH / 2 + 2, 1))\">median \(fixed(med * unit.factor, unit.factor > 1 ? 1 : 3)) \(unit.name)</text>"
            }
            if let r = stretch[m], gaps {
                svg += "<text class=\"annot\(m == most ? " stretch" : "")\" x=\"\(fixed(width - 8, 1))\" y=\"\(fixed(y0 + bandH / 2 + 2, 1))\" text-anchor=\"end\">×\(fixed(r, 2))</text>"
            }
            svg += "\n"
        }
        if gaps && !stretch.isEmpty {
            svg += "<text class=\"annot\" x=\"\(fixed(width - 8, 1))\" y=\"\(fixed(top + plotH + 34, 1))\" text-anchor=\"end\">×: median under load / median idle</text>\n"
        }
        return svg + "</svg>\n"
    }

    // MARK: failures

    /// Groups shown in full (each with a console tail); the rest are counted, so a page of many
    /// distinct failures stays readable.
    public static let maxGroups = 30

    static func failureGroups(_ runs: [StressRun], tails: [Int: String]) -> String {
        let groups = FailureGroup.make(runs)
        guard !groups.isEmpty else { return "<p id=\"no-failures\">No run failed.</p>\n" }
        let failed = runs.filter(\.failed).count
        var h = "<p class=\"note\">\(failed) failed run(s) in \(groups.count) group(s) of the same verdict, the same first forbidden or missing marker and the same console line (digits ignored).</p>\n"
        for (n, g) in groups.prefix(maxGroups).enumerated() {
            let example = g.runs[0], k = g.signature.kind
            h += "<div class=\"failure-group\" id=\"group-\(n + 1)\" style=\"border-left-color:\(VerdictColors.color(k))\">\n"
            h += "<h3><span class=\"sw \(VerdictColors.cssClass(k))\"></span>\(k.rawValue)\(g.signature.marker.map { " · \(k == .forbiddenMarker ? "forbidden" : "first missing") marker <code>\(esc($0))</code>" } ?? "") — <span class=\"count\">\(g.runs.count) run(s)</span> (\(g.runs.filter { !$0.underLoad }.count) idle)</h3>\n"
            h += "<div class=\"line\">\(esc(FailureSignature.line(of: example)))</div>\n"
            h += "<div class=\"seeds\">runs and seeds: \(g.runs.map { "#\($0.index) <code>\($0.seed)</code>" }.joined(separator: ", "))</div>\n"
            h += "<div>example #\(example.index): \(esc(example.record.verdict.detail))</div>\n"
            if let tail = tails[example.index], !tail.isEmpty {
                h += "<pre class=\"console\">\(esc(tail))</pre>\n"
            }
            if !example.record.serialLog.isEmpty {
                h += "<div><a class=\"log\" href=\"\(esc(fileURL(example.record.serialLog)))\">serial log of #\(example.index)</a> <code>\(esc(example.record.serialLog))</code></div>\n"
            }
            h += "<div>replay: <code class=\"replay\">\(esc(example.replay))</code></div>\n</div>\n"
        }
        if groups.count > maxGroups {
            let rest = groups.dropFirst(maxGroups)
            h += "<p id=\"more-groups\">… and \(rest.count) smaller group(s) of \(rest.reduce(0) { $0 + $1.runs.count }) run(s) in all: see the table of runs and failing-runs.txt.</p>\n"
        }
        return h
    }

    /// A file: URL for a local path (spaces and other unsafe bytes percent-encoded).
    static func fileURL(_ path: String) -> String {
        var out = "file://"
        for b in path.utf8 {
            let c = Character(Unicode.Scalar(b))
            if c.isASCII && (c.isLetter || c.isNumber || "/-._~".contains(c)) { out.append(c) } else {
                out += "%" + String(b, radix: 16, uppercase: true).leftPadded(to: 2, with: "0")
            }
        }
        return out
    }

    // MARK: load versus idle

    static func compare(_ s: StressSummary, idle: StressSummary.IdleComparison, runs: [StressRun]) -> String {
        let loadCP = s.clopperPearson, idleCP = Stats.clopperPearson(failures: idle.failures, runs: idle.runs)
        let idleRate = idle.runs > 0 ? Double(idle.failures) / Double(idle.runs) : 0
        var h = "<div class=\"compare\">\n"
        for (name, k, n, rate, cp) in [("Under load", s.failures, s.runs, s.failureRate, loadCP), ("Idle", idle.failures, idle.runs, idleRate, idleCP)] {
            h += "<div class=\"arm\"><div>\(name)</div><div class=\"rate\">\(k) of \(n) failed · \(pct(rate))</div><div>two-sided 95% exact interval \(pct(cp.lower))–\(pct(cp.upper))</div></div>\n"
        }
        h += "</div>\n<p>Fisher's exact test, two-sided, level \(fixedTrim(s.alpha)): p = \(format4(idle.fisherP)) — "
        h += idle.fisherP <= s.alpha ? "the failure rates under load and idle differ.</p>\n" : "no significant difference (which does not show they are equal).</p>\n"
        // Both rates with their intervals on one axis.
        let left = 200.0, right = 190.0, top = 8.0, rowH = 30.0, plotH = rowH * 2
        let ticks = SVGChart.ticks(0, max(loadCP.upper, idleCP.upper) * 100, count: 10)
        let x = SVGChart.Scale(ticks, range: (left, width - right))
        var svg = SVGChart.open(id: "chart-compare", width: width, height: top + plotH + 46, label: "failure rate under load and idle, with 95% exact intervals")
        svg += SVGChart.xAxis(ticks, x, y: top + plotH, gridTop: top, title: "failure rate (%), dot: observed, bar: two-sided 95% exact interval")
        for (row, (name, rate, cp)) in [("under load", s.failureRate, loadCP), ("idle", idleRate, idleCP)].enumerated() {
            let cy = top + rowH * (Double(row) + 0.5)
            svg += "<text class=\"row-label\" x=\"\(fixed(left - 8, 1))\" y=\"\(fixed(cy + 4, 1))\" text-anchor=\"end\">\(name)</text>"
            svg += "<line class=\"whisker\" x1=\"\(fixed(x(cp.lower * 100), 1))\" y1=\"\(fixed(cy, 1))\" x2=\"\(fixed(x(cp.upper * 100), 1))\" y2=\"\(fixed(cy, 1))\"/>"
            svg += "<line class=\"whisker\" x1=\"\(fixed(x(cp.lower * 100), 1))\" y1=\"\(fixed(cy - 6, 1))\" x2=\"\(fixed(x(cp.lower * 100), 1))\" y2=\"\(fixed(cy + 6, 1))\"/>"
            svg += "<line class=\"whisker\" x1=\"\(fixed(x(cp.upper * 100), 1))\" y1=\"\(fixed(cy - 6, 1))\" x2=\"\(fixed(x(cp.upper * 100), 1))\" y2=\"\(fixed(cy + 6, 1))\"/>"
            svg += "<circle class=\"rate-dot\" cx=\"\(fixed(x(rate * 100), 1))\" cy=\"\(fixed(cy, 1))\" r=\"5\"/>"
            svg += "<text class=\"annot\" x=\"\(fixed(width - right + 8, 1))\" y=\"\(fixed(cy + 4, 1))\">\(pct(rate)) (\(pct(cp.lower))–\(pct(cp.upper)))</text>\n"
        }
        h += svg + "</svg>\n"
        h += "<p class=\"note\">The time to verdict and the marker charts above show both arms on the same axes.</p>\n"
        return h
    }

    /// Time to verdict, one row per arm (under load; idle with --compare-idle), shared axis.
    static func verdictTimes(_ runs: [StressRun]) -> String {
        let judged = runs.filter { !$0.infra }
        let arms = judged.contains { !$0.underLoad } ? [("under load", true), ("idle", false)] : [("all runs", true)]
        let left = 200.0, right = 190.0, top = 8.0, rowH = 26.0, plotH = rowH * Double(arms.count)
        let maxT = judged.map(\.record.duration).max() ?? 1
        let unit = SVGChart.TimeUnit.fitting(maxSeconds: maxT)
        let ticks = SVGChart.ticks(0, maxT * unit.factor, count: 10)
        let x = SVGChart.Scale(ticks, range: (left, width - right))
        var svg = SVGChart.open(id: "chart-verdict-times", width: width, height: top + plotH + 46, label: "time to verdict under load and idle")
        svg += SVGChart.xAxis(ticks, x, y: top + plotH, gridTop: top, title: "time from the boot's start to its verdict (\(unit.name))")
        for (row, (name, underLoad)) in arms.enumerated() {
            let cy = top + rowH * (Double(row) + 0.5)
            let arm = judged.filter { $0.underLoad == underLoad }.sorted { !$0.failed && $1.failed }
            svg += "<text class=\"row-label\" x=\"\(fixed(left - 8, 1))\" y=\"\(fixed(cy + 4, 1))\" text-anchor=\"end\">\(name)</text>"
            for r in arm {
                let jitter = Double(Int(r.seed % 7) - 3) * 2
                svg += "<circle class=\"dot \(VerdictColors.cssClass(r.record.verdict.kind))\(r.failed ? " failed" : "")\" cx=\"\(fixed(x(r.record.duration * unit.factor), 1))\" cy=\"\(fixed(cy + jitter, 1))\" r=\"3\"><title>#\(r.index) \(r.record.verdict.kind.rawValue) \(Reports.seconds(r.record.duration))</title></circle>"
            }
            if let med = Stats.spread(arm.map(\.record.duration))?.median {
                svg += "<line class=\"median\" x1=\"\(fixed(x(med * unit.factor), 1))\" y1=\"\(fixed(cy - 10, 1))\" x2=\"\(fixed(x(med * unit.factor), 1))\" y2=\"\(fixed(cy + 10, 1))\"/>"
                svg += "<text class=\"annot\" x=\"\(fixed(width - right + 8, 1))\" y=\"\(fixed(cy + 4, 1))\">median \(fixed(med * unit.factor, unit.factor > 1 ? 1 : 3)) \(unit.name)</text>"
            }
            svg += "\n"
        }
        return svg + "</svg>\n"
    }
}
