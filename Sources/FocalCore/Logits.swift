// Logits: the model's logits of one rank's rows, chunk by chunk exactly as `probabilities` and
// `Trainer.evaluate()` compute them (see Predictor.swift for why the chunks matter).

/// `[rows, classes]` logits of `x` `[rows, features]` in chunks of `chunkSize` rows, widened to float64.
public func logitRows<T: TrainScalar>(shape: MLPShape, params: [T], x: [T], chunkSize: Int) -> [Double] {
    precondition(params.count == shape.parameterCount && chunkSize >= 1 && x.count % max(shape.features, 1) == 0,
                 "logitRows: parameters or rows do not fit model \(shape)")
    let rows = x.count / shape.features, k = shape.classes
    var out = [Double](repeating: 0, count: rows * k)
    forwardChunks(shape: shape, params: params, x: x, chunkSize: chunkSize) { start, m, z in
        for i in 0..<(m * k) { out[start * k + i] = Double(z[i]) }
    }
    return out
}
