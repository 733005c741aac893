import Foundation

/// Hand-written SVG charts, so the evidence needs no plotting library.
enum SVGChart {
    private static let width = 720.0, height = 360.0, left = 60.0, right = 20.0, top = 40.0, bottom = 50.0
    private static var plotWidth: Double { width - left - right }
    private static var plotHeight: Double { height - top - bottom }

    /// A histogram of `values` in `bins` equal bins.
    static func histogram(_ values: [Double], bins: Int, title: String, unit: String) -> String {
        let low = values.min() ?? 0
        let high = max(values.max() ?? 1, low + 1e-9)
        let binWidth = (high - low) / Double(bins)
        var counts = [Int](repeating: 0, count: bins)
        for value in values { counts[min(bins - 1, Int((value - low) / binWidth))] += 1 }
        let tallest = Double(max(counts.max() ?? 1, 1))
        var body = ""
        for (index, count) in counts.enumerated() where count > 0 {
            let x = left + Double(index) / Double(bins) * plotWidth
            let barHeight = Double(count) / tallest * plotHeight
            body += rect(x: x + 1, y: top + plotHeight - barHeight, width: plotWidth / Double(bins) - 2, height: barHeight, fill: "#3b7dd8")
        }
        body += axes(
            xLabels: [(0, format(low)), (0.5, format((low + high) / 2)), (1, format(high))], yMax: Int(tallest), xTitle: unit, yTitle: "requests")
        return document(title: title, body: body)
    }

    /// Lines of the count in each state over time.
    static func states(_ samples: [(seconds: Double, counts: [String: Int])], title: String) -> String {
        let series: [(String, String)] = [
            ("received", "#9e9e9e"), ("queued", "#8e6cc0"), ("processing", "#f0a030"), ("retry_scheduled", "#d84b3b"),
            ("parked", "#795548"), ("processed", "#2e9e4f"), ("dead", "#000000"),
        ]
        let duration = max(samples.last?.seconds ?? 1, 1e-9)
        let peak = Double(max(samples.flatMap { $0.counts.values }.max() ?? 1, 1))
        var body = ""
        for (index, (state, color)) in series.enumerated() {
            let points = samples.map { sample in
                "\(left + sample.seconds / duration * plotWidth),\(top + plotHeight - Double(sample.counts[state] ?? 0) / peak * plotHeight)"
            }
            body += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(points.joined(separator: " "))\"/>\n"
            body += rect(x: left + 10 + Double(index) * 92, y: 12, width: 10, height: 10, fill: color)
            body += text(x: left + 24 + Double(index) * 92, y: 21, state, size: 11)
        }
        body += axes(xLabels: [(0, "0"), (0.5, format(duration / 2)), (1, format(duration))], yMax: Int(peak), xTitle: "seconds", yTitle: "events")
        return document(title: title, body: body)
    }

    private static func axes(xLabels: [(Double, String)], yMax: Int, xTitle: String, yTitle: String) -> String {
        var svg = "<line x1=\"\(left)\" y1=\"\(top + plotHeight)\" x2=\"\(left + plotWidth)\" y2=\"\(top + plotHeight)\" stroke=\"#333\"/>\n"
        svg += "<line x1=\"\(left)\" y1=\"\(top)\" x2=\"\(left)\" y2=\"\(top + plotHeight)\" stroke=\"#333\"/>\n"
        for (position, label) in xLabels { svg += text(x: left + position * plotWidth - 10, y: top + plotHeight + 18, label, size: 11) }
        svg += text(x: left + plotWidth / 2 - 20, y: height - 10, xTitle, size: 12)
        svg += text(x: 8, y: top + 4, String(yMax), size: 11) + text(x: 8, y: top + plotHeight, "0", size: 11)
        svg += text(x: 8, y: top + plotHeight / 2, yTitle, size: 12)
        return svg
    }

    private static func document(title: String, body: String) -> String {
        """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height + 20))" font-family="sans-serif">
        <rect width="100%" height="100%" fill="white"/>
        \(text(x: left, y: height + 12, title, size: 13))
        \(body)</svg>

        """
    }

    private static func rect(x: Double, y: Double, width: Double, height: Double, fill: String) -> String {
        "<rect x=\"\(x)\" y=\"\(y)\" width=\"\(max(width, 0))\" height=\"\(max(height, 0))\" fill=\"\(fill)\"/>\n"
    }

    private static func text(x: Double, y: Double, _ content: String, size: Int) -> String {
        "<text x=\"\(x)\" y=\"\(y)\" font-size=\"\(size)\">\(content)</text>\n"
    }
}
