// TrainingRun's early stopping: the decision after each validation evaluation, the state in
// checkpoints, and the best model at the end (see EarlyStopping.swift for the rule).
import Collectives
import FocalCore
import FocalData
import FocalFormats
import FocalReport

extension TrainingRun {
    /// After a validation evaluation (every rank): scores it, keeps the best parameters, and asks
    /// the trainer to stop after this epoch once the patience is used up.
    func earlyStoppingStep(_ trainer: Trainer<T>, epoch: Int, result: HeldOutResult, data: LocalData<T>,
                           shape: MLPShape) throws {
        guard let es = config.realData.earlyStopping, let validation = validation else { return }
        var ranking: RankingReport? = nil
        if es.monitor.needsRanking {
            let p = probabilities(shape: shape, params: trainer.params, x: validation.testX, chunkSize: config.train.chunkSize)
            ranking = try rankingReport(comm: comm, probabilities: p.probabilities, labels: validation.testY, classes: validation.classes)
        }
        let score = monitoredScore(es.monitor, result: result, ranking: ranking, trainCounts: data.trainCounts)
        if stopping.observe(score, epoch: epoch, config: es) { bestParams = trainer.params }
        if stopping.shouldStop(es) {
            trainer.stopAfterThisEpoch = true
            stoppedEpoch = epoch
        }
    }

    /// The checkpoint tensors of the early-stopping state (none without early stopping).
    func earlyStoppingTensors() -> [String: SafetensorsFile.Tensor] {
        guard config.realData.earlyStopping != nil else { return [:] }
        var out: [String: SafetensorsFile.Tensor] = [
            EarlyStoppingState.stateTensor: .init(shape: [3], doubles: stopping.encoded)]
        if let best = bestParams {
            if let f = best as? [Float] {
                out[EarlyStoppingState.paramsTensor] = .init(shape: [best.count], floats: f)
            } else {
                out[EarlyStoppingState.paramsTensor] = .init(shape: [best.count], doubles: best.map { Double($0) })
            }
        }
        return out
    }

    /// Restores the early-stopping state of a checkpoint (read by rank 0) on every rank.
    func restoreEarlyStopping(_ resumed: CheckpointState<T>?, count: Int) throws {
        guard config.realData.earlyStopping != nil, resumed != nil else { return }
        let local: (state: [Double], best: [T]?)? = try comm.agree {
            guard comm.rank == 0, let extra = resumed?.extra else { return nil }
            guard let t = extra[EarlyStoppingState.stateTensor], let v = t.doubleValues(), v.count == 3 else {
                throw DataError("--resume \(config.resume ?? ""): the checkpoint holds no early-stopping state (written without --early-stopping?)")
            }
            var best: [T]? = nil
            if let b = extra[EarlyStoppingState.paramsTensor] {
                guard let d = b.doubleValues(), d.count == count else {
                    throw DataError("--resume \(config.resume ?? ""): malformed early-stopping parameters")
                }
                best = d.map { T($0) }
            }
            return (v, best)
        }
        var state = local?.state ?? [0, 0, 0]
        try comm.broadcast(&state, root: 0)
        var flag: [Int64] = [local?.best != nil ? 1 : 0]
        try comm.broadcast(&flag, root: 0)
        var best = local?.best ?? [T](repeating: 0, count: count)
        if flag[0] == 1 { try comm.broadcast(&best, root: 0) }
        stopping = EarlyStoppingState(encoded: state)
        bestParams = flag[0] == 1 ? best : nil
    }

    /// After training: puts the best parameters in place (the saved model and the test
    /// evaluation are the best evaluation's), prints and records which epoch that was.
    func finishEarlyStopping(_ trainer: Trainer<T>) throws {
        guard let es = config.realData.earlyStopping else { return }
        let s = stopping
        if let best = bestParams { trainer.params = best }
        let stopped = stoppedEpoch
        let score = s.bestScore.map { formatFixed($0, digits: 6) } ?? "none"
        log.summary("Early stopping (\(es.monitor.rawValue), patience \(es.patience), min delta \(es.minDelta)): best validation \(es.monitor.rawValue) \(score) after epoch \(s.bestEpoch); " +
                    (stopped.map { "stopped after epoch \($0)" } ?? "ran all \(config.train.epochs) epochs") + "; the saved model is epoch \(s.bestEpoch)'s")
        var fields: [(String, JSON)] = [("type", .string("early_stopping")), ("monitor", .string(es.monitor.rawValue)),
                                        ("patience", .int(Int64(es.patience))), ("min_delta", .number(es.minDelta)),
                                        ("best_epoch", .int(Int64(s.bestEpoch)))]
        fields.append(("best_score", s.bestScore.map { JSON.number($0) } ?? .null))
        fields.append(("stopped_epoch", stopped.map { JSON.int(Int64($0)) } ?? .null))
        records.append(.object(fields))
    }
}
