// RunRecord: the run's configuration as the last record of the metrics file.
import FocalFormats
import FocalCore
import FocalData
import FocalReport

/// The run's configuration as the last metrics record.
func runConfigRecord(_ c: RunConfig, shape: MLPShape, alpha: [Double], trainRows: Int, testRows: Int,
                     trainCounts: [Int64], testCounts: [Int64], ranks: Int) -> JSON {
    var fields: [(String, JSON)] = [("type", .string("config")), ("version", .string(focalVersion))]
    switch c.input {
    case .generated(let d):
        let s = d.classification
        fields.append(("data", .object([
            ("generator", .string(d.generator.rawValue)), ("samples", .int(Int64(s.samples))),
            ("features", .int(Int64(s.features))), ("informative", .int(Int64(s.informative))),
            ("redundant", .int(Int64(s.redundant))), ("repeated", .int(Int64(s.repeated))),
            ("classes", .int(Int64(s.classes))), ("clusters_per_class", .int(Int64(s.clustersPerClass))),
            ("weights", s.weights.map { .array($0.map { .number($0) }) } ?? .null),
            ("flip_y", .number(s.flipY)), ("class_sep", .number(s.classSep)), ("hypercube", .bool(s.hypercube)),
            ("shuffle", .bool(s.shuffle)), ("seed", .int(Int64(s.seed))),
            ("test_fraction", .number(d.split.testFraction)), ("split_seed", .int(Int64(d.split.seed))),
            ("stratify", .bool(d.split.stratify)),
        ])))
    case let .csv(train, test, labelColumn, _):
        fields.append(("data", .object([("train_data", .string(train)), ("test_data", test.map { .string($0) } ?? .null),
                                        ("label_column", labelColumn.map { .string($0) } ?? .null)])))
    case let .files(train, trainLabels, test, testLabels, _):
        fields.append(("data", .object([("train_data", .string(train)), ("train_labels", .string(trainLabels)),
                                        ("test_data", test.map { .string($0) } ?? .null),
                                        ("test_labels", testLabels.map { .string($0) } ?? .null)])))
    }
    let t = c.train
    fields += [
        ("train_rows", .int(Int64(trainRows))), ("test_rows", .int(Int64(testRows))),
        ("train_counts", .array(trainCounts.map { .int($0) })), ("test_counts", .array(testCounts.map { .int($0) })),
        ("class_weights", .string(String(describing: c.classWeights))), ("alpha", .array(alpha.map { .number($0) })),
        ("model", .string(shape.description)), ("parameters", .int(Int64(shape.parameterCount))),
        ("precision", .string(c.precision.rawValue)), ("gamma", .number(t.gamma)), ("reduction", .string(t.reduction.rawValue)),
        ("lr", .number(t.adam.lr)), ("beta1", .number(t.adam.beta1)), ("beta2", .number(t.adam.beta2)),
        ("eps", .number(t.adam.eps)), ("weight_decay", .number(t.adam.weightDecay)), ("adamw", .bool(t.adam.decoupled)),
        ("optimizer_on", .string(t.optimizerOn.rawValue)), ("epochs", .int(Int64(t.epochs))),
        ("batch_size", .int(Int64(t.batchSize ?? trainRows))), ("chunk_size", .int(Int64(t.chunkSize))),
        ("shuffle_batches", .bool(t.shuffleBatches)), ("fast_reduce", .bool(t.fastReduce)), ("init_seed", .int(Int64(t.initSeed))),
        ("init", c.initFile.map { .string($0) } ?? .null), ("ranks", .int(Int64(ranks))),
    ]
    return .object(fields)
}

