// NpyDataSource: training and test rows read from NumPy .npy files, each rank reading only its rows.
//
// Features: float32 or float64, shape [rows, features], C order. Labels: int32 or int64, shape
// [rows] (or [rows, 1]). Row positions are file rows. Every problem is one line naming the file
// (and the row, for bad values).
import FocalFormats

public struct NpyDataSource: DataSource, Sendable {
    public let features: Int
    /// Number of classes: `--classes` when given, else 0 ("infer": the largest label + 1 over all
    /// ranks of both files, found by the loader with an allreduce).
    public let classes: Int
    public let trainCount: Int
    public let testCount: Int
    let trainX: String, trainY: String
    let testX: String?, testY: String?

    public init(trainX: String, trainY: String, testX: String?, testY: String?, classes: Int?) throws {
        let hx = try Npy.readHeader(path: trainX)
        let hy = try Npy.readHeader(path: trainY)
        try Self.checkPair(hx, hy, x: trainX, y: trainY)
        features = hx.rowLength
        trainCount = hx.rows
        if let tx = testX, let ty = testY {
            let tX = try Npy.readHeader(path: tx)
            let tY = try Npy.readHeader(path: ty)
            try Self.checkPair(tX, tY, x: tx, y: ty)
            guard tX.rowLength == features else {
                throw DataError("\(tx): \(tX.rowLength) features per row, but \(trainX) has \(features)")
            }
            testCount = tX.rows
        } else {
            testCount = 0
        }
        self.classes = classes ?? 0
        self.trainX = trainX
        self.trainY = trainY
        self.testX = testX
        self.testY = testY
    }

    static func checkPair(_ hx: NpyHeader, _ hy: NpyHeader, x: String, y: String) throws {
        guard hx.dtype == .float32 || hx.dtype == .float64, hx.shape.count == 2 else {
            throw DataError("\(x): features must be a 2-D float32 or float64 array, found \(hx.dtype.npyDescr) with shape \(hx.shape)")
        }
        guard hx.shape[1] >= 1 else { throw DataError("\(x): rows have no features (shape \(hx.shape))") }
        guard hy.dtype == .int32 || hy.dtype == .int64, hy.shape.count == 1 || (hy.shape.count == 2 && hy.shape[1] == 1) else {
            throw DataError("\(y): labels must be a 1-D int32 or int64 array, found \(hy.dtype.npyDescr) with shape \(hy.shape)")
        }
        guard hy.rows == hx.rows else {
            throw DataError("\(y): \(hy.rows) labels for \(hx.rows) rows in \(x)")
        }
    }

    public func location(_ part: SplitPart, row: Int) -> String {
        "\(part == .train ? trainX : (testX ?? trainX)): row \(row)"
    }

    public func rows(train: [Range<Int>], test: [Range<Int>]) throws -> (train: Rows, test: Rows) {
        let a = try read(x: trainX, y: trainY, ranges: train)
        guard let tx = testX, let ty = testY else {
            precondition(test.isEmpty, "NpyDataSource: test rows requested without test files")
            return (a, Rows(features: features))
        }
        return (a, try read(x: tx, y: ty, ranges: test))
    }

    private func read(x: String, y: String, ranges: [Range<Int>]) throws -> Rows {
        var out = Rows(features: features)
        for r in ranges where !r.isEmpty {
            let xs = try Npy.readRows(path: x, rows: r).doubles
            guard let ys = try Npy.readRows(path: y, rows: r).integers else {
                throw DataError("\(y): labels must be integers")
            }
            for (i, v) in xs.enumerated() where !v.isFinite {
                throw DataError("\(x): row \(r.lowerBound + i / features) holds a non-finite feature (\(v)) in column \(i % features)")
            }
            for (i, label) in ys.enumerated() {
                let limit = classes > 0 ? Int64(classes) : Int64(Int32.max)
                guard label >= 0 && label < limit else {
                    throw DataError("\(y): row \(r.lowerBound + i) has label \(label), outside 0..<\(classes > 0 ? String(classes) : "2^31")"
                                    + (classes > 0 ? " (--classes \(classes))" : ""))
                }
            }
            out.x += xs
            out.y += ys.map { Int32($0) }
        }
        return out
    }
}
