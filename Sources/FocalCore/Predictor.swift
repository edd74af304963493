// Predictor: class probabilities and predicted classes of a trained model on one rank's rows,
// computed chunk by chunk exactly as `Trainer.evaluate()` computes its logits.
//
// Why chunks matter: an OpenBLAS GEMM's result for a row can change with the number of rows in
// the call (measured for 20x64 to 256x8 layers), so the forward pass must see the very chunks
// training saw. A rank's rows under a full-batch `ChunkPlan` are a contiguous run of whole
// chunks, so cutting its local rows into pieces of `chunkSize` from the start reproduces the
// plan's chunks (only the last chunk of the whole set is short), whatever the number of ranks.

// MARK: - Softmax

/// Row-wise softmax of `logits` `[rows, classes]` row-major into `out` (same shape):
/// `p_j = exp(z_j - max z) / sum_k exp(z_k - max z)` (torch.softmax's max-shifted form), in `T`.
public func softmaxRows<T: TrainScalar>(logits: UnsafePointer<T>, rows: Int, classes k: Int,
                                        into out: UnsafeMutablePointer<T>) {
    for r in 0..<rows {
        let z = logits + r * k, p = out + r * k
        var zmax = z[0]
        for j in 1..<max(k, 1) where z[j] > zmax { zmax = z[j] }
        var s: T = 0
        for j in 0..<k {
            p[j] = T.exp(z[j] - zmax)
            s += p[j]
        }
        for j in 0..<k { p[j] /= s }
    }
}

/// Element-wise logistic sigmoid of `logits` `[rows, classes]` into `out` (same shape), in `T`:
/// `1 / (1 + exp(-z))` for z >= 0 and `exp(z) / (1 + exp(z))` otherwise (no overflow); the scores
/// of a sigmoid-focal model (torchvision's detection heads score each class by its sigmoid).
public func sigmoidRows<T: TrainScalar>(logits: UnsafePointer<T>, rows: Int, classes k: Int,
                                        into out: UnsafeMutablePointer<T>) {
    for i in 0..<(rows * k) {
        let z = logits[i]
        if z >= 0 { out[i] = 1 / (1 + T.exp(-z)) } else { let e = T.exp(z); out[i] = e / (1 + e) }
    }
}

/// How a model's logits become class scores: softmax probabilities, or per-class sigmoids.
public enum ScoreKind: String, Sendable, CaseIterable {
    case softmax, sigmoid
}

extension LossKind {
    /// The scores that match the loss a model was trained with.
    public var scores: ScoreKind { self == .sigmoidFocal ? .sigmoid : .softmax }
}

/// The predicted class of each row of `logits` `[rows, classes]`: the first index of the largest
/// logit (the rule of `Trainer.evaluate()`, hence the same confusion matrix).
public func argmaxRows<T: TrainScalar>(logits: UnsafePointer<T>, rows: Int, classes k: Int,
                                       into out: UnsafeMutablePointer<Int32>) {
    for r in 0..<rows {
        let z = logits + r * k
        var best = 0
        for j in 1..<max(k, 1) where z[j] > z[best] { best = j }
        out[r] = Int32(best)
    }
}

// MARK: - Predictions

/// Probabilities and predicted classes of one rank's rows.
public struct Predictions<T: TrainScalar> {
    /// `[rows, classes]` row-major softmax probabilities, in the model's precision.
    public var probabilities: [T]
    /// `[rows]` argmax of the logits.
    public var predicted: [Int32]
    public var rows: Int { predicted.count }
}

/// Forward passes of `x` (`[rows, shape.features]` row-major, this rank's rows, starting at a
/// chunk boundary of the plan) in chunks of `chunkSize` rows with one `MLPWorkspace` of that
/// capacity; returns softmax probabilities (or per-class sigmoid scores) and the argmax class. With the training run's
/// `chunkSize` and parameters, the predicted classes give `Trainer.evaluate()`'s confusion matrix.
public func probabilities<T: TrainScalar>(shape: MLPShape, params: [T], x: [T], chunkSize: Int,
                                          scores: ScoreKind = .softmax) -> Predictions<T> {
    precondition(params.count == shape.parameterCount,
                 "probabilities: \(params.count) parameters for model \(shape) (\(shape.parameterCount) expected)")
    precondition(chunkSize >= 1 && x.count % max(shape.features, 1) == 0,
                 "probabilities: \(x.count) values are not rows of \(shape.features) features")
    let rows = x.count / shape.features, k = shape.classes
    var probs = [T](repeating: 0, count: rows * k)
    var predicted = [Int32](repeating: 0, count: rows)
    guard rows > 0 else { return Predictions(probabilities: probs, predicted: predicted) }
    probs.withUnsafeMutableBufferPointer { ob in
        predicted.withUnsafeMutableBufferPointer { cb in
            forwardChunks(shape: shape, params: params, x: x, chunkSize: chunkSize) { start, m, logits in
                switch scores {
                case .softmax: softmaxRows(logits: logits, rows: m, classes: k, into: ob.baseAddress! + start * k)
                case .sigmoid: sigmoidRows(logits: logits, rows: m, classes: k, into: ob.baseAddress! + start * k)
                }
                argmaxRows(logits: logits, rows: m, classes: k, into: cb.baseAddress! + start)
            }
        }
    }
    return Predictions(probabilities: probs, predicted: predicted)
}

/// The model's forward pass over `x` `[rows, features]` in chunks of `chunkSize` rows with one
/// `MLPWorkspace` of that capacity (the chunking decides the bits: see above). Calls `body` with
/// each chunk's first row, its row count and its logits `[m, classes]`.
func forwardChunks<T: TrainScalar>(shape: MLPShape, params: [T], x: [T], chunkSize: Int,
                                   _ body: (_ start: Int, _ m: Int, _ logits: UnsafePointer<T>) -> Void) {
    let rows = x.count / max(shape.features, 1)
    guard rows > 0 else { return }
    let workspace = MLPWorkspace<T>(shape: shape, capacity: min(chunkSize, rows))
    params.withUnsafeBufferPointer { pb in
        workspace.load(params: pb.baseAddress!)
        x.withUnsafeBufferPointer { xb in
            var start = 0
            while start < rows {
                let m = min(chunkSize, rows - start)
                workspace.forward(x: xb.baseAddress! + start * shape.features, rows: m)
                body(start, m, workspace.logits)
                start += m
            }
        }
    }
}
