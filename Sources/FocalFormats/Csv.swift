// Csv: the CSV row format (numeric fields, no quoting), a line reader, and the byte-range scan that
// lets each rank count and check only its share of a file.
//
// Format: lines end in `\n` (a `\r` before it is dropped); fields are separated by `,` with no
// quoting; spaces and tabs around a field are ignored. If any field of the first line is not a
// number, that line is a header of column names. One column is the label (an integer class
// index), every other column is a feature (a finite float64, parsed correctly rounded, so the
// shortest round-trip decimal of a double gives back that double). Empty lines at the end of the
// file are ignored; an empty line followed by more data is an error. Line numbers in errors are
// 1-based lines of the file.
//
// Splitting (used by `CsvDataSource` across ranks, and by `Csv.parse(_:parts:)` in one process):
// part r of P owns the lines whose first byte lies in `[r*size/P, (r+1)*size/P)`. Each part counts
// and validates its own lines; the per-part counts, summed in part order, give every part its
// global row and line numbers.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Layout

/// The columns of a CSV file, read from its first line.
public struct CsvLayout: Sendable, Equatable {
    /// Fields per line.
    public var columns: Int
    /// Column names when the first line is a header, else nil.
    public var header: [String]?
    /// 0-based column of the label.
    public var labelIndex: Int

    /// Feature columns (all columns but the label).
    public var features: Int { columns - 1 }
    /// 1 when the first line is a header, else 0.
    public var headerLines: Int { header == nil ? 0 : 1 }
}

// MARK: - Parsing lines

/// Parsing of one CSV line. Functions return a problem text (without the `file:line:` prefix).
public enum Csv {
    static let comma = UInt8(ascii: ",")
    static let newline = UInt8(ascii: "\n")

    /// The fields of `line` (split on commas; no quoting).
    static func fields(_ line: ArraySlice<UInt8>) -> [ArraySlice<UInt8>] {
        line.split(separator: comma, omittingEmptySubsequences: false)
    }

    /// `field` without surrounding spaces and tabs.
    static func trimmed(_ field: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var lo = field.startIndex, hi = field.endIndex
        while lo < hi, field[lo] == 0x20 || field[lo] == 0x09 { lo += 1 }
        while hi > lo, field[hi - 1] == 0x20 || field[hi - 1] == 0x09 { hi -= 1 }
        return field[lo..<hi]
    }

    /// The number in `field` (trimmed), correctly rounded (`strtod`), or nil if it is not one.
    /// NaN and infinities parse (they are rejected later as non-finite values).
    static func number(_ field: ArraySlice<UInt8>) -> Double? {
        let t = trimmed(field)
        guard !t.isEmpty else { return nil }
        return Double(String(decoding: t, as: UTF8.self))
    }

    /// `field` as printable one-line text for an error message (at most 40 characters).
    static func shown(_ field: ArraySlice<UInt8>) -> String {
        let t = trimmed(field)
        return "'" + printable(String(decoding: t.prefix(40), as: UTF8.self)) + (t.count > 40 ? "..." : "") + "'"
    }

    /// `text` with control characters replaced by `?` (error messages stay on one line).
    static func printable(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "?" : $0 }))
    }

    /// Reads the layout from the first line of a file and resolves `labelColumn` (a header name,
    /// else a 0-based index; nil: the last column). Throws a `DataError` naming `fileName`.
    public static func layout(firstLine: ArraySlice<UInt8>, labelColumn: String?, fileName: String) throws -> CsvLayout {
        guard !firstLine.isEmpty else { throw DataError("\(fileName):1: the first line is empty (expected a header or a data row)") }
        let parts = fields(firstLine)
        let columns = parts.count
        guard columns >= 2 else {
            throw DataError("\(fileName):1: found \(columns) column, need at least 2 (features and a label)")
        }
        var header: [String]?
        if parts.contains(where: { number($0) == nil }) {
            header = parts.map { String(decoding: trimmed($0), as: UTF8.self) }
        }
        var labelIndex = columns - 1
        if let spec = labelColumn {
            if let names = header, let i = names.firstIndex(of: spec) {
                labelIndex = i
            } else if let i = Int(spec), (0..<columns).contains(i) {
                labelIndex = i
            } else if header != nil {
                throw DataError("\(fileName): label column '\(printable(spec))' is neither a name in the header nor a column index 0..<\(columns)")
            } else {
                throw DataError("\(fileName): label column '\(printable(spec))' must be a column index 0..<\(columns) (the file has no header)")
            }
        }
        return CsvLayout(columns: columns, header: header, labelIndex: labelIndex)
    }

    /// Parses one data line (non-empty, no line terminator): appends its `features` values to `x`
    /// and its label to `y`, or returns the problem and appends nothing. `classes` 0 means any
    /// label in `0..<2^31` is accepted.
    static func parseRow(_ line: ArraySlice<UInt8>, layout: CsvLayout, classes: Int,
                         x: inout [Double], y: inout [Int32]) -> String? {
        let parts = fields(line)
        guard parts.count == layout.columns else {
            return "\(parts.count) field\(parts.count == 1 ? "" : "s"), expected \(layout.columns)"
        }
        func column(_ c: Int) -> String {
            if let h = layout.header { return "column \(c) ('\(printable(String(h[c].prefix(40))))')" }
            return "column \(c)"
        }
        let mark = x.count
        var label: Int64 = 0
        for (c, field) in parts.enumerated() {
            if c == layout.labelIndex {
                let t = trimmed(field)
                if let v = Int64(String(decoding: t, as: UTF8.self)) {
                    label = v
                } else if let d = number(t), d.isFinite, d.rounded(.towardZero) == d, abs(d) < 9.0e15 {
                    label = Int64(d)
                } else {
                    x.removeSubrange(mark...)
                    return "label \(shown(field)) in \(column(c)) is not an integer"
                }
                continue
            }
            guard let v = number(field) else {
                x.removeSubrange(mark...)
                return "feature \(shown(field)) in \(column(c)) is not a number"
            }
            guard v.isFinite else {
                x.removeSubrange(mark...)
                return "feature \(shown(field)) in \(column(c)) is not finite"
            }
            x.append(v)
        }
        let limit = classes > 0 ? Int64(classes) : Int64(Int32.max)
        guard label >= 0 && label < limit else {
            x.removeSubrange(mark...)
            return classes > 0 ? "label \(label) outside 0..<\(classes) (classes \(classes))"
                               : "label \(label) outside 0..<2^31"
        }
        y.append(Int32(label))
        return nil
    }
}

// MARK: - Line reader

/// Reads lines of a file (with `pread`, in 1 MiB blocks) or of a byte array, from any offset.
package final class CsvLineReader {
    private let fd: Int32
    package let path: String
    /// Size of the file in bytes.
    package let size: Int
    /// Bytes `bufferStart ..< bufferStart + buffer.count` of the file.
    private var buffer: [UInt8]
    private var bufferStart = 0
    /// Index in `buffer` of the next unread byte.
    private var cursor = 0
    private let inMemory: Bool
    /// Bytes per `pread` (tests use tiny blocks to exercise lines that span blocks).
    private let block: Int

    /// Opens `path` for reading.
    package init(path: String, block: Int = 1 << 20) throws {
        precondition(block >= 1, "CsvLineReader: block must be >= 1")
        self.block = block
        let fd = retryingEINTR { open(path, O_RDONLY | O_CLOEXEC) }
        guard fd >= 0 else { throw DataError("\(path): cannot open: \(errnoText())") }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let why = errnoText()
            close(fd)
            throw DataError("\(path): cannot stat: \(why)")
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw DataError("\(path): not a regular file")
        }
        self.fd = fd
        self.path = path
        self.size = Int(st.st_size)
        self.buffer = []
        self.inMemory = false
    }

    /// Reads lines of `bytes` (which stand for the file `name`).
    init(bytes: [UInt8], name: String) {
        self.fd = -1
        self.path = name
        self.size = bytes.count
        self.buffer = bytes
        self.inMemory = true
        self.block = bytes.count
    }

    deinit { if fd >= 0 { close(fd) } }

    /// The offset of the next unread byte.
    var offset: Int { bufferStart + cursor }

    /// Moves to byte `offset` (0...size).
    func seek(_ offset: Int) {
        if inMemory || (offset >= bufferStart && offset <= bufferStart + buffer.count) {
            cursor = offset - bufferStart
        } else {
            buffer.removeAll(keepingCapacity: true)
            bufferStart = offset
            cursor = 0
        }
    }

    /// Appends up to one block after the buffer; false at the end of the file.
    private func refill() throws -> Bool {
        if inMemory { return false }
        // Drop consumed bytes first so the buffer holds at most the current line plus a block.
        if cursor > 0 {
            buffer.removeSubrange(0..<cursor)
            bufferStart += cursor
            cursor = 0
        }
        let at = bufferStart + buffer.count
        let want = min(block, size - at)
        guard want > 0 else { return false }
        let old = buffer.count
        buffer += [UInt8](repeating: 0, count: want)
        var done = 0
        while done < want {
            let r = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + old + done, want - done, off_t(at + done)) }
            if r < 0 && errno == EINTR { continue }
            if r < 0 { throw DataError("\(path): read failed: \(errnoText())") }
            if r == 0 { break }
            done += r
        }
        buffer.removeSubrange((old + done)...)
        return done > 0
    }

    /// The next line without its `\n` (and without one `\r` before it), or nil at the end of the
    /// file. The slice is valid until the next call.
    package func nextLine() throws -> ArraySlice<UInt8>? {
        var scanFrom = cursor
        while true {
            if let nl = buffer[scanFrom...].firstIndex(of: Csv.newline) {
                var end = nl
                if end > cursor, buffer[end - 1] == 0x0D { end -= 1 }
                let line = buffer[cursor..<end]
                cursor = nl + 1
                return line
            }
            let consumed = cursor
            scanFrom = buffer.count
            if try !refill() {
                if cursor >= buffer.count { return nil }
                var end = buffer.count
                if buffer[end - 1] == 0x0D { end -= 1 }
                let line = buffer[cursor..<end]
                cursor = buffer.count
                return line
            }
            scanFrom -= consumed - cursor  // the buffer shifted left by the consumed bytes
        }
    }
}

// MARK: - Scanning a byte range

/// What one part learned about the lines starting in its byte range.
package struct CsvRangeScan: Sendable, Equatable {
    /// Lines starting in the range (stops counting at the first problem).
    var lines = 0
    /// Byte offset of each data row starting in the range, in order: `[rows]`.
    var rowOffsets: [Int] = []
    /// Local index (0-based, within the range) of the first empty line, or -1.
    var firstEmpty = -1
    /// Local index of the last non-empty data line (or of the problem line), or -1.
    var lastData = -1
    /// The first invalid row: local line index and the problem.
    var problem: (line: Int, message: String)?

    var rows: Int { rowOffsets.count }

    package static func == (a: CsvRangeScan, b: CsvRangeScan) -> Bool {
        a.lines == b.lines && a.rowOffsets == b.rowOffsets && a.firstEmpty == b.firstEmpty
            && a.lastData == b.lastData && a.problem?.line == b.problem?.line && a.problem?.message == b.problem?.message
    }

    /// What the other parts need: `[lines, rows, offset of the first row (or -1), has data (0/1)]`.
    package var summary: [Int64] {
        [Int64(lines), Int64(rows), Int64(rowOffsets.first ?? -1), lastData >= 0 ? 1 : 0]
    }
}

extension Csv {
    /// Part `part` of `parts` of a file of `size` bytes: `[part*size/parts, (part+1)*size/parts)`.
    package static func byteRange(part: Int, parts: Int, size: Int) -> Range<Int> {
        (part * size / parts)..<((part + 1) * size / parts)
    }

    /// Counts and validates the lines whose first byte lies in `range`: records each data row's
    /// offset, the first empty line, and the first invalid row (then stops).
    package static func scan(_ reader: CsvLineReader, range: Range<Int>, layout: CsvLayout, classes: Int) throws -> CsvRangeScan {
        var out = CsvRangeScan()
        guard !range.isEmpty else { return out }
        // The first line starting at or after range.lowerBound: skip the rest of the line that
        // holds byte lowerBound - 1 (a line starts after every newline).
        if range.lowerBound > 0 {
            reader.seek(range.lowerBound - 1)
            _ = try reader.nextLine()
        } else {
            reader.seek(0)
        }
        var x: [Double] = []
        var y: [Int32] = []
        while reader.offset < range.upperBound {
            let start = reader.offset
            guard let line = try reader.nextLine() else { break }
            let local = out.lines
            out.lines += 1
            if start == 0 && layout.header != nil { continue }
            if line.isEmpty {
                if out.firstEmpty < 0 { out.firstEmpty = local }
                continue
            }
            out.lastData = local
            x.removeAll(keepingCapacity: true)
            y.removeAll(keepingCapacity: true)
            if let problem = parseRow(line, layout: layout, classes: classes, x: &x, y: &y) {
                out.problem = (local, problem)
                break
            }
            out.rowOffsets.append(start)
        }
        return out
    }

    /// The first problem of part `part` in file order, given every part's summary: its own
    /// invalid row, or an empty line followed by data (in this part or a later one). Returns the
    /// 1-based file line and the message, with `fileName:line:` prefixed.
    package static func firstProblem(part: Int, scan: CsvRangeScan, summaries: [[Int64]], fileName: String) -> String? {
        let lineBase = summaries[..<part].reduce(0) { $0 + Int($1[0]) }
        let dataLater = summaries[(part + 1)...].contains { $0[3] != 0 }
        var best: (line: Int, message: String)? = scan.problem
        if scan.firstEmpty >= 0, scan.lastData > scan.firstEmpty || dataLater,
           best == nil || scan.firstEmpty < best!.line {
            best = (scan.firstEmpty, "empty line before more data")
        }
        guard let best else { return nil }
        return "\(fileName):\(lineBase + best.line + 1): \(best.message)"
    }
}

// MARK: - Row index

/// Where each row of a CSV file starts: exact offsets for one part's rows, plus the first row and
/// its offset for every part, so any row can be found by seeking to its part and reading forward.
package struct CsvRowIndex: Sendable {
    package let path: String
    package let layout: CsvLayout
    /// Data rows in the whole file.
    package let rows: Int
    /// `[parts with rows]`: first global row number of each part holding rows, ascending.
    let coarseRows: [Int]
    /// `[parts with rows]`: byte offset of that row.
    let coarseOffsets: [Int]
    /// Global row number of `localOffsets[0]`.
    let localFirstRow: Int
    /// `[rows of this part]`: byte offset of each row of this part.
    let localOffsets: [Int]

    /// The index for part `part`, from every part's summary and this part's own scan.
    package init(path: String, layout: CsvLayout, part: Int, scan: CsvRangeScan, summaries: [[Int64]]) {
        self.path = path
        self.layout = layout
        var first = 0
        var coarseRows: [Int] = [], coarseOffsets: [Int] = []
        var localFirst = 0
        for (p, s) in summaries.enumerated() {
            if p == part { localFirst = first }
            if s[1] > 0 {
                coarseRows.append(first)
                coarseOffsets.append(Int(s[2]))
            }
            first += Int(s[1])
        }
        self.rows = first
        self.coarseRows = coarseRows
        self.coarseOffsets = coarseOffsets
        self.localFirstRow = localFirst
        self.localOffsets = scan.rowOffsets
    }

    /// The byte offset from which to read, and how many rows to skip there, to reach `row`.
    func locate(_ row: Int) -> (offset: Int, skip: Int) {
        if row >= localFirstRow && row < localFirstRow + localOffsets.count {
            return (localOffsets[row - localFirstRow], 0)
        }
        // Last part whose first row is <= row (binary search).
        var lo = 0, hi = coarseRows.count
        while hi - lo > 1 {
            let mid = (lo + hi) / 2
            if coarseRows[mid] <= row { lo = mid } else { hi = mid }
        }
        return (coarseOffsets[lo], row - coarseRows[lo])
    }

    /// The rows at `ranges` (sorted, in `0..<rows`), concatenated, read through `reader`.
    package func read(_ ranges: [Range<Int>], reader: CsvLineReader, classes: Int) throws -> Rows {
        var x: [Double] = []
        var y: [Int32] = []
        let total = ranges.reduce(0) { $0 + $1.count }
        x.reserveCapacity(total * layout.features)
        y.reserveCapacity(total)
        var nextRow = -1  // the row the reader is positioned at, when known
        for r in ranges where !r.isEmpty {
            guard r.lowerBound >= 0, r.upperBound <= rows else {
                throw DataError("\(path): rows \(r) outside 0..<\(rows)")
            }
            if r.lowerBound != nextRow {
                let (offset, skip) = locate(r.lowerBound)
                reader.seek(offset)
                for _ in 0..<skip {
                    guard let line = try reader.nextLine(), !line.isEmpty else {
                        throw DataError("\(path): the file changed while it was being read")
                    }
                }
            }
            for row in r {
                guard let line = try reader.nextLine(), !line.isEmpty else {
                    throw DataError("\(path): the file changed while it was being read")
                }
                if let problem = Csv.parseRow(line, layout: layout, classes: classes, x: &x, y: &y) {
                    throw DataError("\(path):\(row + layout.headerLines + 1): \(problem)")
                }
            }
            nextRow = r.upperBound
        }
        return Rows(features: layout.features, x: x, y: y)
    }
}

// MARK: - Whole buffers

extension Csv {
    /// Parses a whole CSV held in memory, split into `parts` byte ranges exactly as `parts` ranks
    /// would split the file, then reads all rows back through each part's index. The result does
    /// not depend on `parts` (the fuzzer checks this). `classes` nil or 0: labels in `0..<2^31`.
    public static func parse(_ bytes: [UInt8], labelColumn: String? = nil, classes: Int? = nil,
                             fileName: String = "<memory>", parts: Int = 1) throws -> (layout: CsvLayout, rows: Rows) {
        precondition(parts >= 1, "Csv.parse: parts must be >= 1")
        let reader = CsvLineReader(bytes: bytes, name: fileName)
        guard let first = try reader.nextLine() else {
            throw DataError("\(fileName): empty file (no header and no rows)")
        }
        let layout = try Csv.layout(firstLine: first, labelColumn: labelColumn, fileName: fileName)
        let k = classes ?? 0
        let scans = try (0..<parts).map {
            try scan(reader, range: byteRange(part: $0, parts: parts, size: bytes.count), layout: layout, classes: k)
        }
        let summaries = scans.map(\.summary)
        for p in 0..<parts {
            if let problem = firstProblem(part: p, scan: scans[p], summaries: summaries, fileName: fileName) {
                throw DataError(problem)
            }
        }
        var out = Rows(features: layout.features)
        let total = summaries.reduce(0) { $0 + Int($1[1]) }
        for p in 0..<parts {
            let index = CsvRowIndex(path: fileName, layout: layout, part: p, scan: scans[p], summaries: summaries)
            // Part p reads an even share of the rows (not its own byte range's rows), so both the
            // exact and the coarse index are exercised.
            let share = (p * total / parts)..<((p + 1) * total / parts)
            let rows = try index.read([share], reader: reader, classes: k)
            out.x += rows.x
            out.y += rows.y
        }
        return (layout, out)
    }
}
