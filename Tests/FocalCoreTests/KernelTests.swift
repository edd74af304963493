// KernelTests: focal loss vs PyTorch autograd fixtures and finite differences; Adam vs the formula;
// BLAS forward/backward vs naive reference kernels.
import XCTest
import FocalCore
import FocalReport
import FocalRun
import FocalData
import FocalFormats

final class FocalLossTests: XCTestCase {
    /// Every case of focal_grad_cases.json (torch autograd, float64): per-row loss, reduced loss and
    /// d(loss)/d(logits). Tolerance as the fixture states: |a - b| <= 1e-12 + 1e-6 |b|.
    func testAgainstTorchAutograd() throws {
        let file = try Fixtures.json("focal_grad_cases.json")
        let cases = file["cases"] as! [[String: Any]]
        XCTAssertGreaterThanOrEqual(cases.count, 24)
        var worst = 0.0
        for c in cases {
            let k = c["classes"] as! Int
            let gamma = c["gamma"] as! Double
            let reduction = LossReduction(rawValue: c["reduction"] as! String)!
            let alpha = c["alpha"] as! [Double]
            let logits = (c["logits"] as! [[Double]]).flatMap { $0 }
            let targets = (c["targets"] as! [Int]).map(Int32.init)
            let rows = targets.count
            var d = [Double](repeating: .nan, count: rows * k)
            let sums = logits.withUnsafeBufferPointer { z in
                targets.withUnsafeBufferPointer { t in
                    alpha.withUnsafeBufferPointer { a in
                        d.withUnsafeMutableBufferPointer { g in
                            focalLossSums(logits: z.baseAddress!, targets: t.baseAddress!, rows: rows, classes: k,
                                          alpha: a.baseAddress!, gamma: gamma, dLogits: g.baseAddress!)
                        }
                    }
                }
            }
            let divisor = lossDivisor(reduction, rows: rows, weightSum: sums.weight)
            let loss = sums.loss / divisor
            let grad = d.map { $0 / divisor }
            let refGrad = (c["grad"] as! [[Double]]).flatMap { $0 }
            let refLoss = c["loss"] as! Double
            func err(_ a: Double, _ b: Double) -> Double { abs(a - b) / (1e-12 + 1e-6 * abs(b)) }
            worst = max(worst, err(loss, refLoss))
            for (a, b) in zip(grad, refGrad) {
                XCTAssertTrue(a.isFinite, "gamma \(gamma): non-finite gradient")
                worst = max(worst, err(a, b))
            }
        }
        print("focal loss vs torch autograd: worst |a-b| / (1e-12 + 1e-6|b|) = \(worst) (must be <= 1)")
        XCTAssertLessThanOrEqual(worst, 1)
    }

    /// gamma < 1 at pt == 1 exactly: the gradient is finite (0), not NaN (the autograd trap).
    func testGradientFiniteAtCertainty() {
        for gamma in [0.0, 0.25, 0.5, 0.999, 1, 2, 5] {
            for T in [Float.self, Double.self] as [Any.Type] {
                if T == Float.self {
                    let z: [Float] = [100, -100, 3, -50]
                    var d = [Float](repeating: .nan, count: 4)
                    let s = run(z, [0, 1], Float(gamma), &d)
                    XCTAssertTrue(d.allSatisfy { $0.isFinite }, "float32 gamma \(gamma): \(d)")
                    XCTAssertTrue(s.loss.isFinite)
                } else {
                    let z: [Double] = [800, -800, 3, -50]
                    var d = [Double](repeating: .nan, count: 4)
                    let s = run(z, [0, 1], gamma, &d)
                    XCTAssertTrue(d.allSatisfy { $0.isFinite }, "float64 gamma \(gamma): \(d)")
                    XCTAssertTrue(s.loss.isFinite)
                }
            }
        }
    }

    private func run<T: TrainScalar>(_ z: [T], _ t: [Int32], _ gamma: T, _ d: inout [T]) -> LossSums {
        let alpha: [T] = [1, 3]
        return z.withUnsafeBufferPointer { zb in
            t.withUnsafeBufferPointer { tb in
                alpha.withUnsafeBufferPointer { ab in
                    d.withUnsafeMutableBufferPointer { db in
                        focalLossSums(logits: zb.baseAddress!, targets: tb.baseAddress!, rows: 2, classes: 2,
                                      alpha: ab.baseAddress!, gamma: gamma, dLogits: db.baseAddress!)
                    }
                }
            }
        }
    }

    /// Loss values against the textbook formula, and the analytic gradient against central
    /// differences, for gamma in {0, 0.5, 2, 5}, 3 classes, logits near and far from pt = 1.
    func testAgainstReferenceAndFiniteDifferences() {
        let rows: [[Double]] = [[0.3, -1.2, 2.0], [8.0, -8.0, 0.5], [-2.0, 0.1, 0.2], [20.0, -3.0, -4.0]]
        let targets: [Int32] = [2, 0, 1, 0]
        let alpha = [0.5, 2.0, 1.25]
        var worst = 0.0
        for gamma in [0.0, 0.5, 2.0, 5.0] {
            let flat = rows.flatMap { $0 }
            var d = [Double](repeating: 0, count: flat.count)
            let s = sums(flat, targets, alpha, gamma, &d)
            let ref = zip(rows, targets).reduce(0.0) { $0 + focalLossReference(logits: $1.0, target: Int($1.1), alpha: alpha[Int($1.1)], gamma: gamma) }
            XCTAssertEqual(s.loss, ref, accuracy: 1e-12 * max(1, abs(ref)), "gamma \(gamma) loss")
            for i in 0..<flat.count {
                let h = 1e-6
                var up = flat, down = flat
                up[i] += h
                down[i] -= h
                var scratch = d
                let numeric = (sums(up, targets, alpha, gamma, &scratch).loss - sums(down, targets, alpha, gamma, &scratch).loss) / (2 * h)
                worst = max(worst, abs(numeric - d[i]) / max(1e-3, abs(numeric)))  // floor: FD noise ~1e-10 on tiny entries
            }
        }
        print("focal loss gradient vs central differences: max error relative to max(|numeric|, 1e-3) \(worst) (tolerance 1e-5)")
        XCTAssertLessThanOrEqual(worst, 1e-5)
    }

    private func sums(_ z: [Double], _ t: [Int32], _ alpha: [Double], _ gamma: Double, _ d: inout [Double]) -> LossSums {
        z.withUnsafeBufferPointer { zb in
            t.withUnsafeBufferPointer { tb in
                alpha.withUnsafeBufferPointer { ab in
                    d.withUnsafeMutableBufferPointer { db in
                        focalLossSums(logits: zb.baseAddress!, targets: tb.baseAddress!, rows: t.count, classes: 3,
                                      alpha: ab.baseAddress!, gamma: gamma, dLogits: db.baseAddress!)
                    }
                }
            }
        }
    }

    /// gamma 0 + weighted-mean is PyTorch's cross_entropy(weight=alpha) (fixture: torch's value).
    func testGammaZeroIsWeightedCrossEntropy() throws {
        let losses = try Fixtures.json("parity/tutorial_f64/losses.json")
        let ce = losses["init_cross_entropy_weighted"] as! Double
        let focal0 = losses["init_focal_gamma0_weighted_mean"] as! Double
        XCTAssertEqual(ce, focal0, accuracy: 1e-13)
        let base = "parity/tutorial_f64/"
        let source = try NpyDataSource(trainX: Fixtures.path(base + "X_train.npy"), trainY: Fixtures.path(base + "y_train.npy"),
                                       testX: nil, testY: nil, classes: nil)
        let rows = try source.rows(.train, ranges: [0..<source.trainCount])
        let shape = MLPShape(features: 20, hidden: [64], classes: 2)
        let params: [Double] = try ModelFile.parameters(from: SafetensorsFile.read(path: Fixtures.path(base + "init.safetensors")), shape: shape, path: "init")
        var counts: [Int64] = [0, 0]
        for y in rows.y { counts[Int(y)] += 1 }
        let alpha = try classWeights(scheme: .inverse, counts: counts)
        let ws = MLPWorkspace<Double>(shape: shape, capacity: rows.count)
        let s = params.withUnsafeBufferPointer { p in
            rows.x.withUnsafeBufferPointer { x in
                rows.y.withUnsafeBufferPointer { y in
                    alpha.withUnsafeBufferPointer { a in
                        ws.forward(params: p.baseAddress!, x: x.baseAddress!, rows: rows.count)
                        return focalLossSums(logits: ws.logits, targets: y.baseAddress!, rows: rows.count, classes: 2,
                                             alpha: a.baseAddress!, gamma: 0, dLogits: nil)
                    }
                }
            }
        }
        let ours = s.loss / s.weight
        print("gamma 0 weighted-mean \(ours) vs torch cross_entropy(weight=alpha) \(ce)")
        XCTAssertEqual(ours, ce, accuracy: 1e-12 * ce)
    }
}

final class AdamTests: XCTestCase {
    /// Three steps by hand with torch.optim.Adam's formula (eps after the bias-corrected sqrt).
    func testMatchesHandComputedSteps() {
        var c = AdamConfig()
        c.lr = 0.01
        let adam = Adam<Double>(count: 2, config: c)
        var p = [1.0, -2.0]
        let grads = [[0.5, -1.0], [0.25, 2.0], [-0.1, 0.0]]
        var m = [0.0, 0.0], v = [0.0, 0.0], q = p
        for (t, g) in grads.enumerated() {
            p.withUnsafeMutableBufferPointer { pb in g.withUnsafeBufferPointer { adam.update(params: pb.baseAddress!, grad: $0.baseAddress!) } }
            let step = Double(t + 1)
            for i in 0..<2 {
                m[i] = 0.9 * m[i] + 0.1 * g[i]
                v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i]
                let denom = (v[i].squareRoot() / (1 - pow(0.999, step)).squareRoot()) + 1e-8
                q[i] -= 0.01 / (1 - pow(0.9, step)) * m[i] / denom
            }
            XCTAssertEqual(p[0], q[0], accuracy: 1e-15)
            XCTAssertEqual(p[1], q[1], accuracy: 1e-15)
            if t == 0 {
                // Adam's first step moves every parameter with a non-zero gradient by lr against
                // the gradient's sign (m / sqrt(v) = sign(g) after bias correction).
                XCTAssertEqual(p[0], 1.0 - 0.01, accuracy: 1e-9)
                XCTAssertEqual(p[1], -2.0 + 0.01, accuracy: 1e-9)
            }
        }
        XCTAssertEqual(adam.step, 3)
    }

    func testWeightDecayCoupledAndDecoupled() {
        for decoupled in [false, true] {
            var c = AdamConfig()
            c.lr = 0.1
            c.weightDecay = 0.5
            c.decoupled = decoupled
            let adam = Adam<Double>(count: 1, config: c)
            var p = [2.0]
            let g = [0.0]
            p.withUnsafeMutableBufferPointer { pb in g.withUnsafeBufferPointer { adam.update(params: pb.baseAddress!, grad: $0.baseAddress!) } }
            if decoupled {
                // p *= 1 - lr*wd = 0.95 -> 1.9; gradient 0 then moves nothing.
                XCTAssertEqual(p[0], 1.9, accuracy: 1e-15)
            } else {
                // g = 0 + 0.5 * 2 = 1: a first Adam step moves by lr.
                XCTAssertEqual(p[0], 2.0 - 0.1, accuracy: 1e-7)
            }
        }
    }
}

final class MLPTests: XCTestCase {
    /// BLAS forward and backward against a naive implementation built on `naiveGemm`.
    func testBLASMatchesNaiveReference() {
        let shape = MLPShape(features: 7, hidden: [5, 4], classes: 3)
        let m = 6
        let params: [Double] = initialParameters(shape, seed: 3)
        var x = [Double](repeating: 0, count: m * 7)
        for i in 0..<x.count { x[i] = sin(Double(i) * 0.7) * 2 }
        let ws = MLPWorkspace<Double>(shape: shape, capacity: 8)
        var dLogits = [Double](repeating: 0, count: m * 3)
        for i in 0..<dLogits.count { dLogits[i] = cos(Double(i)) }
        var grad = [Double](repeating: .nan, count: shape.parameterCount)
        params.withUnsafeBufferPointer { p in
            x.withUnsafeBufferPointer { xb in
                ws.forward(params: p.baseAddress!, x: xb.baseAddress!, rows: m)
                dLogits.withUnsafeBufferPointer { d in
                    grad.withUnsafeMutableBufferPointer { g in
                        ws.backward(params: p.baseAddress!, x: xb.baseAddress!, rows: m, dLogits: d.baseAddress!, grad: g.baseAddress!)
                    }
                }
            }
        }
        let logits = Array(UnsafeBufferPointer(start: ws.logits, count: m * 3))
        let acts = naiveForward(shape: shape, params: params, x: x, rows: m)
        assertClose(logits, acts.last!, relative: 1e-13, floor: 1e-3, "forward vs naive")
        // Naive backward.
        var ref = [Double](repeating: 0, count: shape.parameterCount)
        var delta = dLogits
        for l in stride(from: shape.layerCount - 1, through: 0, by: -1) {
            let nIn = shape.inputs(l), nOut = shape.outputs(l)
            var dW = [Double](repeating: 0, count: nOut * nIn)
            naiveGemm(transA: true, transB: false, m: nOut, n: nIn, k: m, alpha: 1, a: delta, lda: nOut, b: acts[l], ldb: nIn, beta: 0, c: &dW, ldc: nIn)
            for i in 0..<dW.count { ref[shape.weightOffset(l) + i] = dW[i] }
            for j in 0..<nOut { ref[shape.biasOffset(l) + j] = (0..<m).reduce(0) { $0 + delta[$1 * nOut + j] } }
            if l > 0 {
                let w = Array(params[shape.weightOffset(l)..<(shape.weightOffset(l) + nOut * nIn)])
                var dX = [Double](repeating: 0, count: m * nIn)
                naiveGemm(transA: false, transB: false, m: m, n: nIn, k: nOut, alpha: 1, a: delta, lda: nOut, b: w, ldb: nIn, beta: 0, c: &dX, ldc: nIn)
                for i in 0..<dX.count where !(acts[l][i] > 0) { dX[i] = 0 }
                delta = dX
            }
        }
        assertClose(grad, ref, relative: 1e-12, floor: 1e-3, "backward vs naive")
    }

    /// Activations of every layer (`[0]` is `x`), naively: `out = x · Wᵀ + b`, ReLU on hidden layers.
    private func naiveForward(shape: MLPShape, params: [Double], x: [Double], rows m: Int) -> [[Double]] {
        var acts: [[Double]] = [x]
        for l in 0..<shape.layerCount {
            let nIn = shape.inputs(l), nOut = shape.outputs(l)
            let w = Array(params[shape.weightOffset(l)..<(shape.weightOffset(l) + nOut * nIn)])
            var out = [Double](repeating: 0, count: m * nOut)
            naiveGemm(transA: false, transB: true, m: m, n: nOut, k: nIn, alpha: 1, a: acts[l], lda: nIn, b: w, ldb: nIn, beta: 0, c: &out, ldc: nOut)
            for r in 0..<m { for j in 0..<nOut { out[r * nOut + j] += params[shape.biasOffset(l) + j] } }
            if l < shape.layerCount - 1 { out = out.map { max($0, 0) } }
            acts.append(out)
        }
        return acts
    }

    /// The forward pass reads the parameters of the last `load` (weights transposed in 16 x 16
    /// tiles: the widths here are not multiples of 16), not the buffer they came from: changing
    /// that buffer changes no logit until the next `load`.
    func testForwardReadsTheLoadedParameters() {
        let shape = MLPShape(features: 33, hidden: [40, 17], classes: 5)
        let m = 19
        let first: [Double] = initialParameters(shape, seed: 11)
        let second: [Double] = initialParameters(shape, seed: 12)
        let x = (0..<(m * 33)).map { sin(Double($0) * 0.3) * 3 }
        let ws = MLPWorkspace<Double>(shape: shape, capacity: 32)
        var buffer = first
        func logits() -> [Double] {
            x.withUnsafeBufferPointer { ws.forward(x: $0.baseAddress!, rows: m) }
            return Array(UnsafeBufferPointer(start: ws.logits, count: m * 5))
        }
        buffer.withUnsafeBufferPointer { ws.load(params: $0.baseAddress!) }
        let before = logits()
        assertClose(before, naiveForward(shape: shape, params: first, x: x, rows: m).last!, relative: 1e-13, floor: 1e-3, "loaded forward vs naive")
        buffer = second
        XCTAssertEqual(logits().map(\.bitPattern), before.map(\.bitPattern), "the forward pass read the changed buffer without a load")
        buffer.withUnsafeBufferPointer { ws.load(params: $0.baseAddress!) }
        let after = logits()
        assertClose(after, naiveForward(shape: shape, params: second, x: x, rows: m).last!, relative: 1e-13, floor: 1e-3, "reloaded forward vs naive")
        XCTAssertNotEqual(after, before)
    }

    /// The whole model's analytic gradient against central differences (the --check-gradients path).
    func testGradientCheck() {
        let shape = MLPShape(features: 5, hidden: [8, 6], classes: 3)
        let params: [Double] = initialParameters(shape, seed: 11)
        let m = 10
        let x = (0..<(m * 5)).map { sin(Double($0) * 1.3) }
        let y: [Int32] = (0..<m).map { Int32($0 % 3) }
        for gamma in [0.0, 0.5, 2.0] {
            for reduction in LossReduction.allCases {
                let err = gradientCheck(shape: shape, params: params, x: x, y: y, alpha: [0.5, 1, 2], gamma: gamma, reduction: reduction)
                print("gradient check gamma \(gamma) \(reduction.rawValue): \(err)")
                XCTAssertLessThanOrEqual(err, 1e-5)
            }
        }
    }

    /// nn.Linear's default bounds: every weight and bias within ±1/sqrt(fan_in), not all equal.
    func testInitialisationBounds() {
        let shape = MLPShape(features: 20, hidden: [64], classes: 2)
        let p: [Float] = initialParameters(shape, seed: 0)
        XCTAssertEqual(p.count, 20 * 64 + 64 + 64 * 2 + 2)
        for l in 0..<shape.layerCount {
            let bound = Float(1 / Double(shape.inputs(l)).squareRoot())
            let slice = p[shape.weightOffset(l)..<(shape.biasOffset(l) + shape.outputs(l))]
            XCTAssertTrue(slice.allSatisfy { abs($0) <= bound })
            XCTAssertGreaterThan(slice.max()! - slice.min()!, bound)
        }
        XCTAssertEqual(p, initialParameters(shape, seed: 0) as [Float])
        XCTAssertNotEqual(p, initialParameters(shape, seed: 1) as [Float])
    }
}
