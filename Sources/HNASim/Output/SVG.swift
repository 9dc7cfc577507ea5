/// Minimal SVG charts, enough to look at a run without other tools.
public enum SVG {
    static let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                          "#bcbd22", "#17becf"]

    static func escape(_ s: String) -> String {
        var o = ""
        for c in s {
            switch c {
            case "<": o += "&lt;"
            case ">": o += "&gt;"
            case "&": o += "&amp;"
            default: o.append(c)
            }
        }
        return o
    }

    public static func lineChart(title: String, xLabel: String, yLabel: String, x: [Double],
                                 series: [(String, [Double])]) -> String {
        let w = 800.0, h = 420.0, left = 70.0, right = 160.0, top = 40.0, bottom = 50.0
        let pw = w - left - right, ph = h - top - bottom
        let xMax = max(x.last ?? 1, 1e-9), xMin = x.first ?? 0
        let yMax = max(series.flatMap(\.1).max() ?? 1, 1e-9) * 1.05
        func px(_ v: Double) -> Double { left + (v - xMin) / max(xMax - xMin, 1e-9) * pw }
        func py(_ v: Double) -> Double { top + ph - v / yMax * ph }
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(h))\" font-family=\"sans-serif\" font-size=\"12\">\n"
        s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        s += "<text x=\"\(Int(w / 2))\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">\(escape(title))</text>\n"
        s += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(pw)\" height=\"\(ph)\" fill=\"none\" stroke=\"#444\"/>\n"
        for k in 0 ... 4 {
            let yv = yMax * Double(k) / 4, xv = xMin + (xMax - xMin) * Double(k) / 4
            s += "<text x=\"\(left - 6)\" y=\"\(format(py(yv) + 4, digits: 1))\" text-anchor=\"end\">\(format(yv, digits: 2))</text>\n"
            s += "<line x1=\"\(left)\" x2=\"\(left + pw)\" y1=\"\(format(py(yv), digits: 1))\" y2=\"\(format(py(yv), digits: 1))\" stroke=\"#ddd\"/>\n"
            s += "<text x=\"\(format(px(xv), digits: 1))\" y=\"\(top + ph + 18)\" text-anchor=\"middle\">\(format(xv, digits: 1))</text>\n"
        }
        s += "<text x=\"\(left + pw / 2)\" y=\"\(h - 10)\" text-anchor=\"middle\">\(escape(xLabel))</text>\n"
        s += "<text x=\"16\" y=\"\(top + ph / 2)\" transform=\"rotate(-90 16 \(top + ph / 2))\" text-anchor=\"middle\">\(escape(yLabel))</text>\n"
        for (i, (name, ys)) in series.enumerated() {
            let color = palette[i % palette.count]
            var pts = ""
            for k in 0 ..< min(x.count, ys.count) { pts += "\(format(px(x[k]), digits: 1)),\(format(py(ys[k]), digits: 1)) " }
            s += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.5\" points=\"\(pts)\"/>\n"
            if i < 24 {
                let ly = top + 14 * Double(i) + 8
                s += "<line x1=\"\(w - right + 10)\" x2=\"\(w - right + 30)\" y1=\"\(ly)\" y2=\"\(ly)\" stroke=\"\(color)\" stroke-width=\"2\"/>\n"
                s += "<text x=\"\(w - right + 35)\" y=\"\(ly + 4)\">\(escape(name))</text>\n"
            }
        }
        return s + "</svg>\n"
    }

    public static func heatMap(title: String, matrix: [[Double]], labels: [String]) -> String {
        let n = matrix.count
        let cell = max(6.0, min(48.0, 640.0 / Double(max(n, 1))))
        let left = 60.0, top = 60.0
        let w = left + cell * Double(n) + 40, h = top + cell * Double(n) + 40
        let peak = max(matrix.flatMap { $0 }.max() ?? 1, 1e-9)
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(h))\" font-family=\"sans-serif\" font-size=\"11\">\n"
        s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        s += "<text x=\"10\" y=\"20\" font-size=\"14\">\(escape(title)); rows sources, columns destinations</text>\n"
        for i in 0 ..< n {
            if n <= 32 {
                s += "<text x=\"\(left - 4)\" y=\"\(format(top + cell * (Double(i) + 0.6), digits: 1))\" text-anchor=\"end\">\(escape(labels[i]))</text>\n"
                s += "<text x=\"\(format(left + cell * (Double(i) + 0.5), digits: 1))\" y=\"\(top - 6)\" text-anchor=\"middle\">\(escape(labels[i]))</text>\n"
            }
            for j in 0 ..< n {
                let v = matrix[i][j] / peak
                let shade = Int(255 - 215 * min(max(v, 0), 1))
                s += "<rect x=\"\(format(left + cell * Double(j), digits: 1))\" y=\"\(format(top + cell * Double(i), digits: 1))\" width=\"\(format(cell, digits: 1))\" height=\"\(format(cell, digits: 1))\" fill=\"rgb(\(shade),\(shade),255)\" stroke=\"#eee\"><title>\(escape(labels[i]))->\(escape(labels[j])): \(format(matrix[i][j], digits: 3))</title></rect>\n"
                if cell >= 36 && matrix[i][j] > 0.0005 {
                    s += "<text x=\"\(format(left + cell * (Double(j) + 0.5), digits: 1))\" y=\"\(format(top + cell * (Double(i) + 0.6), digits: 1))\" text-anchor=\"middle\">\(format(matrix[i][j], digits: 2))</text>\n"
                }
            }
        }
        return s + "</svg>\n"
    }
}
