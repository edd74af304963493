// SVGPlotTests: the plots parse as XML (Foundation's XMLParser) and hold the expected series: one
// bar per class and split with its count, as many loss points as epoch records, one recall line
// per class; nice axis ticks; the JSON reader reads the writer's text back to the same values.
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest
import FocalCore
import FocalReport
import FocalRun
import FocalData
import FocalFormats

/// Collects every element's name and attributes, and the text content of the document.
final class ElementCollector: NSObject, XMLParserDelegate {
    var elements: [(name: String, attributes: [String: String])] = []
    /// Character data in document order, one entry per element's run of text (entities decoded).
    var texts: [String] = []
    private var current = ""
    func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
                qualifiedName qName: String?, attributes attributeDict: [String: String] = [:]) {
        flush()
        elements.append((elementName, attributeDict))
    }
    func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName qName: String?) {
        flush()
    }
    func parser(_ parser: XMLParser, foundCharacters string: String) { current += string }
    private func flush() {
        if !current.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { texts.append(current) }
        current = ""
    }
    func withClass(_ c: String) -> [[String: String]] { elements.filter { $0.attributes["class"] == c }.map(\.attributes) }
}

/// Parses `svg` with XMLParser; fails the test when it is not well-formed XML.
func parseSVG(_ svg: String, _ what: String, file: StaticString = #filePath, line: UInt = #line) -> ElementCollector {
    let parser = XMLParser(data: Data(svg.utf8))
    let collector = ElementCollector()
    parser.delegate = collector
    let ok = parser.parse()
    XCTAssertTrue(ok, "\(what): not well-formed XML: \(String(describing: parser.parserError))", file: file, line: line)
    XCTAssertEqual(collector.elements.first?.name, "svg", "\(what): root element", file: file, line: line)
    return collector
}

final class SVGPlotTests: XCTestCase {
    /// Records like a training run's: 11 logged epochs, 3 evaluations (one repeated at the last
    /// epoch), and the config record with the global class counts; 3 classes.
    func records() throws -> [JSON] {
        var lines: [String] = []
        for e in stride(from: 0, through: 100, by: 10) {
            let epoch = EpochRecord(epoch: e == 100 ? 99 : e, loss: 0.5 / Double(e + 1), lr: 0.001, elapsed: Double(e),
                                    samplesPerSecond: 1000, skippedSteps: 0)
            lines.append(epoch.json.text)
        }
        for (e, c) in [(19, [[50, 3, 1], [4, 20, 2], [1, 1, 8]]), (59, [[51, 2, 1], [3, 22, 1], [1, 0, 9]]),
                       (99, [[52, 1, 1], [2, 23, 1], [0, 0, 10]])] {
            lines.append(EvaluationReport(confusion: c.map { $0.map(Int64.init) }, loss: 0.1).json(epoch: e).text)
        }
        lines.append(#"{"type":"config","version":"0.1.0","train_counts":[640,110,50],"test_counts":[160,27,13],"model":"20-64-3","ranks":2}"#)
        return try JSON.parseLines(lines.joined(separator: "\n") + "\n", source: "test.jsonl")
    }

    func testClassDistributionHasOneBarPerClassAndSplitWithItsCount() throws {
        let plots = metricsPlots(try MetricsFile(records: try records()))
        XCTAssertEqual(plots.map(\.name), ["class_distribution.svg", "loss.svg", "recall.svg"])
        let bars = parseSVG(plots[0].svg, "class distribution").withClass("bar")
        XCTAssertEqual(bars.count, 6, "3 classes x (train, test)")
        var found: [String: [Int]] = [:]
        for b in bars {
            let series = b["data-series"]!.hasPrefix("train") ? "train" : "test"
            found[series, default: []].append(Int(b["data-value"]!)!)
            XCTAssertGreaterThan(Double(b["height"]!)!, 0)
        }
        XCTAssertEqual(found["train"], [640, 110, 50])
        XCTAssertEqual(found["test"], [160, 27, 13])
        XCTAssertEqual(bars.map { $0["data-category"]! }, ["class 0", "class 0", "class 1", "class 1", "class 2", "class 2"])
        // Bar heights are proportional to the counts.
        let h = bars.map { Double($0["height"]!)! }
        XCTAssertEqual(h[0] / h[2], 640.0 / 110.0, accuracy: 0.01)
    }

    func testLossHasAPointPerEpochRecordAndRecallALinePerClass() throws {
        let recs = try records()
        let epochs = recs.filter { $0["type"]?.string == "epoch" }
        let plots = metricsPlots(try MetricsFile(records: recs))
        let loss = parseSVG(plots[1].svg, "loss")
        let points = loss.withClass("point")
        XCTAssertEqual(points.count, epochs.count)
        XCTAssertEqual(points.map { Double($0["data-y"]!)! }, epochs.map { $0["loss"]!.double! })
        XCTAssertEqual(points.map { Double($0["data-x"]!)! }, epochs.map { $0["epoch"]!.double! })
        XCTAssertEqual(loss.elements.filter { $0.name == "polyline" }.count, 1)

        let recall = parseSVG(plots[2].svg, "recall")
        let series = recall.withClass("series")
        XCTAssertEqual(series.map { $0["data-series"]! }, ["class 0", "class 1", "class 2"])
        XCTAssertEqual(series.map { $0["data-points"]! }, ["3", "3", "3"])
        let class2 = recall.withClass("point").filter { $0["data-series"] == "class 2" }.map { Double($0["data-y"]!)! }
        XCTAssertEqual(class2, [0.8, 0.9, 1.0])
    }

    func testOnlyAvailablePlotsAndAtomicFiles() throws {
        // Epoch records only: just the loss plot.
        let recs = try records().filter { $0["type"]?.string == "epoch" }
        XCTAssertEqual(metricsPlots(try MetricsFile(records: recs)).map(\.name), ["loss.svg"])
        let dir = NSTemporaryDirectory() + "focal-svg-\(getpid())-\(UInt64.random(in: 0..<UInt64.max))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let written = try writePlots(try MetricsFile(records: try records()), to: dir)
        XCTAssertEqual(written.map { ($0 as NSString).lastPathComponent }, ["class_distribution.svg", "loss.svg", "recall.svg"])
        let left = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        XCTAssertEqual(left, ["class_distribution.svg", "loss.svg", "recall.svg"], "no temporary files left")
        for p in written {
            let svg = parseSVG(try String(contentsOfFile: p, encoding: .utf8), p)
            XCTAssertGreaterThan(svg.elements.count, 10, "\(p): an almost empty plot")
        }
        XCTAssertThrowsError(try writePlots(try MetricsFile(records: recs), to: written[0])) { e in
            XCTAssertTrue("\(e)".contains(written[0]), "error names the path: \(e)")
        }
    }

    func testNiceTicksAndEscaping() {
        let a = NiceAxis(lo: 0, hi: 0.437)
        XCTAssertEqual(a.ticks, [0, 0.1, 0.2, 0.30000000000000004, 0.4, 0.5].map { $0 })
        XCTAssertEqual(a.ticks.map(a.label), ["0.0", "0.1", "0.2", "0.3", "0.4", "0.5"])
        let b = NiceAxis(lo: 0, hi: 691.2)
        XCTAssertEqual(b.ticks, [0, 200, 400, 600, 800])
        XCTAssertEqual(b.ticks.map(b.label), ["0", "200", "400", "600", "800"])
        let c = NiceAxis(lo: 3, hi: 3)  // degenerate range still gives an axis
        XCTAssertLessThan(c.lower, 3)
        XCTAssertGreaterThan(c.upper, 3)
        let chart = BarChart(title: "a <b> & \"c\"", xLabel: "x", yLabel: "y", categories: ["<0>"], series: [("s&t", [1])])
        // The markup characters are escaped: the document parses and its text reads back unchanged.
        let texts = parseSVG(chart.svg(), "escaped text").texts
        for text in ["a <b> & \"c\"", "<0>", "s&t"] {
            XCTAssertTrue(texts.contains(text), "'\(text)' not read back from the SVG's text: \(texts)")
        }
    }

    func testJSONReaderRoundTripsTheWriter() throws {
        let v: JSON = .object([("a", .number(0.1)), ("b", .int(-3)), ("c", .array([.null, .bool(true), .number(1e-300)])),
                               ("d", .string("q\"\\\n\u{1}é")), ("e", .number(Double(Float(0.3))))])
        let back = try JSON.parse(v.text)
        XCTAssertEqual(back.text, v.text)
        XCTAssertEqual(back["e"]?.double?.bitPattern, Double(Float(0.3)).bitPattern)
        XCTAssertThrowsError(try JSON.parseLines("{\"a\":1}\n{\"a\":}\n", source: "m.jsonl")) { e in
            XCTAssertTrue("\(e)".hasPrefix("m.jsonl:2:"), "\(e)")
        }
    }
}
