// ParityTests: training against PyTorch reference fixtures (scripts/pytorch_reference.py).
//
// Tolerances (relative; parameters and gradients relative to their tensor's largest magnitude):
// float32 1e-5, float64 1e-10. Measured when written: float32 <= 3.2e-7, float64 <= 2.5e-15 —
// the remaining differences are summation order inside BLAS and our exact cross-chunk sums.
import XCTest
import Collectives
import FocalCore
import FocalReport
import FocalRun
import FocalData
import FocalFormats

final class ParityTests: XCTestCase {
    struct Case {
        var name: String
        var hidden: [Int]
        var gamma: Double
        var reduction: LossReduction
        var epochs: Int
        var batchSize: Int
    }

    func loadCase(_ dir: String) throws -> Case {
        let c = try Fixtures.json("parity/\(dir)/config.json")
        return Case(name: dir, hidden: c["hidden"] as! [Int], gamma: c["gamma"] as! Double,
                    reduction: LossReduction(rawValue: c["reduction"] as! String)!, epochs: c["epochs"] as! Int,
                    batchSize: c["batch_size"] as! Int)
    }

    struct Outcome<T: TrainScalar> {
        var losses: [Double]
        var grad0: [T]
        var final: [T]
        var report: EvaluationReport
        var shape: MLPShape
    }

    func train<T: TrainScalar>(_ dir: String, ranks: Int, as: T.Type) throws -> Outcome<T> {
        let c = try loadCase(dir)
        let base = "parity/\(dir)/"
        let results = try inProcess(ranks) { comm -> Outcome<T> in
            pinBLASToOneThread()
            let source = try NpyDataSource(trainX: Fixtures.path(base + "X_train.npy"), trainY: Fixtures.path(base + "y_train.npy"),
                                           testX: Fixtures.path(base + "X_test.npy"), testY: Fixtures.path(base + "y_test.npy"),
                                           classes: nil)
            var config = TrainConfig()
            config.hidden = c.hidden
            config.gamma = c.gamma
            config.reduction = c.reduction
            config.epochs = c.epochs
            config.batchSize = c.batchSize
            config.logEvery = 1
            let data: LocalData<T> = try loadLocalData(source: source, comm: comm, batchSize: c.batchSize, chunkSize: config.chunkSize)
            let alpha = try classWeights(scheme: .inverse, counts: data.trainCounts)
            let shape = MLPShape(features: data.features, hidden: c.hidden, classes: data.classes)
            let initPath = Fixtures.path(base + "init.safetensors")
            let initial: [T] = try ModelFile.parameters(from: SafetensorsFile.read(path: initPath), shape: shape, path: initPath)
            // The first step's gradient, from a separate trainer.
            let probe = Trainer<T>(config: config, comm: comm, data: data, alpha: alpha, initial: initial)
            _ = try probe.step(batch: 0, epoch: 0, stepIndex: 0)
            let trainer = Trainer<T>(config: config, comm: comm, data: data, alpha: alpha, initial: initial)
            var losses: [Double] = []
            try trainer.train(onEpoch: { losses.append($0.loss) })
            return Outcome(losses: losses, grad0: probe.lastGradient, final: trainer.params,
                           report: EvaluationReport(try trainer.evaluate()), shape: shape)
        }
        return results[0]
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

    func check<T: TrainScalar>(_ dir: String, as: T.Type, tolerance: Double) throws {
        let out = try train(dir, ranks: 1, as: T.self)
        let losses = (try Fixtures.json("parity/\(dir)/losses.json"))["loss"] as! [Double]
        assertClose(out.losses, losses, relative: tolerance, "\(dir) per-epoch loss")
        let g = try tensorDifference(out.grad0, shape: out.shape, reference: Fixtures.path("parity/\(dir)/grad0.safetensors"))
        print("\(dir) first-step gradient: max difference relative to tensor max \(g) (tolerance \(tolerance))")
        XCTAssertLessThanOrEqual(g, tolerance, "\(dir) first-step gradient")
        let p = try tensorDifference(out.final, shape: out.shape, reference: Fixtures.path("parity/\(dir)/final.safetensors"))
        print("\(dir) final parameters: max difference relative to tensor max \(p) (tolerance \(tolerance))")
        XCTAssertLessThanOrEqual(p, tolerance, "\(dir) final parameters")
        let ev = try Fixtures.json("parity/\(dir)/eval.json")
        XCTAssertEqual(out.report.confusion, (ev["confusion_matrix"] as! [[Int]]).map { $0.map(Int64.init) }, "\(dir) confusion matrix")
        assertClose([out.report.balancedAccuracy, out.report.macroF1, out.report.accuracy],
                    [ev["balanced_accuracy"] as! Double, ev["macro_f1"] as! Double, ev["accuracy"] as! Double],
                    relative: 1e-12, "\(dir) sklearn metrics")
    }

    func testTutorialFloat32() throws { try check("tutorial_f32", as: Float.self, tolerance: 1e-5) }
    func testTutorialFloat64() throws { try check("tutorial_f64", as: Double.self, tolerance: 1e-10) }
    func testFourClassTwoHiddenLayersFloat32() throws { try check("four_class_f32", as: Float.self, tolerance: 1e-5) }
    func testFourClassTwoHiddenLayersFloat64() throws { try check("four_class_f64", as: Double.self, tolerance: 1e-10) }
    func testMiniBatchFloat32() throws { try check("minibatch_f32", as: Float.self, tolerance: 1e-5) }
    func testMiniBatchFloat64() throws { try check("minibatch_f64", as: Double.self, tolerance: 1e-10) }

    /// The same fixtures on 3 in-process ranks give the single-rank bits.
    func testThreeRanksGiveTheSingleRankBits() throws {
        let one = try train("minibatch_f32", ranks: 1, as: Float.self)
        let three = try train("minibatch_f32", ranks: 3, as: Float.self)
        XCTAssertEqual(one.losses, three.losses)
        XCTAssertEqual(one.final, three.final)
        XCTAssertEqual(one.report, three.report)
    }
}
