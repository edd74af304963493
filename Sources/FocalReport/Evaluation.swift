// Evaluation: classification metrics from a global confusion matrix (scikit-learn's definitions).
//
// precision_c = TP / predicted_c, recall_c = TP / actual_c, F1_c = 2PR / (P + R), each 0 when its
// denominator is 0 (sklearn's zero_division=0 outcome); accuracy = trace / total; balanced
// accuracy = mean recall over classes present in the truth (sklearn.metrics.balanced_accuracy_score);
// macro F1 = mean F1 over all classes (f1_score(average="macro")).

public struct ClassMetrics: Codable, Sendable, Equatable {
    public var precision: Double
    public var recall: Double
    public var f1: Double
    public var support: Int64
}

import FocalCore

public struct EvaluationReport: Codable, Sendable, Equatable {
    /// `[classes][classes]`: rows are true classes, columns predicted classes.
    public var confusion: [[Int64]]
    public var accuracy: Double
    public var balancedAccuracy: Double
    public var macroF1: Double
    public var perClass: [ClassMetrics]
    /// Rows evaluated.
    public var rows: Int64
    /// The loss on these rows under the run's reduction (nil if not computed).
    public var loss: Double?

    /// Derives every metric from a confusion matrix.
    public init(confusion: [[Int64]], loss: Double? = nil) {
        self.confusion = confusion
        self.loss = loss
        let k = confusion.count
        let total = confusion.reduce(0) { $0 + $1.reduce(0, +) }
        rows = total
        var trace: Int64 = 0
        var classes: [ClassMetrics] = []
        var recallSum = 0.0, present = 0, f1Sum = 0.0
        for c in 0..<k {
            let tp = confusion[c][c]
            trace += tp
            let actual = confusion[c].reduce(0, +)
            let predicted = (0..<k).reduce(Int64(0)) { $0 + confusion[$1][c] }
            let p = predicted > 0 ? Double(tp) / Double(predicted) : 0
            let r = actual > 0 ? Double(tp) / Double(actual) : 0
            let f = p + r > 0 ? 2 * p * r / (p + r) : 0
            classes.append(ClassMetrics(precision: p, recall: r, f1: f, support: actual))
            if actual > 0 { recallSum += r; present += 1 }
            f1Sum += f
        }
        perClass = classes
        accuracy = total > 0 ? Double(trace) / Double(total) : 0
        balancedAccuracy = present > 0 ? recallSum / Double(present) : 0
        macroF1 = k > 0 ? f1Sum / Double(k) : 0
    }

    /// A compact table for people.
    public func table() -> String {
        func f(_ x: Double) -> String { formatFixed(x, digits: 4) }
        var lines: [String] = []
        lines.append("Held-out evaluation (\(rows) rows): accuracy \(f(accuracy)), balanced accuracy \(f(balancedAccuracy)), macro F1 \(f(macroF1))" + (loss.map { ", loss \(formatFixed($0, digits: 6))" } ?? ""))
        lines.append("  class  precision  recall      F1  support")
        for (c, m) in perClass.enumerated() {
            lines.append("  " + pad(String(c), 5) + "  " + pad(f(m.precision), 9) + "  " + pad(f(m.recall), 6) + "  " + pad(f(m.f1), 6) + "  " + pad(String(m.support), 7))
        }
        let k = confusion.count
        let width = max(5, (confusion.flatMap { $0 }.map { String($0).count }.max() ?? 1) + 1)
        lines.append("  confusion (rows true, columns predicted):")
        lines.append("  " + pad("", 5) + (0..<k).map { pad("p\($0)", width) }.joined())
        for c in 0..<k {
            lines.append("  " + pad("t\(c)", 5) + confusion[c].map { pad(String($0), width) }.joined())
        }
        return lines.joined(separator: "\n")
    }
}

extension EvaluationReport {
    /// Every metric of a trainer's held-out result.
    public init(_ result: HeldOutResult) {
        self.init(confusion: result.confusion, loss: result.loss)
    }
}
