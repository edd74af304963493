// MetricsPlots: the pictures of a run from its metrics records (the JSON-lines file's values):
// class distribution of the training and test sets, the loss curve, per-class recall over epochs.
import FocalFormats
#if canImport(Glibc)
import Glibc
#endif

/// One picture: its file name inside the output directory and its SVG text.
public struct PlotFile: Sendable, Equatable {
    public var name: String
    public var svg: String
}

// MARK: - From records to charts

/// The SVG plots the metrics support, in this order (each only when its records are present):
///   `class_distribution.svg`  bars of `train_counts` and `test_counts` of the "config" record
///                             (the tutorial's bar chart, global counts)
///   `loss.svg`                the training loss of every "epoch" record, against the epoch
///   `recall.svg`              per-class recall of every "eval" record with an epoch, one line
///                             per class (the last record of an epoch wins)
public func metricsPlots(_ metrics: MetricsFile) -> [PlotFile] {
    var out: [PlotFile] = []
    if let c = metrics.config {
        let train = c.trainCounts.map(Double.init)
        let test = (c.testCounts ?? []).map(Double.init)
        let k = max(train.count, test.count)
        var series: [(name: String, values: [Double])] = [("train (\(c.trainCounts.reduce(0, &+)) rows)", train)]
        if !test.isEmpty { series.append(("test (\((c.testCounts ?? []).reduce(0, &+)) rows)", test)) }
        let chart = BarChart(title: "Class distribution", xLabel: "class", yLabel: "rows",
                             categories: (0..<k).map { "class \($0)" }, series: series)
        out.append(PlotFile(name: "class_distribution.svg", svg: chart.svg()))
    }

    if !metrics.epochs.isEmpty {
        let points = metrics.epochs.map { (x: Double($0.epoch), y: $0.loss) }
        var title = "Training loss"
        if let m = metrics.config?.model { title += " (MLP \(m))" }
        let chart = LineChart(title: title, xLabel: "epoch", yLabel: "loss", series: [("loss", points)])
        out.append(PlotFile(name: "loss.svg", svg: chart.svg()))
    }

    // With a validation split the curve follows the validation evaluations (the test split is
    // evaluated once, at the end); without one, the held-out (test) evaluations as before.
    var byEpoch: [(epoch: Double, recall: [Double])] = []
    let onValidation = metrics.evals.contains { $0.split == "val" }
    for r in metrics.evals where (r.split == "val") == onValidation {
        guard let epoch = r.epoch else { continue }
        let e = Double(epoch)
        if let i = byEpoch.firstIndex(where: { $0.epoch == e }) { byEpoch[i].recall = r.recall } else { byEpoch.append((e, r.recall)) }
    }
    if !byEpoch.isEmpty {
        byEpoch.sort { $0.epoch < $1.epoch }
        let k = byEpoch.map(\.recall.count).max() ?? 0
        let series = (0..<k).map { c in
            (name: "class \(c)", points: byEpoch.compactMap { $0.recall.count > c ? (x: $0.epoch, y: $0.recall[c]) : nil })
        }
        let chart = LineChart(title: onValidation ? "Validation recall per class" : "Held-out recall per class", xLabel: "epoch", yLabel: "recall",
                              series: series, yRange: 0...1)
        out.append(PlotFile(name: "recall.svg", svg: chart.svg()))
    }
    // The reliability diagram (two classes): the test split's curves when the run had test rows,
    // else the validation split's.
    let calibration = metrics.calibrations.last { $0.split == "test" } ?? metrics.calibrations.last
    if let c = calibration, let before = c.curveBefore, let after = c.curveAfter {
        func points(_ curve: CalibrationCurve) -> [(x: Double, y: Double)] { zip(curve.probPred, curve.probTrue).map { (x: $0, y: $1) } }
        let chart = LineChart(title: "Reliability (\(c.split == "test" ? "test" : "validation"), 15 bins, T = \(formatFixed(c.temperature, digits: 4)))",
                              xLabel: "mean predicted p1", yLabel: "fraction of class 1",
                              series: [("perfect", [(x: 0, y: 0), (x: 1, y: 1)]), ("before", points(before)), ("after", points(after))],
                              yRange: 0...1)
        out.append(PlotFile(name: "reliability.svg", svg: chart.svg()))
    }
    return out
}

// MARK: - Writing

/// Writes `metricsPlots(_:)` into `dir` (created if missing), each file through
/// `FileIO.replace` (temporary file, fsync, rename). Returns the paths written. Errors name the
/// file or directory: an unusable directory is `.data`, a failed write `.system`.
@discardableResult
public func writePlots(_ metrics: MetricsFile, to dir: String) throws -> [String] {
    let plots = metricsPlots(metrics)
    var created = false
    if mkdir(dir, 0o755) == 0 {
        created = true
    } else if errno != EEXIST {
        throw FileError.check(dir, "cannot create the plot directory (\(errnoText()))")
    }
    var st = stat()
    guard stat(dir, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else { throw FileError.check(dir, "not a directory") }
    // Nothing is left behind on failure: every target is checked before the first is written,
    // and files this call created are removed (with the directory, if it made it) if one fails.
    let paths = plots.map { (dir.hasSuffix("/") ? dir : dir + "/") + $0.name }
    var written: [String] = []
    var new: [String] = []
    do {
        for path in paths { try FileIO.checkWritable(path) }
        for (p, path) in zip(plots, paths) {
            let existed = access(path, F_OK) == 0
            try FileIO.replace(path, with: Array(p.svg.utf8))
            if !existed { new.append(path) }
            written.append(path)
        }
    } catch {
        for path in new { _ = unlink(path) }
        if created { _ = rmdir(dir) }
        throw error
    }
    return written
}
