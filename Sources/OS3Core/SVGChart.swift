#if canImport(Glibc)
import Glibc
#endif

/// The pieces every chart of the stress report is drawn with: "nice" axis ticks, a linear scale,
/// axes with ticks, grid and units, and the one colour of each verdict. Pure string building, so
/// each piece is tested on its own (ReportTests) and the page needs no script.
public enum SVGChart {
    /// Ticks at 1, 2 or 5 × 10^k covering [lo, hi]: the axis runs from the first to the last tick,
    /// so no data point falls off it and every end of the axis is labelled.
    public struct Ticks: Sendable, Equatable {
        public var values: [Double]
        public var step: Double
        /// Digits after the point that label every tick exactly.
        public var decimals: Int
        /// Labels without trailing zeros (a log axis: 0.5, 1, 2, 5, 10).
        public var trimmed = false
        public var lo: Double { values.first ?? 0 }
        public var hi: Double { values.last ?? 1 }

        public func label(_ v: Double) -> String { trimmed ? fixedTrim(v) : fixed(v, decimals) }
    }

    /// Ticks at 1, 2 and 5 of every decade from below `lo` (> 0) to above `hi`: a log axis, on which
    /// a phase that takes twice as long moves by the same distance however short it is.
    public static func logTicks(_ lo: Double, _ hi: Double) -> Ticks {
        let lo = max(lo, 1e-9), hi = max(hi, lo * 1.0001)
        // The sequence 1, 2, 5, 10, 20, … × 10^k, from the largest of them at or below lo.
        var exponent = Int(log10(lo).rounded(.down))
        var m = [5.0, 2, 1].firstIndex { $0 * pow(10, Double(exponent)) <= lo * (1 + 1e-9) }.map { 2 - $0 } ?? 0
        if [1.0, 2, 5][m] * pow(10, Double(exponent)) > lo * (1 + 1e-9) { exponent -= 1; m = 2 }
        var values: [Double] = []
        while true {
            let v = [1.0, 2, 5][m] * pow(10, Double(exponent))
            values.append((v * 1e9).rounded() / 1e9)
            if v >= hi * (1 - 1e-9) { break }
            m += 1
            if m == 3 { m = 0; exponent += 1 }
        }
        return Ticks(values: values, step: 0, decimals: 0, trimmed: true)
    }

    /// About `count` intervals over [lo, hi] (an empty or single-valued range gets a unit-wide axis).
    public static func ticks(_ lo: Double, _ hi: Double, count: Int = 5) -> Ticks {
        var lo = lo.isFinite ? lo : 0, hi = hi.isFinite ? hi : 1
        if hi < lo { swap(&lo, &hi) }
        if hi - lo < 1e-12 {
            let pad = lo == 0 ? 1 : abs(lo) * 0.1
            lo = lo == 0 ? 0 : lo - pad
            hi += pad
        }
        let raw = (hi - lo) / Double(max(1, count))
        var magnitude = 1.0
        while magnitude * 10 <= raw { magnitude *= 10 }
        while magnitude > raw { magnitude /= 10 }
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw * (1 - 1e-9) } ?? magnitude * 10
        let first = (lo / step + 1e-9).rounded(.down), last = (hi / step - 1e-9).rounded(.up)
        let values = stride(from: first, through: last, by: 1).map { ($0 * step * 1e9).rounded() / 1e9 }
        var decimals = 0, unit = 1.0
        while unit > step * (1 + 1e-9) && decimals < 9 { unit /= 10; decimals += 1 }
        return Ticks(values: values, step: step, decimals: decimals)
    }

    /// Maps data values onto pixels along one axis.
    public protocol AxisScale: Sendable {
        var range: (Double, Double) { get }
        func callAsFunction(_ v: Double) -> Double
    }

    /// Logarithmic (base 10); values at or below the domain's start sit on the axis's start.
    public struct LogScale: AxisScale {
        public var domain: (Double, Double)
        public var range: (Double, Double)
        public init(_ ticks: Ticks, range: (Double, Double)) { domain = (ticks.lo, ticks.hi); self.range = range }

        public func callAsFunction(_ v: Double) -> Double {
            let a = log10(domain.0), b = log10(domain.1)
            guard b > a else { return range.0 }
            return range.0 + (log10(Swift.max(v, domain.0)) - a) / (b - a) * (range.1 - range.0)
        }
    }

    /// Maps a domain onto pixels, linearly.
    public struct Scale: AxisScale, Equatable {
        public var domain: (Double, Double)
        public var range: (Double, Double)
        public init(domain: (Double, Double), range: (Double, Double)) { self.domain = domain; self.range = range }
        public init(_ ticks: Ticks, range: (Double, Double)) { self.init(domain: (ticks.lo, ticks.hi), range: range) }

        public func callAsFunction(_ v: Double) -> Double {
            let span = domain.1 - domain.0
            guard span != 0 else { return range.0 }
            return range.0 + (v - domain.0) / span * (range.1 - range.0)
        }

        public static func == (a: Scale, b: Scale) -> Bool { a.domain == b.domain && a.range == b.range }
    }

    /// A time axis's unit: milliseconds when everything lies within two seconds (a boot's phases),
    /// seconds otherwise.
    public struct TimeUnit: Sendable, Equatable {
        public var name: String
        public var factor: Double
        public static func fitting(maxSeconds: Double) -> TimeUnit {
            maxSeconds <= 2 ? TimeUnit(name: "ms", factor: 1000) : TimeUnit(name: "s", factor: 1)
        }
    }

    /// An x axis along `y` with a tick, a label and a vertical grid line (up to `gridTop`) at every tick.
    public static func xAxis(_ t: Ticks, _ x: some AxisScale, y: Double, gridTop: Double, title: String) -> String {
        var s = "<g class=\"axis x-axis\">\n"
        for v in t.values {
            let px = fixed(x(v), 1)
            s += "<line class=\"grid\" x1=\"\(px)\" y1=\"\(fixed(gridTop, 1))\" x2=\"\(px)\" y2=\"\(fixed(y, 1))\"/>"
            s += "<line class=\"tick\" x1=\"\(px)\" y1=\"\(fixed(y, 1))\" x2=\"\(px)\" y2=\"\(fixed(y + 5, 1))\"/>"
            s += "<text class=\"tick-label\" x=\"\(px)\" y=\"\(fixed(y + 17, 1))\" text-anchor=\"middle\">\(t.label(v))</text>\n"
        }
        s += "<line class=\"domain\" x1=\"\(fixed(x.range.0, 1))\" y1=\"\(fixed(y, 1))\" x2=\"\(fixed(x.range.1, 1))\" y2=\"\(fixed(y, 1))\"/>\n"
        s += "<text class=\"axis-title\" x=\"\(fixed((x.range.0 + x.range.1) / 2, 1))\" y=\"\(fixed(y + 34, 1))\" text-anchor=\"middle\">\(esc(title))</text>\n"
        return s + "</g>\n"
    }

    /// A y axis at `x` (ticks to the left, or to the right when `right`), grid lines across to `gridEnd`.
    public static func yAxis(_ t: Ticks, _ y: Scale, x: Double, gridEnd: Double?, title: String, right: Bool = false) -> String {
        var s = "<g class=\"axis y-axis\">\n"
        let d = right ? 5.0 : -5.0
        for v in t.values {
            let py = fixed(y(v), 1)
            if let gridEnd { s += "<line class=\"grid\" x1=\"\(fixed(x, 1))\" y1=\"\(py)\" x2=\"\(fixed(gridEnd, 1))\" y2=\"\(py)\"/>" }
            s += "<line class=\"tick\" x1=\"\(fixed(x, 1))\" y1=\"\(py)\" x2=\"\(fixed(x + d, 1))\" y2=\"\(py)\"/>"
            s += "<text class=\"tick-label\" x=\"\(fixed(x + d * 1.6, 1))\" y=\"\(fixed(y(v) + 4, 1))\" text-anchor=\"\(right ? "start" : "end")\">\(t.label(v))</text>\n"
        }
        s += "<line class=\"domain\" x1=\"\(fixed(x, 1))\" y1=\"\(fixed(y.range.0, 1))\" x2=\"\(fixed(x, 1))\" y2=\"\(fixed(y.range.1, 1))\"/>\n"
        let mid = (y.range.0 + y.range.1) / 2, tx = right ? x + 46 : x - 40
        s += "<text class=\"axis-title\" x=\"\(fixed(tx, 1))\" y=\"\(fixed(mid, 1))\" text-anchor=\"middle\" transform=\"rotate(-90 \(fixed(tx, 1)) \(fixed(mid, 1)))\">\(esc(title))</text>\n"
        return s + "</g>\n"
    }

    /// The opening tag of a chart: scales with the page (printable), never wider than drawn.
    public static func open(id: String, width: Double, height: Double, label: String) -> String {
        "<svg id=\"\(id)\" class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"100%\" style=\"max-width:\(Int(width))px\" role=\"img\" aria-label=\"\(esc(label))\">\n<title>\(esc(label))</title>\n"
    }

    static func esc(_ s: String) -> String { Reports.xml(s) }
}

/// One colour per verdict, defined once for the whole page: every chart, legend and table takes
/// its colour from the class `v-KIND` (pass is green everywhere; failures are warm or dark).
public enum VerdictColors {
    public static func color(_ kind: VerdictKind) -> String {
        switch kind {
        case .pass: "#2e8540"
        case .forbiddenMarker: "#d62728"
        case .missingMarkers: "#ff7f0e"
        case .wrongExitCode: "#9467bd"
        case .orderViolated: "#8c564b"
        case .hang: "#e377c2"
        case .timeout: "#b8860b"
        case .guestReset: "#17becf"
        case .guestPanic: "#7f0000"
        case .vmStopped: "#1f3a93"
        case .testFailed: "#c2185b"
        case .infraError: "#7f7f7f"
        case .skipped: "#bdbdbd"
        case .interrupted: "#4d4d4d"
        }
    }

    public static func cssClass(_ kind: VerdictKind) -> String { "v-\(kind.rawValue)" }

    /// The rules: SVG shapes fill with the colour, swatches and table cells show it.
    public static var css: String {
        VerdictKind.allCases.map { k in
            let c = color(k), cls = cssClass(k)
            return "svg .\(cls){fill:\(c);stroke:\(c)} .sw.\(cls){background:\(c)} td.\(cls){border-left:6px solid \(c)}"
        }.joined(separator: "\n")
    }

    /// A legend of the verdicts that occur, in severity order.
    public static func legend(_ kinds: Set<VerdictKind>) -> String {
        let items = kinds.sorted().map { "<span class=\"key\"><span class=\"sw \(cssClass($0))\"></span>\($0.rawValue)</span>" }
        return "<span class=\"legend\">\(items.joined(separator: " "))</span>"
    }
}
