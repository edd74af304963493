// EarlyStopping: `--early-stopping PATIENCE --monitor M --min-delta D` on the validation split.
//
// The rule of Keras' `EarlyStopping` and Lightning's `EarlyStopping` (absolute `min_delta`): an
// evaluation improves when its score beats the best so far by more than `min_delta` (lower for
// the loss, higher for the others); training stops after `patience` evaluations in a row without
// an improvement. Every rank holds the same scores (global sums), so every rank takes the same
// decision. The state travels in checkpoints so a resumed run stops at the same epoch.
import FocalCore
import FocalFormats
import FocalReport

/// `--monitor`.
public enum MonitorMetric: String, CaseIterable, Sendable {
    case loss
    case prAUC = "pr-auc"
    case rocAUC = "roc-auc"
    case balancedAccuracy = "balanced-accuracy"
    case macroF1 = "macro-f1"

    /// True for the loss (smaller is better); false for the scores.
    public var lowerIsBetter: Bool { self == .loss }
    /// Needs the ranking metrics (probabilities of every validation row).
    public var needsRanking: Bool { self == .prAUC || self == .rocAUC }
}

public struct EarlyStoppingConfig: Sendable, Equatable {
    public var patience: Int
    public var monitor: MonitorMetric = .loss
    /// Absolute (Keras, Lightning), >= 0.
    public var minDelta: Double = 0
    public init(patience: Int, monitor: MonitorMetric = .loss, minDelta: Double = 0) {
        self.patience = patience
        self.monitor = monitor
        self.minDelta = minDelta
    }
}

/// Where early stopping stands; identical on every rank.
public struct EarlyStoppingState: Sendable, Equatable {
    /// The best score so far (nil before the first finite one).
    public var bestScore: Double?
    /// The epoch of the best score (-1: none yet).
    public var bestEpoch: Int = -1
    /// Evaluations since the last improvement.
    public var waited: Int = 0
    public init() {}

    /// Records the score of the evaluation after `epoch`; returns true when it improved.
    @discardableResult
    public mutating func observe(_ score: Double, epoch: Int, config: EarlyStoppingConfig) -> Bool {
        let improved: Bool
        if !score.isFinite {
            improved = false
        } else if let best = bestScore {
            improved = config.monitor.lowerIsBetter ? score < best - config.minDelta : score > best + config.minDelta
        } else {
            improved = true
        }
        if improved {
            bestScore = score
            bestEpoch = epoch
            waited = 0
        } else {
            waited += 1
        }
        return improved
    }

    /// True once `patience` evaluations in a row brought no improvement.
    public func shouldStop(_ config: EarlyStoppingConfig) -> Bool { waited >= config.patience }

    // MARK: - In checkpoints

    static let stateTensor = "early_stopping.state", paramsTensor = "early_stopping.best_params"

    /// `[bestScore (NaN: none), bestEpoch, waited]` as float64 (exact for these integers).
    var encoded: [Double] { [bestScore ?? .nan, Double(bestEpoch), Double(waited)] }

    init(encoded v: [Double]) {
        bestScore = v[0].isNaN ? nil : v[0]
        bestEpoch = Int(v[1])
        waited = Int(v[2])
    }
}

/// The monitored score of a validation evaluation. PR-AUC and ROC-AUC: the minority class's
/// (fewest training rows, lower index on a tie) for two classes, the macro mean otherwise.
func monitoredScore(_ monitor: MonitorMetric, result: HeldOutResult, ranking: RankingReport?,
                    trainCounts: [Int64]) -> Double {
    switch monitor {
    case .loss: return result.loss ?? .nan
    case .balancedAccuracy: return EvaluationReport(result).balancedAccuracy
    case .macroF1: return EvaluationReport(result).macroF1
    case .prAUC, .rocAUC:
        guard let r = ranking else { return .nan }
        let values = monitor == .prAUC ? r.averagePrecision : r.rocAUC
        if values.count == 2 { return values[minorityClass(trainCounts)] }
        return values.reduce(0, +) / Double(max(1, values.count))
    }
}

/// The class with the fewest training rows, the lower index on a tie.
public func minorityClass(_ counts: [Int64]) -> Int {
    var best = 0
    for c in counts.indices where counts[c] < counts[best] { best = c }
    return best
}
