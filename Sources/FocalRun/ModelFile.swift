// ModelFile: parameters as safetensors with PyTorch `nn.Sequential` names, plus the metadata that
// `predict` needs to rebuild the model. Nothing that varies between identical runs is written.
import FocalCore
import FocalData
import FocalFormats
import FocalReport

public enum ModelFile {
    /// The safetensors file of `params` `[parameterCount]` in the run's precision. Metadata:
    /// `format=focal-ddp-mlp`, `features`, `hidden`, `classes`, `precision` (all strings).
    public static func encode<T: TrainScalar>(_ params: [T], shape: MLPShape,
                                              extraMetadata: [String: String] = [:]) -> SafetensorsFile {
        var tensors: [String: SafetensorsFile.Tensor] = [:]
        for l in 0..<shape.layerCount {
            let w = shape.weightOffset(l), b = shape.biasOffset(l)
            let wv = Array(params[w..<(w + shape.outputs(l) * shape.inputs(l))])
            let bv = Array(params[b..<(b + shape.outputs(l))])
            tensors[shape.weightName(l)] = tensor([shape.outputs(l), shape.inputs(l)], wv)
            tensors[shape.biasName(l)] = tensor([shape.outputs(l)], bv)
        }
        var meta = extraMetadata
        meta["format"] = "focal-ddp-mlp"
        meta["features"] = String(shape.features)
        meta["hidden"] = shape.hidden.map(String.init).joined(separator: ",")
        meta["classes"] = String(shape.classes)
        meta["precision"] = T.precision.rawValue
        return SafetensorsFile(tensors: tensors, metadata: meta)
    }

    private static func tensor<T: TrainScalar>(_ shape: [Int], _ values: [T]) -> SafetensorsFile.Tensor {
        if let f = values as? [Float] { return .init(shape: shape, floats: f) }
        return .init(shape: shape, doubles: values.map { Double($0) })
    }

    /// Parameters for `shape` from a safetensors file (F32 or F64 tensors, converted to `T`).
    /// Every tensor of the model must be present with the model's shape; extra tensors are refused.
    public static func parameters<T: TrainScalar>(from file: SafetensorsFile, shape: MLPShape, path: String,
                                                  as: T.Type = T.self) throws -> [T] {
        var params = [T](repeating: 0, count: shape.parameterCount)
        var expected = Set<String>()
        for l in 0..<shape.layerCount {
            for (name, dims, offset) in [(shape.weightName(l), [shape.outputs(l), shape.inputs(l)], shape.weightOffset(l)),
                                         (shape.biasName(l), [shape.outputs(l)], shape.biasOffset(l))] {
                expected.insert(name)
                guard let t = file.tensors[name] else {
                    throw DataError("\(path): tensor '\(name)' is missing (model \(shape) expects \(dims))")
                }
                guard t.shape == dims else {
                    throw DataError("\(path): tensor '\(name)' has shape \(t.shape), model \(shape) expects \(dims)")
                }
                guard let values = t.doubleValues() else {
                    throw DataError("\(path): tensor '\(name)' has dtype \(t.dtype.safetensorsName), expected F32 or F64")
                }
                for (i, v) in values.enumerated() {
                    guard v.isFinite else { throw DataError("\(path): tensor '\(name)' holds a non-finite value at index \(i)") }
                    params[offset + i] = T(v)
                }
            }
        }
        if let extra = Set(file.tensors.keys).subtracting(expected).sorted().first {
            throw DataError("\(path): unexpected tensor '\(extra)' for model \(shape)")
        }
        return params
    }

    /// The metadata naming a model's loss: `loss=sigmoid-focal` for a sigmoid model; none for the
    /// softmax focal loss (files written before the key existed are softmax models).
    public static func lossMetadata(_ loss: LossKind) -> [String: String] {
        loss == .softmaxFocal ? [:] : ["loss": loss.rawValue]
    }

    /// The loss a model file was trained with (softmax focal when not recorded).
    public static func loss(of file: SafetensorsFile, path: String) throws -> LossKind {
        guard let text = file.metadata["loss"] else { return .softmaxFocal }
        guard let kind = LossKind(rawValue: text) else { throw DataError("\(path): unknown loss '\(text)' in the model's metadata") }
        return kind
    }

    /// The model shape recorded in a file written by `encode`.
    public static func shape(of file: SafetensorsFile, path: String) throws -> MLPShape {
        guard file.metadata["format"] == "focal-ddp-mlp",
              let f = file.metadata["features"].flatMap({ Int($0) }),
              let k = file.metadata["classes"].flatMap({ Int($0) }),
              let h = file.metadata["hidden"] else {
            throw DataError("\(path): not a focal-ddp model file (metadata format/features/hidden/classes missing)")
        }
        let hidden = h.isEmpty ? [] : h.split(separator: ",").compactMap { Int($0) }
        // Widths from a file: each in 1...2^31 and the parameter count (in float64, so no Int
        // arithmetic can overflow) at most 2^48, or the file is refused.
        let widths = [f] + hidden + [k]
        var count = 0.0
        for l in 1..<widths.count { count += Double(widths[l - 1]) * Double(widths[l]) + Double(widths[l]) }
        guard widths.allSatisfy({ (1...(1 << 31)).contains($0) }), count <= 0x1p48 else {
            throw DataError("\(path): model metadata out of range (features \(f), hidden '\(h)', classes \(k))")
        }
        return MLPShape(features: f, hidden: hidden, classes: k)
    }
}
