/// A self-contained HTML page for a stress experiment: summary, a histogram of time-to-verdict,
/// one of each marker's latency, and a timeline of runs. Inline CSS and SVG only — no scripts,
/// no network — so it opens anywhere and can be archived as one file.
public enum HTMLReport {
    public static func render(summary s: StressSummary, runs: [StressRun], load: LoadRecord?, title: String) -> String {
        var h = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8">
        <title>\(esc(title))</title>
        <style>
        body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
        h1{font-size:20px} h2{font-size:16px;margin-top:28px}
        pre{background:#f6f6f6;padding:12px;overflow-x:auto;font-size:12px}
        table{border-collapse:collapse;font-size:12px} td,th{border:1px solid #ddd;padding:3px 6px;text-align:left}
        .pass{color:#1a7f37} .fail{color:#c62828} svg{background:#fff;border:1px solid #eee}
        .figs{display:flex;flex-wrap:wrap;gap:16px}
        </style></head><body>
        <h1 id="title">\(esc(title))</h1>
        <p id="headline" class="\(s.failures == 0 ? "pass" : "fail")"><b>\(s.failures) of \(s.runs)</b> runs failed\(s.hogs > 0 ? " under load" : "")
        (rate \(fixed(s.failureRate * 100, 1))%; two-sided 95% exact interval \(fixed(s.clopperPearson.lower * 100, 1))–\(fixed(s.clopperPearson.upper * 100, 1))%).\(s.failures == 0 && s.runs > 0 ? "</p>\n<p id=\"bound\">No failures: the rate is below \(fixed(s.upperBound * 100, 1))% (one-sided exact 95% upper bound)." : "")</p>
        <pre id="summary">\(esc(s.text(runs: runs, load: load)))</pre>
        <h2>Time to verdict</h2>
        <div class="figs">
        """
        // The figures count the same runs as the headline (under load, infrastructure errors out);
        // the idle comparison runs get their own histogram.
        let judged = runs.filter { $0.underLoad && !$0.infra }
        let idle = runs.filter { !$0.underLoad && !$0.infra }
        h += histogram(id: "hist-verdict", title: "time to verdict (s), \(judged.count) runs\(s.hogs > 0 ? " under load" : "")", values: judged.map(\.record.duration),
                       failedValues: judged.filter(\.failed).map(\.record.duration))
        if !idle.isEmpty {
            h += histogram(id: "hist-verdict-idle", title: "time to verdict (s), \(idle.count) idle runs", values: idle.map(\.record.duration),
                           failedValues: idle.filter(\.failed).map(\.record.duration))
        }
        h += "</div>\n<h2>Marker latency (time from start to each marker, \(judged.count) runs\(s.hogs > 0 ? " under load" : ""))</h2>\n<div class=\"figs\">\n"
        for (id, _) in s.markerLatency.sorted(by: { $0.value.median < $1.value.median }) {
            let values = judged.compactMap { r in r.record.markers.first { $0.id == id }?.time }
            h += histogram(id: "hist-marker-\(esc(id))", title: "\(esc(id)) (s)", values: values, failedValues: [])
        }
        h += "</div>\n<h2>Timeline of runs</h2>\n"
        h += timeline(runs)
        h += "<h2>Runs</h2>\n<table id=\"runs\"><tr><th>#</th><th>load</th><th>seed</th><th>verdict</th><th>time</th><th>markers</th><th>detail</th><th>replay</th></tr>\n"
        for r in runs {
            let cls = r.failed ? "fail" : "pass"
            h += "<tr class=\"\(cls)\"><td>\(r.index)</td><td>\(r.underLoad ? "load" : "idle")</td><td>\(r.seed)</td><td>\(r.record.verdict.kind.rawValue)</td>"
            h += "<td>\(Reports.seconds(r.record.duration))</td><td>\(r.record.seenCount)/\(r.record.requiredCount)</td>"
            h += "<td>\(esc(r.record.verdict.detail))</td><td><code>\(r.failed ? esc(r.replay) : "")</code></td></tr>\n"
        }
        h += "</table>\n</body></html>\n"
        return h
    }

    static func esc(_ s: String) -> String { Reports.xml(s) }

    /// An SVG histogram; failed runs are stacked in red on top of passes.
    static func histogram(id: String, title: String, values: [Double], failedValues: [Double]) -> String {
        let width = 480.0, height = 220.0, left = 44.0, bottom = 30.0, top = 24.0
        guard let lo = values.min(), let hi = values.max() else {
            return "<svg id=\"\(id)\" width=\"\(Int(width))\" height=\"60\"><text x=\"10\" y=\"30\">\(title): no data</text></svg>\n"
        }
        let bins = max(1, min(30, Int(Double(values.count).squareRoot().rounded(.up))))
        let span = hi > lo ? hi - lo : max(hi * 0.1, 0.001)
        let start = hi > lo ? lo : lo - span / 2
        func bin(_ v: Double) -> Int { min(bins - 1, max(0, Int((v - start) / span * Double(bins)))) }
        var all = [Int](repeating: 0, count: bins), bad = [Int](repeating: 0, count: bins)
        for v in values { all[bin(v)] += 1 }
        for v in failedValues { bad[bin(v)] += 1 }
        let peak = Double(all.max() ?? 1)
        let plotW = width - left - 10, plotH = height - top - bottom
        let barW = plotW / Double(bins)
        var svg = "<svg id=\"\(id)\" class=\"histogram\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" role=\"img\" aria-label=\"\(title)\">\n"
        svg += "<text x=\"\(left)\" y=\"16\" font-size=\"12\">\(title)</text>\n"
        for i in 0..<bins where all[i] > 0 {
            let x = left + Double(i) * barW
            let hAll = Double(all[i]) / peak * plotH
            let hBad = Double(bad[i]) / peak * plotH
            svg += "<rect class=\"bar\" x=\"\(fixed(x + 1, 1))\" y=\"\(fixed(top + plotH - hAll, 1))\" width=\"\(fixed(max(1, barW - 2), 1))\" height=\"\(fixed(hAll, 1))\" fill=\"#4c8bf5\"><title>\(all[i]) runs</title></rect>\n"
            if bad[i] > 0 {
                svg += "<rect class=\"bar-failed\" x=\"\(fixed(x + 1, 1))\" y=\"\(fixed(top + plotH - hBad, 1))\" width=\"\(fixed(max(1, barW - 2), 1))\" height=\"\(fixed(hBad, 1))\" fill=\"#c62828\"><title>\(bad[i]) failed</title></rect>\n"
            }
        }
        svg += "<line x1=\"\(left)\" y1=\"\(top + plotH)\" x2=\"\(width - 10)\" y2=\"\(top + plotH)\" stroke=\"#888\"/>\n"
        svg += "<text x=\"\(left)\" y=\"\(height - 8)\" font-size=\"11\">\(fixed(start, 3))</text>\n"
        svg += "<text x=\"\(width - 10)\" y=\"\(height - 8)\" font-size=\"11\" text-anchor=\"end\">\(fixed(start + span, 3))</text>\n"
        svg += "<text x=\"\(left - 4)\" y=\"\(top + 10)\" font-size=\"11\" text-anchor=\"end\">\(Int(peak))</text>\n"
        svg += "</svg>\n"
        return svg
    }

    /// One bar per run from its start to its verdict, green for a pass and red for a failure.
    static func timeline(_ runs: [StressRun]) -> String {
        let width = 960.0, rowH = 10.0, left = 60.0
        let end = runs.map { $0.offset + $0.record.duration }.max() ?? 1
        let scale = (width - left - 10) / max(end, 0.001)
        let height = Double(runs.count) * rowH + 30
        var svg = "<svg id=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" role=\"img\" aria-label=\"timeline of runs\">\n"
        for (row, r) in runs.enumerated() {
            let y = 10 + Double(row) * rowH
            let color = r.failed ? "#c62828" : (r.underLoad ? "#1a7f37" : "#7fb88a")
            svg += "<text x=\"\(left - 6)\" y=\"\(fixed(y + 8, 1))\" font-size=\"9\" text-anchor=\"end\">#\(r.index)</text>"
            svg += "<rect class=\"run \(r.failed ? "failed" : "passed")\" x=\"\(fixed(left + r.offset * scale, 1))\" y=\"\(fixed(y, 1))\" width=\"\(fixed(max(2, r.record.duration * scale), 1))\" height=\"\(fixed(rowH - 2, 1))\" fill=\"\(color)\"><title>#\(r.index) \(r.record.verdict.kind.rawValue) \(Reports.seconds(r.record.duration)) seed \(r.seed)</title></rect>\n"
        }
        svg += "<text x=\"\(left)\" y=\"\(fixed(height - 4, 1))\" font-size=\"11\">0 s</text><text x=\"\(width - 10)\" y=\"\(fixed(height - 4, 1))\" font-size=\"11\" text-anchor=\"end\">\(fixed(end, 2)) s</text>\n"
        svg += "</svg>\n"
        return svg
    }
}
