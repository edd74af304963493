// Generate: writes the generated train/test split as .npy files, each rank writing its own rows
// into the shared files at their offsets (no gather), atomically (final names appear when complete).
import ArgumentParser
import Collectives
import FocalCore
import FocalReport
import FocalRun
import FocalData
#if canImport(Glibc)
import Glibc
#endif

enum OutputDType: String, ExpressibleByArgument, CaseIterable, Sendable {
    case float64, float32
}

struct Generate: ParsableCommand, RankedCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the generated data set as X_train.npy, y_train.npy, X_test.npy, y_test.npy.")

    @OptionGroup(title: "Data") var data: DataOptions
    @Option(help: ArgumentHelp("Output directory (created if missing; must be shared by all hosts).", valueName: "DIR"))
    var out: String
    @Option(help: "Feature dtype of the written files.")
    var dtype: OutputDType = .float64
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

private func generate(spec: DatasetSpec, scheme: ClassWeightScheme, out: String, dtype: OutputDType,
                      comm: Communicator) throws {
    let source = try comm.agree { try makeDataSource(.generated(spec), comm: comm) }
    // A token shared by all ranks names the temporary files and the shared-directory probe.
    var token = [Int64(comm.rank == 0 ? Int64(getpid()) &* 1_000_003 &+ Int64(monotonicSeconds() * 1e6) : 0)]
    try comm.broadcast(&token, root: 0)
    let tag = String(UInt64(bitPattern: token[0]), radix: 36)
    let probe = "\(out)/.focal-ddp-probe-\(tag)"
    try comm.agree {
        guard comm.rank == 0 else { return }
        if mkdir(out, 0o755) != 0 && errno != EEXIST { throw DataError("--out \(out): cannot create the directory (\(String(cString: strerror(errno))))") }
        try Npy.atomicWrite(path: probe, bytes: Array("focal-ddp\n".utf8))
    }
    try comm.agree {
        guard access(probe, F_OK) == 0 else {
            throw DataError("--out \(out): rank \(comm.rank) on \(comm.processorName) does not see rank 0's files there; generate needs a directory shared by all hosts")
        }
    }

    // Contiguous row ranges per rank (any split gives the same files).
    func share(_ n: Int) -> Range<Int> { (comm.rank * n / comm.size)..<((comm.rank + 1) * n / comm.size) }
    let trainRange = share(source.trainCount), testRange = share(source.testCount)
    let rows = try comm.agree { try source.rows(train: [trainRange], test: [testRange]) }

    let files: [(name: String, header: NpyHeader, rows: Range<Int>, bytes: () -> [UInt8])] = [
        ("X_train.npy", NpyHeader(dtype: dtype == .float64 ? .float64 : .float32, shape: [source.trainCount, source.features]),
         trainRange, { featureBytes(rows.train.x, dtype) }),
        ("y_train.npy", NpyHeader(dtype: .int64, shape: [source.trainCount]), trainRange, { labelBytes(rows.train.y) }),
        ("X_test.npy", NpyHeader(dtype: dtype == .float64 ? .float64 : .float32, shape: [source.testCount, source.features]),
         testRange, { featureBytes(rows.test.x, dtype) }),
        ("y_test.npy", NpyHeader(dtype: .int64, shape: [source.testCount]), testRange, { labelBytes(rows.test.y) }),
    ]
    func temp(_ name: String) -> String { "\(out)/.\(name).tmp-\(tag)" }
    do {
        // Rank 0 creates each file at full size with its header; then every rank writes its rows.
        try comm.agree {
            guard comm.rank == 0 else { return }
            for f in files {
                let header = f.header.encoded()
                try writeAt(path: temp(f.name), offset: 0, bytes: header, create: true,
                            size: header.count + f.header.elementCount * f.header.dtype.itemSize)
            }
        }
        try comm.agree {
            for f in files where !f.rows.isEmpty {
                try writeAt(path: temp(f.name), offset: f.header.offset(ofRow: f.rows.lowerBound), bytes: f.bytes(),
                            create: false, size: nil)
            }
        }
        try comm.agree {
            guard comm.rank == 0 else { return }
            for f in files where rename(temp(f.name), "\(out)/\(f.name)") != 0 {
                throw DataError("\(out)/\(f.name): rename failed (\(String(cString: strerror(errno))))")
            }
            unlink(probe)
        }
    } catch {
        if comm.rank == 0 {
            for f in files { unlink(temp(f.name)) }
            unlink(probe)
        }
        throw error
    }

    let k = source.classes
    var counts = [Int64](repeating: 0, count: 2 * k)
    for y in rows.train.y { counts[Int(y)] += 1 }
    for y in rows.test.y { counts[k + Int(y)] += 1 }
    try comm.allreduce(&counts, op: .sum)
    let alpha = try comm.agree { try classWeights(scheme: scheme, counts: Array(counts[0..<k])) }
    if comm.rank == 0 {
        print("wrote \(out)/{X_train,y_train,X_test,y_test}.npy: train \(source.trainCount) x \(source.features), test \(source.testCount) x \(source.features) (\(dtype.rawValue) features, int64 labels)")
        print("train class counts: \(counts[0..<k].map(String.init).joined(separator: " / "))")
        print("test class counts:  \(counts[k...].map(String.init).joined(separator: " / "))")
        print("class weights (\(scheme)): [\(alpha.map { String($0) }.joined(separator: ", "))]")
    }
}

private func featureBytes(_ x: [Double], _ dtype: OutputDType) -> [UInt8] {
    switch dtype {
    case .float64: return x.withUnsafeBytes { Array($0) }
    case .float32: return x.map { Float($0) }.withUnsafeBytes { Array($0) }
    }
}

private func labelBytes(_ y: [Int32]) -> [UInt8] {
    y.map { Int64($0) }.withUnsafeBytes { Array($0) }
}

/// Writes `bytes` at `offset` of `path` (created and sized when `create`), then fsyncs.
func writeAt(path: String, offset: Int, bytes: [UInt8], create: Bool, size: Int?) throws {
    let fd = open(path, create ? (O_WRONLY | O_CREAT | O_TRUNC) : O_WRONLY, 0o644)
    guard fd >= 0 else { throw DataError("\(path): cannot open for writing (\(String(cString: strerror(errno))))") }
    defer { close(fd) }
    if let s = size, ftruncate(fd, off_t(s)) != 0 {
        throw DataError("\(path): cannot size the file (\(String(cString: strerror(errno))))")
    }
    var done = 0
    while done < bytes.count {
        let n = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress! + done, bytes.count - done, off_t(offset + done)) }
        guard n > 0 else { throw DataError("\(path): write failed (\(String(cString: strerror(errno))))") }
        done += n
    }
    guard fsync(fd) == 0 else { throw DataError("\(path): fsync failed (\(String(cString: strerror(errno))))") }
}
