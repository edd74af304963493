// Ranking: one-vs-rest ROC-AUC and PR-AUC (average precision) per class from class scores, on one
// rank or over a whole test set spread across ranks (gathered, then computed identically everywhere).
//
// Definitions follow scikit-learn (sklearn/metrics/_ranking.py, `_binary_clf_curve`): the scores
// are sorted in decreasing order and every run of equal scores forms ONE threshold; at threshold
// i, tps_i / fps_i count the positives / negatives scoring at least that value.
//   ROC-AUC (`roc_auc_score`): trapezoid over the distinct thresholds,
//       AUC = sum_i (fps_i - fps_{i-1}) (tps_i + tps_{i-1}) / 2 / (P N),   tps_0 = fps_0 = 0.
//     The sum is exact in integers (twice the area, in units of 1/(P N)); one division rounds it.
//     Dropping collinear points (sklearn's `drop_intermediate`) does not change this sum.
//   Average precision (`average_precision_score`): AP = sum_i (R_i - R_{i-1}) P_i with
//       R_i = tps_i / P, P_i = tps_i / (tps_i + fps_i); computed as (1/P) sum_i (tps_i - tps_{i-1}) P_i.
// A class absent from the labels (P = 0), or covering all of them (N = 0 for ROC), has no defined
// value: it is reported as NaN (written as `null` in JSON), where scikit-learn raises or warns.
import Collectives
import FocalData
import FocalFormats

// MARK: - Report

/// Per-class ranking metrics, one-vs-rest.
public struct RankingReport: Codable, Sendable, Equatable {
    /// `[classes]` ROC-AUC of class c against the rest (NaN when undefined).
    public var rocAUC: [Double]
    /// `[classes]` average precision (PR-AUC) of class c against the rest (NaN when undefined).
    public var averagePrecision: [Double]
    /// Rows scored.
    public var rows: Int

    public init(rocAUC: [Double], averagePrecision: [Double], rows: Int) {
        self.rocAUC = rocAUC
        self.averagePrecision = averagePrecision
        self.rows = rows
    }

    /// `roc_auc` and `pr_auc` arrays, to append to an evaluation record.
    public var jsonFields: [(String, JSON)] {
        [("roc_auc", .array(rocAUC.map { .number($0) })), ("pr_auc", .array(averagePrecision.map { .number($0) }))]
    }

    /// `record` (a JSON object such as `EvaluationReport.json(type:epoch:)`) with `jsonFields` appended.
    public func appended(to record: JSON) -> JSON {
        guard case .object(let fields) = record else { return record }
        return .object(fields + jsonFields)
    }

    /// A table for people: one line per class.
    public func table() -> String {
        func f(_ x: Double) -> String { x.isNaN ? "   n/a" : formatFixed(x, digits: 4) }
        var lines = ["Ranking metrics (one-vs-rest, \(rows) rows):", "  class  ROC-AUC  PR-AUC"]
        for c in 0..<rocAUC.count {
            lines.append("  " + pad(String(c), 5) + "  " + pad(f(rocAUC[c]), 7) + "  " + pad(f(averagePrecision[c]), 6))
        }
        return lines.joined(separator: "\n")
    }
}

// MARK: - One class

/// The distinct-threshold counts of a binary problem: `tps[i]`, `fps[i]` (cumulative positives and
/// negatives with score >= the i-th largest distinct score), each `[distinct scores]`.
func thresholdCounts(scores: [Double], positive: [Bool]) -> (tps: [Int64], fps: [Int64]) {
    precondition(scores.count == positive.count, "thresholdCounts: \(scores.count) scores for \(positive.count) labels")
    // Sort indices by decreasing score; the order inside a tie is irrelevant (only run ends count).
    let order = scores.indices.sorted { scores[$0] > scores[$1] }
    var tps: [Int64] = [], fps: [Int64] = []
    var tp: Int64 = 0, fp: Int64 = 0
    for (k, i) in order.enumerated() {
        if positive[i] { tp += 1 } else { fp += 1 }
        // The end of a run of equal scores is one threshold.
        if k == order.count - 1 || scores[order[k + 1]] != scores[i] {
            tps.append(tp)
            fps.append(fp)
        }
    }
    return (tps, fps)
}

/// ROC-AUC of one binary problem (scikit-learn's `roc_auc_score`); NaN without positives or negatives.
public func rocAUC(scores: [Double], positive: [Bool]) -> Double {
    precondition(!scores.contains { $0.isNaN }, "rocAUC: scores hold NaN")
    let (tps, fps) = thresholdCounts(scores: scores, positive: positive)
    guard let p = tps.last, let n = fps.last, p > 0, n > 0 else { return .nan }
    // Twice the trapezoid area in units of 1/(P N): exact in integers (< 2 P N).
    var twice: Int64 = 0
    var tPrev: Int64 = 0, fPrev: Int64 = 0
    for i in 0..<tps.count {
        twice += (fps[i] - fPrev) * (tps[i] + tPrev)
        tPrev = tps[i]
        fPrev = fps[i]
    }
    return Double(twice) / (2 * Double(p) * Double(n))
}

/// Average precision of one binary problem (scikit-learn's `average_precision_score`); NaN
/// without positives.
public func averagePrecision(scores: [Double], positive: [Bool]) -> Double {
    precondition(!scores.contains { $0.isNaN }, "averagePrecision: scores hold NaN")
    let (tps, fps) = thresholdCounts(scores: scores, positive: positive)
    guard let p = tps.last, p > 0 else { return .nan }
    var sum = 0.0
    var tPrev: Int64 = 0
    for i in 0..<tps.count {
        let dt = tps[i] - tPrev
        if dt > 0 { sum += Double(dt) * (Double(tps[i]) / Double(tps[i] + fps[i])) }
        tPrev = tps[i]
    }
    return sum / Double(p)
}

// MARK: - All classes

/// One-vs-rest ranking metrics of every class. `scores` is `[rows, classes]` row-major (softmax
/// probabilities), `labels` `[rows]` in `0..<classes`. Depends only on the multiset of
/// (score row, label), never on the row order.
public func rankingMetrics(scores: [Double], labels: [Int32], classes: Int) -> RankingReport {
    precondition(classes >= 1 && scores.count == labels.count * classes,
                 "rankingMetrics: \(scores.count) scores for \(labels.count) rows of \(classes) classes")
    var roc: [Double] = [], ap: [Double] = []
    for c in 0..<classes {
        let column = (0..<labels.count).map { scores[$0 * classes + c] }
        let positive = labels.map { Int($0) == c }
        roc.append(rocAUC(scores: column, positive: positive))
        ap.append(averagePrecision(scores: column, positive: positive))
    }
    return RankingReport(rocAUC: roc, averagePrecision: ap, rows: labels.count)
}

// MARK: - Over ranks

/// Ranking metrics over the whole test set held in pieces by the ranks: every rank passes its
/// rows (`probabilities` `[localRows, classes]` row-major, `labels` `[localRows]`); both are
/// gathered with `allgatherv` (in rank order, which is global row order for the chunk plan's
/// contiguous runs) and the metrics are computed on every rank from the same gathered values, so
/// they are bitwise identical on every rank and for any number of ranks. Collective. Memory:
/// every rank holds the whole test set's scores (`rows * classes` doubles) for the call.
public func rankingReport<T: TrainScalar>(comm: Communicator, probabilities: [T], labels: [Int32],
                                          classes: Int) throws -> RankingReport {
    precondition(probabilities.count == labels.count * classes,
                 "rankingReport: \(probabilities.count) probabilities for \(labels.count) rows of \(classes) classes")
    let scores = try comm.allgatherv(probabilities.map { Double($0) }).flatMap { $0 }
    let allLabels = try comm.allgatherv(labels).flatMap { $0 }
    guard scores.count == allLabels.count * classes else {
        throw CommError.sizeMismatch("rankingReport: gathered \(scores.count) scores for \(allLabels.count) labels")
    }
    if let bad = allLabels.first(where: { $0 < 0 || Int($0) >= classes }) {
        throw DataError("rankingReport: label \(bad) outside 0..<\(classes)")
    }
    if scores.contains(where: { $0.isNaN }) {
        throw TrainingError(message: "ranking metrics: the probabilities hold NaN", failureKind: .numeric)
    }
    return rankingMetrics(scores: scores, labels: allLabels, classes: classes)
}
