// CsvDataSource: training and test rows read from CSV files, each rank scanning only its byte range.
//
// `open` is collective: every rank reads the first line (the layout), then counts and validates
// the lines starting in its own byte range `[r*size/P, (r+1)*size/P)`; one allgather of four
// numbers per rank gives every rank the global row and line numbers (an exclusive prefix sum of
// the counts) and the first row's offset of every rank's range. A rank keeps the exact offsets of
// its own range's rows only (memory proportional to its shard); any other row is found by seeking
// to the first row of the range that holds it and reading forward. Row positions are data rows of
// the file, in file order, whatever the number of ranks.
import Collectives
import FocalFormats

public struct CsvDataSource: DataSource, Sendable {
    public let features: Int
    /// Number of classes: the `classes` given to `open`, else 0 ("infer": the largest label + 1
    /// over all ranks of both files, found by the loader with an allreduce).
    public let classes: Int
    public let trainCount: Int
    public let testCount: Int
    let train: CsvRowIndex
    let test: CsvRowIndex?

    /// Opens `train` (and `test`) collectively: every rank of `comm` must call it. `labelColumn`
    /// is a header name or a 0-based column index (nil: the last column); `classes` nil means
    /// infer. A problem on any rank (unreadable file, malformed row, bad label) is thrown on every
    /// rank as the same one-line `DataError` naming `file:line`.
    public static func open(train: String, test: String?, labelColumn: String?, classes: Int?,
                            comm: Communicator) throws -> CsvDataSource {
        if let classes, classes < 1 {
            throw DataError("classes must be at least 1, got \(classes)")
        }
        let trainIndex = try index(path: train, labelColumn: labelColumn, classes: classes ?? 0, comm: comm)
        var testIndex: CsvRowIndex?
        if let test {
            let t = try index(path: test, labelColumn: labelColumn, classes: classes ?? 0, comm: comm)
            guard t.layout.features == trainIndex.layout.features else {
                throw DataError("\(test): \(t.layout.features) features per row, but \(train) has \(trainIndex.layout.features)")
            }
            testIndex = t
        }
        return CsvDataSource(features: trainIndex.layout.features, classes: classes ?? 0,
                             trainCount: trainIndex.rows, testCount: testIndex?.rows ?? 0,
                             train: trainIndex, test: testIndex)
    }

    /// Layout, scan of this rank's byte range, allgather of the counts, agreement on problems.
    static func index(path: String, labelColumn: String?, classes: Int, comm: Communicator) throws -> CsvRowIndex {
        // Local: open, read the first line, scan this rank's range (no collectives inside).
        let (layout, scan, size) = try comm.agree { () throws -> (CsvLayout, CsvRangeScan, Int) in
            let reader = try CsvLineReader(path: path)
            guard let first = try reader.nextLine() else {
                throw DataError("\(path): empty file (no header and no rows)")
            }
            let layout = try Csv.layout(firstLine: first, labelColumn: labelColumn, fileName: path)
            let range = Csv.byteRange(part: comm.rank, parts: comm.size, size: reader.size)
            let scan = try Csv.scan(reader, range: range, layout: layout, classes: classes)
            return (layout, scan, reader.size)
        }
        // Every rank must have split the same file.
        let sizes = try comm.allgatherv([Int64(size)])
        let allSizes = sizes.map { $0.first ?? -1 }
        if Set(allSizes).count != 1 {
            throw DataError("\(path): ranks see different file sizes (\(allSizes.map(String.init).joined(separator: ", ")) bytes)")
        }
        // [ranks][4]: lines, rows, first row offset, has data (see CsvRangeScan.summary).
        let summaries = try comm.allgatherv(scan.summary).map { $0 }
        try comm.agree {
            if let problem = Csv.firstProblem(part: comm.rank, scan: scan, summaries: summaries, fileName: path) {
                throw DataError(problem)
            }
        }
        return CsvRowIndex(path: path, layout: layout, part: comm.rank, scan: scan, summaries: summaries)
    }

    public func location(_ part: SplitPart, row: Int) -> String {
        "\(part == .train ? train.path : (test?.path ?? train.path)): data row \(row)"
    }

    public func rows(train: [Range<Int>], test: [Range<Int>]) throws -> (train: Rows, test: Rows) {
        let a = try self.train.read(train, reader: CsvLineReader(path: self.train.path), classes: classes)
        guard let t = self.test else {
            precondition(test.isEmpty, "CsvDataSource: test rows requested without a test file")
            return (a, Rows(features: features))
        }
        return (a, try t.read(test, reader: CsvLineReader(path: t.path), classes: classes))
    }
}
