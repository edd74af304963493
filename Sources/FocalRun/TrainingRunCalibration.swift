// TrainingRun's calibration and threshold phase: after training (and early stopping's best model),
// on the validation logits gathered in global row order — temperature scaling first, then the
// decision threshold on the calibrated p1 — and at the end the test split's tuned operating point
// and calibration figures. Every rank computes the same bits from the same gathered values.
import Collectives
import FocalCore
import FocalData
import FocalFormats
import FocalReport
#if canImport(Glibc)
import Glibc
#endif

/// What calibration and threshold tuning chose (stored in the model file).
public struct DecisionRule: Sendable, Equatable {
    public var temperature: Double?
    public var threshold: Double?
    public var thresholdRule: String?
    /// How logits become scores: softmax for a softmax-focal model, per-class sigmoids for a
    /// sigmoid-focal one (then p1 is class 1's sigmoid; temperature scaling is refused). Not
    /// stored in the metadata: the model file records its loss.
    public var scores: ScoreKind = .softmax

    /// Model-file metadata keys.
    public static let temperatureKey = "temperature", thresholdKey = "threshold", ruleKey = "threshold_rule"

    public var metadata: [String: String] {
        var m: [String: String] = [:]
        if let temperature { m[Self.temperatureKey] = temperature.description }
        if let threshold { m[Self.thresholdKey] = threshold.description }
        if let thresholdRule { m[Self.ruleKey] = thresholdRule }
        return m
    }

    /// The rule stored in a model file's metadata; throws when a value is malformed.
    public static func from(metadata: [String: String], classes: Int, path: String) throws -> DecisionRule {
        var r = DecisionRule()
        if let t = metadata[temperatureKey] {
            guard let v = Double(t), v.isFinite, v > 0 else { throw DataError("\(path): metadata temperature '\(t)' is not a number > 0") }
            r.temperature = v
        }
        if let t = metadata[thresholdKey] {
            guard let v = Double(t), v >= 0, v <= 1 else { throw DataError("\(path): metadata threshold '\(t)' is not in [0, 1]") }
            guard classes == 2 else { throw DataError("\(path): a threshold is stored for a \(classes)-class model") }
            r.threshold = v
        }
        r.thresholdRule = metadata[ruleKey]
        return r
    }

    /// Calibrated probabilities `[rows, classes]` (float64) and classes `[rows]` from logits: the
    /// threshold rule (class 1 if p1 >= t) when a threshold is set, else the first argmax.
    public func apply(logits: [Double], classes k: Int) -> (probabilities: [Double], predicted: [Int32]) {
        let p = probabilities(logits: logits, classes: k)
        let rows = k > 0 ? logits.count / k : 0
        var c = [Int32](repeating: 0, count: rows)
        for r in 0..<rows {
            if let t = threshold {
                c[r] = p[r * k + 1] >= t ? 1 : 0
            } else {
                var best = 0
                for j in 1..<max(k, 1) where logits[r * k + j] > logits[r * k + best] { best = j }
                c[r] = Int32(best)
            }
        }
        return (p, c)
    }

    /// Scores `[rows, classes]` in float64: softmax(logits / T) (T = 1 without calibration), or
    /// each logit's sigmoid for a sigmoid model.
    public func probabilities(logits: [Double], classes k: Int) -> [Double] {
        switch scores {
        case .softmax: return softmax64(logits: logits, classes: k, temperature: temperature ?? 1)
        case .sigmoid: return logits.map { z in z >= 0 ? 1 / (1 + Glibc.exp(-z)) : Glibc.exp(z) / (1 + Glibc.exp(z)) }
        }
    }
}

extension TrainingRun {
    /// Logits `[rows, classes]` and labels of rows held in pieces by the ranks, gathered in rank
    /// order (global row order for a full-batch plan). Collective.
    func gatheredLogits(_ params: [T], shape: MLPShape, x: [T], y: [Int32]) throws -> (logits: [Double], labels: [Int32]) {
        let z = logitRows(shape: shape, params: params, x: x, chunkSize: config.train.chunkSize)
        let all = try comm.allgatherv(z).flatMap { $0 }
        let labels = try comm.allgatherv(y).flatMap { $0 }
        return (all, labels)
    }

    /// `--calibrate` and `--tune-threshold` on the validation split (every rank).
    func calibrateAndTune(_ trainer: Trainer<T>, shape: MLPShape) throws {
        let r = config.realData
        guard r.calibrateTemperature || r.tuneThreshold != nil, let validation else { return }
        let k = shape.classes
        decision.scores = config.train.loss.scores
        let v = try gatheredLogits(trainer.params, shape: shape, x: validation.testX, y: validation.testY)
        try comm.agree {
            if v.logits.contains(where: { !$0.isFinite }) {
                throw TrainingError(message: "calibration: the validation logits hold a non-finite value", failureKind: .numeric)
            }
        }
        if r.calibrateTemperature {
            let t = fitTemperature(logits: v.logits, labels: v.labels, classes: k)
            decision.temperature = t
            records.append(try calibrationRecord(split: "val", logits: v.logits, labels: v.labels, classes: k, temperature: t))
            let before = CalibrationFigures(probabilities: softmax64(logits: v.logits, classes: k), labels: v.labels, classes: k)
            let after = CalibrationFigures(probabilities: softmax64(logits: v.logits, classes: k, temperature: t), labels: v.labels, classes: k)
            log.summary("Temperature scaling on validation (\(v.labels.count) rows): T = \(t); log loss \(formatFixed(before.logLoss, digits: 4)) -> \(formatFixed(after.logLoss, digits: 4)), Brier \(formatFixed(before.brier, digits: 4)) -> \(formatFixed(after.brier, digits: 4)), ECE \(formatFixed(before.ece, digits: 4)) -> \(formatFixed(after.ece, digits: 4))")
        }
        if let objective = r.tuneThreshold {
            let p = decision.probabilities(logits: v.logits, classes: k)
            let p1 = (0..<v.labels.count).map { p[$0 * k + 1] }
            if let point = chooseThreshold(p1: p1, labels: v.labels, objective: objective) {
                decision.threshold = point.threshold
                decision.thresholdRule = objective.description
                log.summary("Decision threshold (\(objective), on validation): class 1 if p1 >= \(point.threshold): precision \(formatFixed(point.precision, digits: 4)), recall \(formatFixed(point.recall, digits: 4)), F1 \(formatFixed(point.f1, digits: 4)), balanced accuracy \(formatFixed(point.balancedAccuracy, digits: 4))")
                records.append(operatingPointRecord(point, split: "val", rule: objective.description))
            } else {
                log.summary("Decision threshold (\(objective)): no validation threshold meets the constraint; the model keeps the argmax rule")
            }
        }
    }

    /// The test split's tuned operating point and calibration figures (after the argmax table).
    func evaluateDecisionRule(_ trainer: Trainer<T>, data: LocalData<T>, shape: MLPShape) throws {
        guard decision.temperature != nil || decision.threshold != nil, data.globalTestRows > 0 else { return }
        let k = shape.classes
        let test = try gatheredLogits(trainer.params, shape: shape, x: data.testX, y: data.testY)
        if let t = decision.temperature {
            records.append(try calibrationRecord(split: "test", logits: test.logits, labels: test.labels, classes: k, temperature: t))
            let before = CalibrationFigures(probabilities: softmax64(logits: test.logits, classes: k), labels: test.labels, classes: k)
            let after = CalibrationFigures(probabilities: softmax64(logits: test.logits, classes: k, temperature: t), labels: test.labels, classes: k)
            log.summary("Calibration on test (T = \(t)): log loss \(formatFixed(before.logLoss, digits: 4)) -> \(formatFixed(after.logLoss, digits: 4)), Brier \(formatFixed(before.brier, digits: 4)) -> \(formatFixed(after.brier, digits: 4)), ECE \(formatFixed(before.ece, digits: 4)) -> \(formatFixed(after.ece, digits: 4))")
        }
        if let t = decision.threshold {
            let predicted = decision.apply(logits: test.logits, classes: k).predicted
            var c: [Int64] = [0, 0, 0, 0]  // tn, fp, fn, tp
            for (y, p) in zip(test.labels, predicted) { c[Int(y) * 2 + Int(p)] += 1 }
            let point = OperatingPoint(threshold: t, tp: c[3], fp: c[1], tn: c[0], fn: c[2])
            let report = EvaluationReport(confusion: [[c[0], c[1]], [c[2], c[3]]])
            log.summary("Tuned operating point (class 1 if p1 >= \(t), \(decision.thresholdRule ?? "")):")
            log.summary(report.table())
            records.append(operatingPointRecord(point, split: "test", rule: decision.thresholdRule ?? ""))
        }
    }

    private func calibrationRecord(split: String, logits: [Double], labels: [Int32], classes k: Int, temperature t: Double) throws -> JSON {
        let before = softmax64(logits: logits, classes: k), after = softmax64(logits: logits, classes: k, temperature: t)
        let enc = JSONValueEncoder()
        var fields: [(String, JSON)] = [("type", .string("calibration")), ("split", .string(split)), ("method", .string("temperature")),
                                        ("temperature", .number(t)), ("rows", .int(Int64(labels.count))),
                                        ("before", try enc.encode(CalibrationFigures(probabilities: before, labels: labels, classes: k))),
                                        ("after", try enc.encode(CalibrationFigures(probabilities: after, labels: labels, classes: k)))]
        if k == 2 {
            func p1(_ p: [Double]) -> [Double] { (0..<labels.count).map { p[$0 * 2 + 1] } }
            fields.append(("curve_before", try enc.encode(CalibrationCurve(labels: labels, p1: p1(before)))))
            fields.append(("curve_after", try enc.encode(CalibrationCurve(labels: labels, p1: p1(after)))))
        }
        return .object(fields)
    }

    private func operatingPointRecord(_ p: OperatingPoint, split: String, rule: String) -> JSON {
        .object([("type", .string("threshold")), ("split", .string(split)), ("rule", .string(rule)),
                 ("threshold", .number(p.threshold)), ("tp", .int(p.tp)), ("fp", .int(p.fp)), ("tn", .int(p.tn)), ("fn", .int(p.fn)),
                 ("precision", .number(p.precision)), ("recall", .number(p.recall)), ("f1", .number(p.f1)),
                 ("balanced_accuracy", .number(p.balancedAccuracy))])
    }
}
