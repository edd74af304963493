// MLP: a ReLU multilayer perceptron over one flat parameter buffer, forward and backward per chunk
// through BLAS, with preallocated workspaces (no allocation in the step loop).
//
// Layout follows PyTorch's `nn.Sequential(Linear, ReLU, Linear, ..., Linear)`: layer l holds
// weight `[out_l, in_l]` (row-major) then bias `[out_l]`, consecutively, layer after layer, which
// is also the order of the state dict (`0.weight`, `0.bias`, `2.weight`, ...).

import FocalData  // SplitMix64

// MARK: - Shape

public struct MLPShape: Codable, Sendable, Equatable, CustomStringConvertible {
    public var features: Int
    public var hidden: [Int]
    public var classes: Int

    public init(features: Int, hidden: [Int], classes: Int) {
        self.features = features
        self.hidden = hidden
        self.classes = classes
    }

    /// Widths `features, hidden..., classes`.
    public var widths: [Int] { [features] + hidden + [classes] }
    public var layerCount: Int { hidden.count + 1 }
    public func inputs(_ l: Int) -> Int { widths[l] }
    public func outputs(_ l: Int) -> Int { widths[l + 1] }

    /// Offset of layer l's weight `[out, in]` in the flat buffer.
    public func weightOffset(_ l: Int) -> Int {
        (0..<l).reduce(0) { $0 + outputs($1) * (inputs($1) + 1) }
    }
    /// Offset of layer l's bias `[out]`.
    public func biasOffset(_ l: Int) -> Int { weightOffset(l) + outputs(l) * inputs(l) }
    public var parameterCount: Int { weightOffset(layerCount) }

    /// PyTorch state-dict names (`nn.Sequential` puts ReLUs at odd indices).
    public func weightName(_ l: Int) -> String { "\(2 * l).weight" }
    public func biasName(_ l: Int) -> String { "\(2 * l).bias" }

    /// Multiply-adds of one row's forward pass (a backward pass costs twice that).
    public var macsPerRow: Int { (0..<layerCount).reduce(0) { $0 + inputs($1) * outputs($1) } }

    public var description: String { widths.map(String.init).joined(separator: "-") }
}

// MARK: - Initialisation

/// PyTorch's `nn.Linear` default initialisation: `kaiming_uniform_(a=sqrt(5))` on the weight,
/// which is uniform in ±1/sqrt(fan_in), and the bias uniform in ±1/sqrt(fan_in) as well
/// (torch/nn/modules/linear.py, `reset_parameters`). Drawn from SplitMix64 keyed by `seed`, in
/// layer order, so every rank builds the same parameters without communicating. (The values are
/// not PyTorch's: its generator is not reproduced; use `--init` to start from PyTorch's.)
public func initialParameters<T: TrainScalar>(_ shape: MLPShape, seed: UInt64, as: T.Type = T.self) -> [T] {
    var p = [T](repeating: 0, count: shape.parameterCount)
    var rng = SplitMix64(state: seed &+ 0x9E37_79B9_7F4A_7C15)
    func next() -> Double { Double(rng.next() >> 11) * 0x1.0p-53 }  // 53-bit uniform in [0, 1)
    for l in 0..<shape.layerCount {
        let bound = 1.0 / Double(shape.inputs(l)).squareRoot()
        let w = shape.weightOffset(l)
        for i in 0..<(shape.outputs(l) * shape.inputs(l)) { p[w + i] = T(bound * (2 * next() - 1)) }
        let b = shape.biasOffset(l)
        for i in 0..<shape.outputs(l) { p[b + i] = T(bound * (2 * next() - 1)) }
    }
    return p
}

// MARK: - Workspace and passes

/// Buffers for one chunk of at most `capacity` rows, allocated once (manually managed so the
/// passes can hand raw pointers to BLAS without copies or exclusivity checks).
public final class MLPWorkspace<T: TrainScalar> {
    public let shape: MLPShape
    public let capacity: Int
    /// `activations[l]`: `[capacity, outputs(l)]` row-major: ReLU output of hidden layer l, or
    /// the logits for the last layer.
    let activations: [UnsafeMutablePointer<T>]
    /// Two `[capacity, max width]` buffers for the backward pass (gradient w.r.t. a layer output).
    let deltaA: UnsafeMutablePointer<T>
    let deltaB: UnsafeMutablePointer<T>
    /// `[capacity]` ones, for bias gradients as a GEMV.
    let ones: UnsafeMutablePointer<T>
    /// `weightsT[l]`: `[inputs(l), outputs(l)]` row-major, layer l's weight transposed, and
    /// `biases[l]` `[outputs(l)]`: the parameters of the forward passes since the last `load`.
    let weightsT: [UnsafeMutablePointer<T>]
    let biases: [UnsafeMutablePointer<T>]
    /// Whether `load` has run (the forward pass reads only the loaded copy).
    private var loaded = false

    public init(shape: MLPShape, capacity: Int) {
        precondition(capacity >= 1, "MLPWorkspace: capacity must be at least 1")
        self.shape = shape
        self.capacity = capacity
        activations = (0..<shape.layerCount).map { l in
            let p = UnsafeMutablePointer<T>.allocate(capacity: capacity * shape.outputs(l))
            p.initialize(repeating: 0, count: capacity * shape.outputs(l))
            return p
        }
        let maxWidth = shape.widths.max() ?? 1
        deltaA = .allocate(capacity: capacity * maxWidth)
        deltaA.initialize(repeating: 0, count: capacity * maxWidth)
        deltaB = .allocate(capacity: capacity * maxWidth)
        deltaB.initialize(repeating: 0, count: capacity * maxWidth)
        ones = .allocate(capacity: capacity)
        ones.initialize(repeating: 1, count: capacity)
        weightsT = (0..<shape.layerCount).map { l in
            let p = UnsafeMutablePointer<T>.allocate(capacity: shape.inputs(l) * shape.outputs(l))
            p.initialize(repeating: 0, count: shape.inputs(l) * shape.outputs(l))
            return p
        }
        biases = (0..<shape.layerCount).map { l in
            let p = UnsafeMutablePointer<T>.allocate(capacity: shape.outputs(l))
            p.initialize(repeating: 0, count: shape.outputs(l))
            return p
        }
    }

    deinit {
        for p in activations { p.deallocate() }
        deltaA.deallocate()
        deltaB.deallocate()
        ones.deallocate()
        for p in weightsT { p.deallocate() }
        for p in biases { p.deallocate() }
    }

    /// Logits of the last forward pass: `[rows, classes]` row-major.
    public var logits: UnsafeMutablePointer<T> { activations[shape.layerCount - 1] }

    /// Takes `params` (`[parameterCount]`, the flat layout above) for the forward passes that
    /// follow, until the next `load`: each weight `[out, in]` is stored transposed, `[in, out]`, so
    /// the forward GEMM reads both operands untransposed. Measured on OpenBLAS 0.3.21 (SkylakeX
    /// kernels, one chunk of 256 rows of the large configuration, scripts/gemm_shapes.c,
    /// docs/bench-2026-11-30-gemm-forward.txt): 294.5 µs for the three layers against 322.7 µs
    /// with the weight transposed by the GEMM; the copy, once per step, took 0.35 % of the
    /// samples of a 1-rank focal-bench run in `perf` (docs/bench-2026-11-30-perf-shares.txt).
    /// The products are the same sums in the same order (bit-identical on OpenBLAS's Prescott to
    /// Zen kernels; its AVX-512 kernels route some small shapes through other code, so their bits
    /// may differ from the transposed call's: docs/DETERMINISM.md).
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public func load(params: UnsafePointer<T>) {
        for l in 0..<shape.layerCount {
            transpose(params + shape.weightOffset(l), rows: shape.outputs(l), columns: shape.inputs(l), into: weightsT[l])
            biases[l].update(from: params + shape.biasOffset(l), count: shape.outputs(l))
        }
        loaded = true
    }

    /// `load(params:)` then `forward(x:rows:)`, for a single pass (the copy is then not amortised).
    public func forward(params: UnsafePointer<T>, x: UnsafePointer<T>, rows m: Int) {
        load(params: params)
        forward(x: x, rows: m)
    }

    /// Forward pass of `rows` rows of `x` (`[rows, features]` row-major) with the parameters of the
    /// last `load`. Each layer: `out = x · Wᵀ + b` (bias pre-filled, GEMM with beta 1, as torch's
    /// addmm; `Wᵀ` is the loaded `[in, out]` copy), ReLU on hidden layers. Results land in
    /// `activations`; the logits in `logits`.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public func forward(x: UnsafePointer<T>, rows m: Int) {
        precondition(m <= capacity, "MLPWorkspace.forward: \(m) rows exceed capacity \(capacity)")
        precondition(loaded, "MLPWorkspace.forward: no parameters loaded")
        guard m > 0 else { return }
        let L = shape.layerCount
        for l in 0..<L {
            let nIn = shape.inputs(l), nOut = shape.outputs(l)
            let out = activations[l]
            let input: UnsafePointer<T> = l == 0 ? x : UnsafePointer(activations[l - 1])
            let b = UnsafePointer(biases[l])
            for r in 0..<m { (out + r * nOut).update(from: b, count: nOut) }
            T.gemm(transA: false, transB: false, m: m, n: nOut, k: nIn, alpha: 1, a: input, lda: nIn,
                   b: weightsT[l], ldb: nOut, beta: 1, c: out, ldc: nOut)
            if l < L - 1 {
                // ReLU without branches (a mispredicted branch per element cost ~20% of a step);
                // Swift.max(x, 0) keeps NaN, so non-finite values are still caught downstream.
                for i in 0..<(m * nOut) { out[i] = Swift.max(out[i], 0) }
            }
        }
    }

    /// Backward pass for the last forward pass. `dLogits` is `[rows, classes]` (gradient of the
    /// chunk's loss sum w.r.t. the logits). Writes the chunk's parameter gradient into `grad`
    /// (overwriting, `[parameterCount]`). Per layer (row-major, X = layer input, dY = output grad):
    /// `dW = dYᵀ · X` `[out, in]`, `db = dYᵀ · 1` `[out]`, `dX = (dY · W) ⊙ ReLU'`.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public func backward(params: UnsafePointer<T>, x: UnsafePointer<T>, rows m: Int,
                         dLogits: UnsafePointer<T>, grad: UnsafeMutablePointer<T>) {
        guard m > 0 else {
            grad.update(repeating: 0, count: shape.parameterCount)
            return
        }
        var cur = deltaA, next = deltaB
        cur.update(from: dLogits, count: m * shape.classes)
        for l in stride(from: shape.layerCount - 1, through: 0, by: -1) {
            let nIn = shape.inputs(l), nOut = shape.outputs(l)
            let input: UnsafePointer<T> = l == 0 ? x : UnsafePointer(activations[l - 1])
            // dW[out, in] = dYᵀ[out, m] · X[m, in]
            T.gemm(transA: true, transB: false, m: nOut, n: nIn, k: m, alpha: 1, a: cur, lda: nOut,
                   b: input, ldb: nIn, beta: 0, c: grad + shape.weightOffset(l), ldc: nIn)
            // db[out] = dYᵀ[out, m] · 1[m]
            T.gemvT(m: m, n: nOut, alpha: 1, a: cur, lda: nOut, x: ones, beta: 0, y: grad + shape.biasOffset(l))
            if l > 0 {
                // dX[m, in] = dY[m, out] · W[out, in], masked where the ReLU output was 0.
                T.gemm(transA: false, transB: false, m: m, n: nIn, k: nOut, alpha: 1, a: cur, lda: nOut,
                       b: params + shape.weightOffset(l), ldb: nIn, beta: 0, c: next, ldc: nIn)
                let act = activations[l - 1]
                // ReLU' as a multiply by 0 or 1 (branch-free); next is finite wherever act is.
                for i in 0..<(m * nIn) { next[i] = next[i] * (act[i] > 0 ? 1 : 0) }
                swap(&cur, &next)
            }
        }
    }
}

/// `dst[c, r] = src[r, c]`: `src` `[rows, columns]` row-major into `dst` `[columns, rows]`, in
/// 16 x 16 tiles (both sides stay in cache lines the tile has touched).
@_specialize(where T == Float)
@_specialize(where T == Double)
func transpose<T>(_ src: UnsafePointer<T>, rows: Int, columns: Int, into dst: UnsafeMutablePointer<T>) {
    let tile = 16
    var r0 = 0
    while r0 < rows {
        let r1 = min(r0 + tile, rows)
        var c0 = 0
        while c0 < columns {
            let c1 = min(c0 + tile, columns)
            for r in r0..<r1 {
                for c in c0..<c1 { dst[c * rows + r] = src[r * columns + c] }
            }
            c0 = c1
        }
        r0 = r1
    }
}
