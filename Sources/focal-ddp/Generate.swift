// Generate: writes the generated train/test split as .npy files, each rank writing its own rows
// into the shared files at their offsets (no gather), atomically (final names appear when complete).
import ArgumentParser
import Collectives
import FocalCore
import FocalReport
import FocalRun
import FocalData
import FocalFormats
import FocalRun
#if canImport(Glibc)
import Glibc
#endif

/// `--dtype float32|float64`: the feature type of the written files (labels are always int64).
private func featureDType(_ text: String) throws -> DType {
    guard let t = DType(rawValue: text), t.isFloatingPoint else {
        throw ValidationError("'\(text)' is not a feature dtype (float32, float64)")
    }
    return t
}

struct Generate: ParsableCommand, RankedCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the generated data set as X_train.npy, y_train.npy, X_test.npy, y_test.npy.")

    @OptionGroup(title: "Data") var data: DataOptions
    @Option(help: ArgumentHelp("Output directory (created if missing; must be shared by all hosts).", valueName: "DIR"))
    var out: String
    @Option(help: ArgumentHelp("Feature dtype of the written files (values: float64, float32; default: float64).",
                               valueName: "dtype"), transform: featureDType)
    var dtype: DType = .float64
    @Option(help: "Run N logical ranks as threads of this process (no mpirun).")
    var simulateRanks: Int?

    func execute(arguments: [String]) -> Int32 {
        let spec: DatasetSpec
        let scheme: ClassWeightScheme
        do {
            spec = try data.datasetSpec()
            try validateDataset(spec)
            scheme = try data.classWeightScheme()
            if let n = simulateRanks, n < 1 || n > 1024 { throw ValidationError("--simulate-ranks: \(n) must lie in 1...1024") }
        } catch {
            return reportLocal(error)
        }
        let out = self.out, dtype = self.dtype
        return withCommunicator(simulate: simulateRanks) { comm in
            do {
                try generate(spec: spec, scheme: scheme, out: out, dtype: dtype, comm: comm)
                return 0
            } catch {
                return reportAgreed(error, comm: comm)
            }
        }
    }
}

private func generate(spec: DatasetSpec, scheme: ClassWeightScheme, out: String, dtype: DType,
                      comm: Communicator) throws {
    let source = try comm.agree { try makeDataSource(.generated(spec), comm: comm) }
    var created = false
    try comm.agree {
        guard comm.rank == 0 else { return }
        if mkdir(out, 0o755) == 0 {
            created = true
        } else if errno != EEXIST {
            throw DataError("--out \(out): cannot create the directory (\(errnoText()))")
        }
    }
    do {
        try write(source: source, scheme: scheme, out: out, dtype: dtype, comm: comm)
    } catch {
        // Nothing is left behind: the writer removed its temporary files; a directory made
        // here goes too (rmdir removes it only if it is empty).
        if created { _ = rmdir(out) }
        throw error
    }
}

private func write(source: DataSource, scheme: ClassWeightScheme, out: String, dtype: DType,
                   comm: Communicator) throws {
    // Rank 0 creates the files (at full size, with their headers) before the rows are generated,
    // so an unusable or unshared directory is found before the work.
    let writer = try ShardedNpyWriter.open([
        .init(path: "\(out)/X_train.npy", header: NpyHeader(dtype: dtype, shape: [source.trainCount, source.features])),
        .init(path: "\(out)/y_train.npy", header: NpyHeader(dtype: .int64, shape: [source.trainCount])),
        .init(path: "\(out)/X_test.npy", header: NpyHeader(dtype: dtype, shape: [source.testCount, source.features])),
        .init(path: "\(out)/y_test.npy", header: NpyHeader(dtype: .int64, shape: [source.testCount])),
    ], comm: comm) { _, rank, host in
        "--out \(out): rank \(rank) on \(host) does not see rank 0's files there; generate needs a directory shared by all hosts"
    }

    // Contiguous row ranges per rank (any split gives the same files).
    func share(_ n: Int) -> Range<Int> { (comm.rank * n / comm.size)..<((comm.rank + 1) * n / comm.size) }
    let trainRange = share(source.trainCount), testRange = share(source.testCount)
    let rows: (train: Rows, test: Rows)
    let counts: [Int64], alpha: [Double]
    let k = source.classes
    do {
        rows = try comm.agree { try source.rows(train: [trainRange], test: [testRange]) }
        // The class weights before the files appear: a scheme that does not fit the data fails
        // with nothing written.
        var c = [Int64](repeating: 0, count: 2 * k)
        for y in rows.train.y { c[Int(y)] += 1 }
        for y in rows.test.y { c[k + Int(y)] += 1 }
        try comm.allreduce(&c, op: .sum)
        counts = c
        alpha = try comm.agree { try classWeights(scheme: scheme, counts: Array(c[0..<k])) }
    } catch {
        writer.discard(comm: comm)
        throw error
    }
    try writer.finish(rows: [
        (trainRange.lowerBound, { featureBytes(rows.train.x, dtype) }),
        (trainRange.lowerBound, { labelBytes(rows.train.y) }),
        (testRange.lowerBound, { featureBytes(rows.test.x, dtype) }),
        (testRange.lowerBound, { labelBytes(rows.test.y) }),
    ], comm: comm)

    if comm.rank == 0 {
        print("wrote \(out)/{X_train,y_train,X_test,y_test}.npy: train \(source.trainCount) x \(source.features), test \(source.testCount) x \(source.features) (\(dtype.rawValue) features, int64 labels)")
        print("train class counts: \(counts[0..<k].map(String.init).joined(separator: " / "))")
        print("test class counts:  \(counts[k...].map(String.init).joined(separator: " / "))")
        print("class weights (\(scheme)): [\(alpha.map { String($0) }.joined(separator: ", "))]")
    }
}

/// Features `[rows, features]` as little-endian `dtype` bytes (float32 rounds to nearest).
private func featureBytes(_ x: [Double], _ dtype: DType) -> [UInt8] {
    switch dtype {
    case .float32: return x.map { Float($0) }.withUnsafeBytes { Array($0) }
    default: return x.withUnsafeBytes { Array($0) }
    }
}

private func labelBytes(_ y: [Int32]) -> [UInt8] {
    y.map { Int64($0) }.withUnsafeBytes { Array($0) }
}
