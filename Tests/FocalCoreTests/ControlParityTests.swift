// ControlParityTests: the training controls (LR schedules with warmup, gradient clipping, sigmoid
// focal loss) against PyTorch fixtures from scripts/pytorch_reference.py, and each kernel against
// its naive reference.
//
// Tolerances as ParityTests: float32 1e-5, float64 1e-10 (relative; parameters relative to their
// tensor's largest magnitude). Schedules: PyTorch's rates bit for bit (the same recursion in Double).
import XCTest
import Collectives
import FocalCore
import FocalReport
import FocalRun
import FocalData
import FocalFormats

final class ControlParityTests: XCTestCase {

    // MARK: - Schedules

    /// Values of a fixture read with FocalFormats' JSON parser (shortest round-trip numbers).
    static func exactDoubles<R>(_ relative: String, _ pick: (JSON) -> R) throws -> R {
        let bytes = try FileIO.readAll(Fixtures.path(relative))
        return pick(try JSON.parse(bytes))
    }

    /// Every schedule of lr_schedules.json (constant/cosine/linear/step, with and without warmup,
    /// two run lengths): the rates of all steps equal PyTorch's exactly.
    func testScheduleRatesEqualPyTorchBitForBit() throws {
        let doc = try Fixtures.json("lr_schedules.json")
        let cases = doc["cases"] as! [[String: Any]]
        XCTAssertGreaterThanOrEqual(cases.count, 20)
        // The rates through the project's parser (correctly rounded; Foundation's may be off by an ulp).
        let exact = try Self.exactDoubles("lr_schedules.json") { $0["cases"]!.array!.map { $0["rates"]!.doubles! } }
        for (i, c) in cases.enumerated() {
            var s = LRScheduleConfig()
            s.kind = LRScheduleKind(rawValue: c["kind"] as! String)!
            let w = c["warmup_steps"] as! Int
            s.warmup = w > 0 ? .steps(w) : nil
            s.warmupStartFactor = c["warmup_start_factor"] as! Double
            s.minLR = c["min_lr"] as! Double
            s.stepSize = c["step_size"] as? Int
            s.stepGamma = c["step_gamma"] as! Double
            let total = c["total_steps"] as! Int
            var schedule = LRSchedule(s, lr: c["lr"] as! Double, stepsPerEpoch: total, epochs: 1)
            let expected = exact[i]
            let got = (0..<total).map { schedule.rate(step: $0) }
            XCTAssertEqual(got, expected, "\(s.kind) warmup \(w) total \(total)")
            // Going back (a resume) restarts the recursion and gives the same rate.
            XCTAssertEqual(schedule.rate(step: total / 2), expected[total / 2])
        }
    }

    func testScheduleProblemsNameTheOption() {
        var s = LRScheduleConfig()
        s.kind = .cosine
        s.warmup = .epochs(2)
        XCTAssertEqual(s.problem(lr: 1e-3, stepsPerEpoch: 5, epochs: 2)?.hasPrefix("--warmup-epochs:"), true)
        XCTAssertNil(s.problem(lr: 1e-3, stepsPerEpoch: 5, epochs: 3))
        s.warmup = .steps(15)
        XCTAssertEqual(s.problem(lr: 1e-3, stepsPerEpoch: 5, epochs: 3)?.hasPrefix("--warmup-steps:"), true)
        s.warmup = nil
        s.minLR = 1
        XCTAssertEqual(s.problem(lr: 1e-3, stepsPerEpoch: 5, epochs: 3)?.hasPrefix("--min-lr:"), true)
    }

    // MARK: - Clipping

    /// The trainer's fused pass: the mean gradient and the same norm bits as `gradientNorm` over it.
    func testMeanGradientAndNormMatchTheSeparatePasses() {
        let sums: [Double] = (0..<77).map { i -> Double in
            let a = Double(i % 11) - 5.3
            return a * 1.7e-3 * Double(i + 1)
        }
        for divisor in [1.0, 3.0, 4096.0, 0.37] {
            var fused = [Float](repeating: .nan, count: sums.count)
            let norm = fused.withUnsafeMutableBufferPointer { meanGradientAndNorm(sums: sums, divisor: divisor, into: $0) }
            let separate = sums.map { Float($0 / divisor) }
            XCTAssertEqual(fused, separate)
            XCTAssertEqual(norm.bitPattern, separate.withUnsafeBufferPointer { gradientNorm($0) }.bitPattern, "divisor \(divisor)")
        }
    }

    /// The norm's documented order, written out in scalars: eight running sums over i mod 8, combined
    /// ((0+1)+(2+3))+((4+5)+(6+7)), then the tail in order. Bit for bit, in both precisions, for
    /// lengths below, at and past a multiple of eight (values spread over 40 binades: one running
    /// sum, the order before 0.3.1, gives other bits at length 64).
    func testGradientNormFollowsItsDocumentedOrder() {
        func scalarOrder(_ g: [Double]) -> Double {
            var lanes = [Double](repeating: 0, count: 8)
            let body = g.count / 8 * 8
            for i in 0..<body { lanes[i % 8] += g[i] * g[i] }
            var s = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]))
            for i in body..<g.count { s += g[i] * g[i] }
            return s.squareRoot()
        }
        for n in [0, 5, 8, 61, 64, 1003] {
            let g: [Double] = (0..<n).map { (i: Int) -> Double in
                let significand: Double = 1.0 + Double(i % 13) / 17
                let magnitude: Double = Double(sign: .plus, exponent: i % 40 - 20, significand: significand)
                return i % 2 == 0 ? magnitude : -magnitude
            }
            let f = g.map { Float($0) }
            XCTAssertEqual(g.withUnsafeBufferPointer { gradientNorm($0) }.bitPattern, scalarOrder(g).bitPattern, "float64, \(n)")
            XCTAssertEqual(f.withUnsafeBufferPointer { gradientNorm($0) }.bitPattern, scalarOrder(f.map { Double($0) }).bitPattern, "float32, \(n)")
        }
    }

    func testGradientNormAndClipMatchTheReference() {
        let g: [Double] = (0..<50).map { Double($0 % 7) - 2.5 + 0.01 * Double($0) }
        let norm = g.withUnsafeBufferPointer { gradientNorm($0) }
        let ref = gradientNormReference(g, tensors: [0..<20, 20..<21, 21..<45, 45..<50])
        XCTAssertEqual(norm, ref, accuracy: 1e-13 * ref)
        var clipped = g
        let f = clipped.withUnsafeMutableBufferPointer { clipGradient($0, norm: norm, maxNorm: 1) }
        XCTAssertEqual(f, 1 / (norm + 1e-6))
        let after = clipped.withUnsafeBufferPointer { gradientNorm($0) }
        XCTAssertEqual(after, 1, accuracy: 1e-5)
        var untouched = g
        let one = untouched.withUnsafeMutableBufferPointer { clipGradient($0, norm: norm, maxNorm: norm * 2) }
        XCTAssertEqual(one, 1)
        XCTAssertEqual(untouched, g)
    }

    // MARK: - Sigmoid focal loss

    /// The fast kernel against torchvision's formula element by element, and its gradient against
    /// central differences of the reference, over gammas, alphas and extreme logits.
    func testSigmoidFocalKernelMatchesReferenceAndItsGradient() {
        let logits: [Double] = [0.3, -1.2, 2.5, 15, -15, 0.0, 40, -40, 1e-9, -3.3, 7, -0.5]
        let rows = 4, k = 3
        let targets: [Int32] = [0, 2, 1, 0]
        var worstLoss = 0.0, worstGrad = 0.0
        for gamma in [0.0, 0.5, 1.0, 2.0, 3.5] {
            for alpha in [0.25, -1.0, 1.0] {
                var d = [Double](repeating: 0, count: rows * k)
                let s = logits.withUnsafeBufferPointer { lb in
                    targets.withUnsafeBufferPointer { tb in
                        d.withUnsafeMutableBufferPointer { db in
                            sigmoidFocalLossSums(logits: lb.baseAddress!, targets: tb.baseAddress!, rows: rows, classes: k,
                                                 alpha: alpha, gamma: gamma, dLogits: db.baseAddress!)
                        }
                    }
                }
                XCTAssertEqual(s.weight, Double(rows * k))
                var ref = 0.0
                for r in 0..<rows {
                    for j in 0..<k {
                        let x = logits[r * k + j], t = j == Int(targets[r]) ? 1.0 : 0.0
                        ref += sigmoidFocalLossReference(logit: x, target: t, alpha: alpha, gamma: gamma)
                        let h = 1e-6 * max(1, abs(x))
                        let num = (sigmoidFocalLossReference(logit: x + h, target: t, alpha: alpha, gamma: gamma)
                                   - sigmoidFocalLossReference(logit: x - h, target: t, alpha: alpha, gamma: gamma)) / (2 * h)
                        let a = d[r * k + j]
                        XCTAssertTrue(a.isFinite)
                        worstGrad = max(worstGrad, abs(a - num) / max(abs(a), abs(num), 1e-6))
                    }
                }
                worstLoss = max(worstLoss, abs(s.loss - ref) / max(abs(ref), 1e-300))
            }
        }
        print("sigmoid focal: loss vs reference \(worstLoss), gradient vs central differences \(worstGrad)")
        XCTAssertLessThanOrEqual(worstLoss, 1e-12)
        XCTAssertLessThanOrEqual(worstGrad, 1e-5)
    }

    /// The `--check-gradients` path through the whole MLP with the sigmoid loss.
    func testSigmoidGradientCheckThroughTheModel() {
        let shape = MLPShape(features: 4, hidden: [5], classes: 3)
        let p: [Double] = initialParameters(shape, seed: 3, as: Double.self)
        let x: [Double] = (0..<32).map { (i: Int) -> Double in Double((i * 37) % 11) / 5.0 - 1.0 }
        let y: [Int32] = [0, 1, 2, 0, 1, 2, 2, 1]
        for reduction in [LossReduction.mean, .sum] {
            let worst = gradientCheck(shape: shape, params: p, x: x, y: y, alpha: [1, 1, 1], gamma: 2, reduction: reduction,
                                      loss: .sigmoidFocal, sigmoidAlpha: 0.25)
            XCTAssertLessThanOrEqual(worst, 1e-5, "\(reduction)")
        }
    }

    // MARK: - Training runs against PyTorch

    struct Outcome<T: TrainScalar> {
        var losses: [Double]
        var lrs: [Double]
        var gradNorms: [Double]
        var final: [T]
        var report: EvaluationReport
        var shape: MLPShape
    }

    static func config(_ c: [String: Any]) -> TrainConfig {
        var t = TrainConfig()
        t.hidden = c["hidden"] as! [Int]
        t.gamma = c["gamma"] as! Double
        t.reduction = LossReduction(rawValue: c["reduction"] as! String)!
        t.epochs = c["epochs"] as! Int
        t.batchSize = c["batch_size"] as? Int
        t.adam.lr = c["lr"] as! Double
        t.logEvery = 1
        if let s = c["schedule"] as? [String: Any] {
            t.lrSchedule.kind = LRScheduleKind(rawValue: s["kind"] as! String)!
            if let w = s["warmup_steps"] as? Int { t.lrSchedule.warmup = .steps(w) }
            if let f = s["warmup_start_factor"] as? Double { t.lrSchedule.warmupStartFactor = f }
            if let m = s["min_lr"] as? Double { t.lrSchedule.minLR = m }
            t.lrSchedule.stepSize = s["step_size"] as? Int
            if let g = s["step_gamma"] as? Double { t.lrSchedule.stepGamma = g }
        }
        t.clipGradNorm = c["clip_grad_norm"] as? Double
        if let l = c["loss"] as? String { t.loss = LossKind(rawValue: l)! }
        if let a = c["sigmoid_alpha"] as? Double { t.sigmoidAlpha = a }
        return t
    }

    func train<T: TrainScalar>(_ dir: String, ranks: Int, as: T.Type) throws -> Outcome<T> {
        let c = try Fixtures.json("parity/\(dir)/config.json")
        let data = "parity/\(c["data_from"] as! String)/"
        let base = "parity/\(dir)/"
        let config = Self.config(c)
        let results = try inProcess(ranks) { comm -> Outcome<T> in
            pinBLASToOneThread()
            let source = try NpyDataSource(trainX: Fixtures.path(data + "X_train.npy"), trainY: Fixtures.path(data + "y_train.npy"),
                                           testX: Fixtures.path(data + "X_test.npy"), testY: Fixtures.path(data + "y_test.npy"),
                                           classes: nil)
            let local: LocalData<T> = try loadLocalData(source: source, comm: comm, batchSize: config.batchSize, chunkSize: config.chunkSize)
            let alpha = try classWeights(scheme: .inverse, counts: local.trainCounts)
            let shape = MLPShape(features: local.features, hidden: config.hidden, classes: local.classes)
            let initPath = Fixtures.path(base + "init.safetensors")
            let initial: [T] = try ModelFile.parameters(from: SafetensorsFile.read(path: initPath), shape: shape, path: initPath)
            let trainer = Trainer<T>(config: config, comm: comm, data: local, alpha: alpha, initial: initial)
            var losses: [Double] = [], lrs: [Double] = [], norms: [Double] = []
            try trainer.train(onEpoch: { r in
                losses.append(r.loss)
                lrs.append(r.lr)
                norms.append(r.gradNorm ?? .nan)
            })
            return Outcome(losses: losses, lrs: lrs, gradNorms: norms, final: trainer.params,
                           report: EvaluationReport(try trainer.evaluate()), shape: shape)
        }
        return results[0]
    }

    func check<T: TrainScalar>(_ dir: String, as: T.Type, tolerance: Double) throws {
        let out = try train(dir, ranks: 1, as: T.self)
        let ref = try Fixtures.json("parity/\(dir)/losses.json")
        assertClose(out.losses, ref["loss"] as! [Double], relative: tolerance, "\(dir) per-epoch loss")
        if ref["lr"] != nil {
            let stepLR = try Self.exactDoubles("parity/\(dir)/losses.json") { $0["lr"]!.doubles! }
            // The epoch record's rate is that of the epoch's last step: PyTorch's exactly.
            let perEpoch = stepLR.count / out.lrs.count
            let lastOfEpoch = (0..<out.lrs.count).map { stepLR[($0 + 1) * perEpoch - 1] }
            XCTAssertEqual(out.lrs, lastOfEpoch, "\(dir) rates")
            let norms = ref["grad_norm"] as! [Double]
            assertClose(out.gradNorms, (0..<out.lrs.count).map { norms[($0 + 1) * perEpoch - 1] },
                        relative: T.self == Float.self ? 1e-4 : 1e-9, "\(dir) last-step gradient norms")
        }
        let p = try tensorDifference(out.final, shape: out.shape, reference: Fixtures.path("parity/\(dir)/final.safetensors"))
        print("\(dir) final parameters: max difference relative to tensor max \(p) (tolerance \(tolerance))")
        XCTAssertLessThanOrEqual(p, tolerance, "\(dir) final parameters")
        let ev = try Fixtures.json("parity/\(dir)/eval.json")
        XCTAssertEqual(out.report.confusion, (ev["confusion_matrix"] as! [[Int]]).map { $0.map(Int64.init) }, "\(dir) confusion matrix")
    }

    /// Max |a - b| / max|b| per tensor, over all tensors of the reference file.
    func tensorDifference<T: TrainScalar>(_ params: [T], shape: MLPShape, reference path: String) throws -> Double {
        let ref = try SafetensorsFile.read(path: path)
        var worst = 0.0
        for l in 0..<shape.layerCount {
            for (name, offset) in [(shape.weightName(l), shape.weightOffset(l)), (shape.biasName(l), shape.biasOffset(l))] {
                let r = try ref.doubles(name)
                let scale = max(r.map { abs($0) }.max() ?? 0, 1e-30)
                for (i, v) in r.enumerated() { worst = max(worst, abs(Double(params[offset + i]) - v) / scale) }
            }
        }
        return worst
    }

    func testWarmupCosineClipFloat32() throws { try check("warmup_cosine_clip_f32", as: Float.self, tolerance: 1e-5) }
    func testWarmupCosineClipFloat64() throws { try check("warmup_cosine_clip_f64", as: Double.self, tolerance: 1e-10) }
    func testStepLRFloat32() throws { try check("steplr_f32", as: Float.self, tolerance: 1e-5) }
    func testStepLRFloat64() throws { try check("steplr_f64", as: Double.self, tolerance: 1e-10) }
    func testSigmoidFocalBinaryFloat32() throws { try check("sigmoid_binary_f32", as: Float.self, tolerance: 1e-5) }
    func testSigmoidFocalBinaryFloat64() throws { try check("sigmoid_binary_f64", as: Double.self, tolerance: 1e-10) }

    /// A step skipped for a non-finite gradient (`--on-nan skip`) still advances the schedule, as
    /// PyTorch's `scheduler.step()` would: the epoch's rate is that of its last step index, and the
    /// run on 3 ranks gives the single-rank bits.
    func testSkippedStepsAdvanceTheSchedule() throws {
        let c = try Fixtures.json("parity/warmup_cosine_clip_f64/config.json")
        var skipping = Self.config(c)
        skipping.onNaN = .skip
        let config = skipping
        let data = "parity/four_class_f64/"
        func run(ranks: Int) throws -> (lrs: [Double], skipped: [Int], params: [Double]) {
            try inProcess(ranks) { comm -> (lrs: [Double], skipped: [Int], params: [Double]) in
                let source = try NpyDataSource(trainX: Fixtures.path(data + "X_train.npy"), trainY: Fixtures.path(data + "y_train.npy"),
                                               testX: nil, testY: nil, classes: nil)
                let local: LocalData<Double> = try loadLocalData(source: source, comm: comm, batchSize: config.batchSize,
                                                                  chunkSize: config.chunkSize)
                let alpha = try classWeights(scheme: .inverse, counts: local.trainCounts)
                let trainer = Trainer<Double>(config: config, comm: comm, data: local, alpha: alpha)
                let rank = comm.rank
                trainer.hooks.afterBackward = { step, g in if step == 7 && rank == ranks - 1 { g[0] = .nan } }
                var lrs: [Double] = [], skipped: [Int] = []
                try trainer.train(onEpoch: { lrs.append($0.lr); skipped.append($0.skippedSteps) })
                return (lrs, skipped, trainer.params)
            }[0]
        }
        let one = try run(ranks: 1)
        XCTAssertEqual(one.skipped.first, 1, "step 7 (the last of epoch 0) was skipped")
        let stepsPerEpoch = 8
        var schedule = LRSchedule(config.lrSchedule, lr: config.adam.lr, stepsPerEpoch: stepsPerEpoch, epochs: config.epochs)
        XCTAssertEqual(one.lrs, (0..<config.epochs).map { schedule.rate(step: ($0 + 1) * stepsPerEpoch - 1) })
        let three = try run(ranks: 3)
        XCTAssertEqual(three.lrs, one.lrs)
        XCTAssertEqual(three.params, one.params)
    }

    /// Schedule, clipping and the sigmoid loss together on 1 and 3 in-process ranks: the same bits.
    func testControlsGiveTheSameBitsOnThreeRanks() throws {
        let one = try train("warmup_cosine_clip_f32", ranks: 1, as: Float.self)
        let three = try train("warmup_cosine_clip_f32", ranks: 3, as: Float.self)
        XCTAssertEqual(one.losses, three.losses)
        XCTAssertEqual(one.gradNorms, three.gradNorms)
        XCTAssertEqual(one.final, three.final)
        let s1 = try train("sigmoid_binary_f64", ranks: 1, as: Double.self)
        let s3 = try train("sigmoid_binary_f64", ranks: 3, as: Double.self)
        XCTAssertEqual(s1.final, s3.final)
        XCTAssertEqual(s1.losses, s3.losses)
    }
}
