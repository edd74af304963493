// SVGPlot: a small pure-Swift SVG writer for grouped bar charts and line charts with nice axes,
// labels, titles and legends (no external tools). Every drawn datum carries its value as a
// `data-*` attribute so tests (and people) can read the numbers back from the file.
#if canImport(Glibc)
import Glibc
#endif

// MARK: - Nice axis ticks

/// Tick marks covering `[lo, hi]` with about `count` intervals, at multiples of a "nice" step
/// (1, 2 or 5 times a power of ten), after Heckbert, "Nice numbers for graph labels", Graphics
/// Gems (1990). The axis range is widened outwards to whole steps.
public struct NiceAxis: Sendable, Equatable {
    public var lower: Double
    public var upper: Double
    public var step: Double
    /// `[ticks]` tick values from `lower` to `upper`.
    public var ticks: [Double]
    /// Decimals needed to print the ticks exactly enough.
    public var decimals: Int

    public init(lo: Double, hi: Double, count: Int = 5) {
        var lo = lo, hi = hi
        if !(lo.isFinite && hi.isFinite) { lo = 0; hi = 1 }
        if hi < lo { swap(&lo, &hi) }
        if hi == lo { hi = lo == 0 ? 1 : lo + abs(lo) * 0.5; lo = lo == 0 ? 0 : lo - abs(lo) * 0.5 }
        let intervals = Double(max(count, 1))
        let range = NiceAxis.nice(hi - lo, round: false)
        let step = NiceAxis.nice(range / intervals, round: true)
        let first = (lo / step).rounded(.down), last = (hi / step).rounded(.up)
        // Near the ends of float64 (a range that overflows, a step that rounds to infinity or to
        // zero) the nice axis does not exist: plain equal intervals from lo to hi instead.
        guard step.isFinite, step > 0, (first * step).isFinite, (last * step).isFinite,
              (last - first).isFinite, last - first >= 0, last - first <= 1000 else {
            let plain = hi / intervals - lo / intervals
            lower = lo
            upper = hi
            self.step = plain
            ticks = (0...max(count, 1)).map { i in
                let f = Double(i) / intervals
                return i == max(count, 1) ? hi : lo * (1 - f) + hi * f
            }
            decimals = 0
            return
        }
        lower = first * step
        upper = last * step
        self.step = step
        // Tick i is (first + i) * step: no accumulated drift (0.30000000000000004).
        ticks = (0...Int(last - first)).map { (first + Double($0)) * step }
        decimals = min(17, max(0, -Int(log10(step).rounded(.down))))
    }

    /// Heckbert's nicenum: a 1, 2, 5 or 10 times a power of ten near `x` (rounded, or at least `x`).
    static func nice(_ x: Double, round: Bool) -> Double {
        let e = log10(x).rounded(.down)
        let p = pow(10, e)
        let f = x / p
        let nf: Double
        if round { nf = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10 } else { nf = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10 }
        return nf * p
    }

    /// Where `v` lies between `lower` (0) and `upper` (1); in halves when the span overflows
    /// (an axis over nearly all of float64).
    public func fraction(_ v: Double) -> Double {
        let span = upper - lower
        if span.isFinite && span > 0 { return (v - lower) / span }
        return (v / 2 - lower / 2) / (upper / 2 - lower / 2)
    }

    public func label(_ v: Double) -> String { formatFixed(abs(v) < step * 1e-9 ? 0 : v, digits: decimals) }
}

// MARK: - Document

/// Escapes text for XML content and attribute values.
public func xmlEscape(_ s: String) -> String {
    var out = ""
    for c in s {
        switch c {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&apos;"
        default: out.append(c)
        }
    }
    return out
}

/// A coordinate with two decimals.
@inline(__always) func svgNumber(_ x: Double) -> String { formatFixed(x, digits: 2) }

/// The categorical palette of matplotlib's "tab10".
public let plotPalette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                          "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]

/// The frame shared by both charts: size, margins, title, axis labels, y axis with grid lines.
struct PlotFrame {
    var width = 720.0, height = 420.0
    var left = 78.0, right = 150.0, top = 52.0, bottom = 64.0
    var plotWidth: Double { width - left - right }
    var plotHeight: Double { height - top - bottom }

    func header(title: String) -> [String] {
        ["<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
         "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"13\">",
         "<title>\(xmlEscape(title))</title>",
         "<rect x=\"0\" y=\"0\" width=\"\(Int(width))\" height=\"\(Int(height))\" fill=\"white\"/>",
         "<text class=\"title\" x=\"\(svgNumber(left + plotWidth / 2))\" y=\"30\" text-anchor=\"middle\" font-size=\"17\" font-weight=\"bold\">\(xmlEscape(title))</text>"]
    }

    /// Y axis with ticks, labels and light grid lines; the axis labels.
    func yAxis(_ axis: NiceAxis, xLabel: String, yLabel: String) -> [String] {
        var out = ["<g class=\"y-axis\">"]
        for t in axis.ticks {
            let y = yPixel(t, axis)
            out.append("<line x1=\"\(svgNumber(left))\" y1=\"\(svgNumber(y))\" x2=\"\(svgNumber(left + plotWidth))\" y2=\"\(svgNumber(y))\" stroke=\"#e5e5e5\"/>")
            out.append("<line x1=\"\(svgNumber(left - 5))\" y1=\"\(svgNumber(y))\" x2=\"\(svgNumber(left))\" y2=\"\(svgNumber(y))\" stroke=\"#333\"/>")
            out.append("<text class=\"tick\" x=\"\(svgNumber(left - 8))\" y=\"\(svgNumber(y + 4))\" text-anchor=\"end\">\(axis.label(t))</text>")
        }
        out.append("<line x1=\"\(svgNumber(left))\" y1=\"\(svgNumber(top))\" x2=\"\(svgNumber(left))\" y2=\"\(svgNumber(top + plotHeight))\" stroke=\"#333\"/>")
        out.append("</g>")
        out.append("<text class=\"axis-label\" x=\"\(svgNumber(left + plotWidth / 2))\" y=\"\(svgNumber(height - 18))\" text-anchor=\"middle\">\(xmlEscape(xLabel))</text>")
        let cy = top + plotHeight / 2
        out.append("<text class=\"axis-label\" x=\"20\" y=\"\(svgNumber(cy))\" text-anchor=\"middle\" transform=\"rotate(-90 20 \(svgNumber(cy)))\">\(xmlEscape(yLabel))</text>")
        return out
    }

    func xAxisLine() -> String {
        "<line x1=\"\(svgNumber(left))\" y1=\"\(svgNumber(top + plotHeight))\" x2=\"\(svgNumber(left + plotWidth))\" y2=\"\(svgNumber(top + plotHeight))\" stroke=\"#333\"/>"
    }

    func yPixel(_ v: Double, _ axis: NiceAxis) -> Double {
        top + plotHeight * (1 - axis.fraction(v))
    }

    /// A legend of colored swatches right of the plot.
    func legend(_ names: [String], line: Bool) -> [String] {
        var out = ["<g class=\"legend\">"]
        for (i, name) in names.enumerated() {
            let x = left + plotWidth + 16, y = top + 8 + Double(i) * 22
            let color = plotPalette[i % plotPalette.count]
            if line {
                out.append("<line x1=\"\(svgNumber(x))\" y1=\"\(svgNumber(y + 6))\" x2=\"\(svgNumber(x + 18))\" y2=\"\(svgNumber(y + 6))\" stroke=\"\(color)\" stroke-width=\"2.5\"/>")
            } else {
                out.append("<rect x=\"\(svgNumber(x))\" y=\"\(svgNumber(y))\" width=\"14\" height=\"12\" fill=\"\(color)\"/>")
            }
            out.append("<text x=\"\(svgNumber(x + 24))\" y=\"\(svgNumber(y + 11))\">\(xmlEscape(name))</text>")
        }
        out.append("</g>")
        return out
    }
}

// MARK: - Bar chart

/// Grouped vertical bars: one group per category, one bar per series, the value printed above
/// each bar. Each bar is `<rect class="bar" data-series=… data-category=… data-value=…>`.
public struct BarChart: Sendable {
    public var title: String
    public var xLabel: String
    public var yLabel: String
    /// `[categories]` names along the x axis.
    public var categories: [String]
    /// Per series: its name and `[categories]` values (>= 0).
    public var series: [(name: String, values: [Double])]

    public init(title: String, xLabel: String, yLabel: String, categories: [String], series: [(name: String, values: [Double])]) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.categories = categories
        self.series = series
    }

    public func svg() -> String {
        let frame = PlotFrame()
        let maxValue = series.flatMap { $0.values }.filter { $0.isFinite }.max() ?? 1
        let axis = NiceAxis(lo: 0, hi: max(maxValue, 1e-12) * 1.08)
        var out = frame.header(title: title)
        out += frame.yAxis(axis, xLabel: xLabel, yLabel: yLabel)
        let groups = max(categories.count, 1), bars = max(series.count, 1)
        let groupWidth = frame.plotWidth / Double(groups)
        let barWidth = groupWidth * 0.8 / Double(bars)
        out.append("<g class=\"bars\">")
        for (c, name) in categories.enumerated() {
            let gx = frame.left + Double(c) * groupWidth
            for (s, series) in series.enumerated() {
                let v = c < series.values.count ? series.values[c] : 0
                let x = gx + groupWidth * 0.1 + Double(s) * barWidth
                let y = frame.yPixel(max(0, v.isFinite ? v : 0), axis), base = frame.yPixel(0, axis)
                let valueText = v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(v)
                out.append("<rect class=\"bar\" data-series=\"\(xmlEscape(series.name))\" data-category=\"\(xmlEscape(name))\" data-value=\"\(valueText)\" x=\"\(svgNumber(x))\" y=\"\(svgNumber(y))\" width=\"\(svgNumber(barWidth * 0.95))\" height=\"\(svgNumber(base - y))\" fill=\"\(plotPalette[s % plotPalette.count])\"><title>\(xmlEscape(series.name)), \(xmlEscape(name)): \(valueText)</title></rect>")
                out.append("<text class=\"bar-value\" x=\"\(svgNumber(x + barWidth * 0.475))\" y=\"\(svgNumber(y - 4))\" text-anchor=\"middle\" font-size=\"11\">\(valueText)</text>")
            }
            out.append("<text class=\"tick\" x=\"\(svgNumber(gx + groupWidth / 2))\" y=\"\(svgNumber(frame.top + frame.plotHeight + 20))\" text-anchor=\"middle\">\(xmlEscape(name))</text>")
        }
        out.append("</g>")
        out.append(frame.xAxisLine())
        out += frame.legend(series.map(\.name), line: false)
        out.append("</svg>")
        return out.joined(separator: "\n") + "\n"
    }
}

// MARK: - Line chart

/// Lines through points, one color per series, with a marker per point:
/// `<circle class="point" data-series=… data-x=… data-y=…>`. Non-finite y values are left out.
/// Both axes include 0 when the data are all positive (epochs, losses); `yRange` fixes the y axis.
public struct LineChart: Sendable {
    public var title: String
    public var xLabel: String
    public var yLabel: String
    /// Per series: its name and its points `(x, y)` in increasing x.
    public var series: [(name: String, points: [(x: Double, y: Double)])]
    /// A fixed y range (e.g. 0...1 for recall); nil: from the data (including 0 when all are >= 0).
    public var yRange: ClosedRange<Double>?

    public init(title: String, xLabel: String, yLabel: String, series: [(name: String, points: [(x: Double, y: Double)])],
                yRange: ClosedRange<Double>? = nil) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.series = series
        self.yRange = yRange
    }

    public func svg() -> String {
        let frame = PlotFrame()
        let pts = series.map { s in (name: s.name, points: s.points.filter { $0.x.isFinite && $0.y.isFinite }) }
        let xs = pts.flatMap { $0.points.map(\.x) }, ys = pts.flatMap { $0.points.map(\.y) }
        let xAxis = NiceAxis(lo: min(xs.min() ?? 0, 0), hi: xs.max() ?? 1, count: 8)
        let yAxis: NiceAxis
        if let r = yRange {
            yAxis = NiceAxis(lo: r.lowerBound, hi: r.upperBound)
        } else {
            let lo = ys.min() ?? 0, hi = ys.max() ?? 1
            yAxis = NiceAxis(lo: min(lo, 0), hi: hi)
        }
        func px(_ x: Double) -> Double { frame.left + frame.plotWidth * xAxis.fraction(x) }
        var out = frame.header(title: title)
        out += frame.yAxis(yAxis, xLabel: xLabel, yLabel: yLabel)
        out.append("<g class=\"x-axis\">")
        for t in xAxis.ticks {
            let x = px(t), y = frame.top + frame.plotHeight
            out.append("<line x1=\"\(svgNumber(x))\" y1=\"\(svgNumber(y))\" x2=\"\(svgNumber(x))\" y2=\"\(svgNumber(y + 5))\" stroke=\"#333\"/>")
            out.append("<text class=\"tick\" x=\"\(svgNumber(x))\" y=\"\(svgNumber(y + 20))\" text-anchor=\"middle\">\(xAxis.label(t))</text>")
        }
        out.append(frame.xAxisLine())
        out.append("</g>")
        for (s, series) in pts.enumerated() {
            let color = plotPalette[s % plotPalette.count]
            out.append("<g class=\"series\" data-series=\"\(xmlEscape(series.name))\" data-points=\"\(series.points.count)\">")
            let path = series.points.map { "\(svgNumber(px($0.x))),\(svgNumber(frame.yPixel($0.y, yAxis)))" }.joined(separator: " ")
            if series.points.count > 1 {
                out.append("<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(path)\"/>")
            }
            let radius = series.points.count > 60 ? 1.8 : 3
            for p in series.points {
                out.append("<circle class=\"point\" data-series=\"\(xmlEscape(series.name))\" data-x=\"\(p.x.description)\" data-y=\"\(p.y.description)\" cx=\"\(svgNumber(px(p.x)))\" cy=\"\(svgNumber(frame.yPixel(p.y, yAxis)))\" r=\"\(radius)\" fill=\"\(color)\"/>")
            }
            out.append("</g>")
        }
        out += frame.legend(pts.map(\.name), line: true)
        out.append("</svg>")
        return out.joined(separator: "\n") + "\n"
    }
}
