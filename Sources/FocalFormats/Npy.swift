// Npy: read and write NumPy .npy files (format 1.0/2.0, little-endian f4/f8/i4/i8, C order, 1-D/2-D).

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Header

/// A parsed .npy header. Format reference: NumPy NEP 1 / `numpy/lib/format.py`:
/// magic `\x93NUMPY`, major, minor, header length (u16 LE for 1.0, u32 LE for 2.0), then an ASCII
/// Python dict literal `{'descr': '<f8', 'fortran_order': False, 'shape': (r, c), }` padded with
/// spaces and ending in `\n`, the whole preamble a multiple of 64 bytes.
public struct NpyHeader: Sendable, Equatable {
    public var dtype: DType
    /// `[rows]` or `[rows, columns]`.
    public var shape: [Int]
    /// Byte offset of the first element in the file.
    public var dataOffset: Int
    /// Format major version (1 or 2).
    public var version: Int

    /// Rows (the first dimension).
    public var rows: Int { shape[0] }
    /// Elements per row (1 for a 1-D array).
    public var rowLength: Int { shape.count == 2 ? shape[1] : 1 }
    public var elementCount: Int { shape.reduce(1, *) }
    /// Bytes per row.
    public var rowBytes: Int { rowLength * dtype.size }
    /// Byte offset of row `r`.
    public func offset(ofRow r: Int) -> Int { dataOffset + r * rowBytes }

    public init(dtype: DType, shape: [Int]) {
        self.dtype = dtype
        self.shape = shape
        self.version = 1
        self.dataOffset = 0
        let bytes = encoded()
        self.version = bytes[6] == 2 ? 2 : 1
        self.dataOffset = bytes.count
    }

    init(dtype: DType, shape: [Int], dataOffset: Int, version: Int) {
        self.dtype = dtype
        self.shape = shape
        self.dataOffset = dataOffset
        self.version = version
    }

    /// The preamble bytes for this dtype and shape (version 1.0 unless the dict needs more than 65535 bytes).
    public func encoded() -> [UInt8] {
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        let dict = "{'descr': '\(dtype.npyDescr)', 'fortran_order': False, 'shape': \(shapeText), }"
        for major in [1, 2] {
            let fixed = major == 1 ? 10 : 12
            var total = fixed + dict.utf8.count + 1
            total = (total + 63) / 64 * 64
            let headerLength = total - fixed
            if major == 1 && headerLength > 65535 { continue }
            var out: [UInt8] = [0x93] + Array("NUMPY".utf8) + [UInt8(major), 0]
            if major == 1 {
                out += [UInt8(headerLength & 0xFF), UInt8(headerLength >> 8)]
            } else {
                out += (0..<4).map { UInt8((headerLength >> (8 * $0)) & 0xFF) }
            }
            out += Array(dict.utf8)
            out += [UInt8](repeating: 0x20, count: headerLength - dict.utf8.count - 1)
            out.append(0x0A)
            return out
        }
        return []
    }
}

// MARK: - Reading and writing

/// Typed contents of an .npy file (or of a row range of it), row-major.
public enum NpyArray: Sendable, Equatable {
    case float32([Float])
    case float64([Double])
    case int32([Int32])
    case int64([Int64])

    public var dtype: DType {
        switch self {
        case .float32: return .float32
        case .float64: return .float64
        case .int32: return .int32
        case .int64: return .int64
        }
    }

    public var count: Int {
        switch self {
        case .float32(let v): return v.count
        case .float64(let v): return v.count
        case .int32(let v): return v.count
        case .int64(let v): return v.count
        }
    }

    /// The values as float64 (exact for f4, i4; i8 rounds beyond 2^53).
    public var doubles: [Double] {
        switch self {
        case .float32(let v): return v.map(Double.init)
        case .float64(let v): return v
        case .int32(let v): return v.map(Double.init)
        case .int64(let v): return v.map(Double.init)
        }
    }

    /// The values as Int64 (integer dtypes only).
    public var integers: [Int64]? {
        switch self {
        case .int32(let v): return v.map(Int64.init)
        case .int64(let v): return v
        default: return nil
        }
    }
}

/// .npy file access. Every failure is one line naming the file (`DataError` for a bad or unreadable
/// file, `FileError` for a failed write).
public enum Npy {
    /// Reads and validates the header of `path`, including that the file holds all the data.
    public static func readHeader(path: String) throws -> NpyHeader {
        let fd = try openForReading(path)
        defer { close(fd) }
        return try header(fd: fd, path: path)
    }

    /// Parses a preamble (`bytes` holds at least the whole header). `fileName` names errors.
    public static func parseHeader(_ bytes: [UInt8], fileName: String) throws -> NpyHeader {
        func fail(_ why: String) -> DataError { DataError("\(fileName): not a supported .npy file: \(why)") }
        let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)
        guard bytes.count >= 10 else { throw fail("truncated header") }
        guard Array(bytes[0..<6]) == magic else { throw fail("bad magic string") }
        let major = Int(bytes[6])
        guard major == 1 || major == 2, bytes[7] == 0 else { throw fail("unsupported format version \(bytes[6]).\(bytes[7])") }
        let fixed = major == 1 ? 10 : 12
        guard bytes.count >= fixed else { throw fail("truncated header") }
        var headerLength = 0
        for i in 0..<(fixed - 8) { headerLength |= Int(bytes[8 + i]) << (8 * i) }
        guard bytes.count >= fixed + headerLength else { throw fail("truncated header") }
        guard let text = String(validating: bytes[fixed..<(fixed + headerLength)], as: UTF8.self),
              text.unicodeScalars.allSatisfy({ $0.isASCII }) else { throw fail("header is not ASCII") }
        var parser = DictParser(text: Array(text.utf8))
        guard let dict = parser.parseDict() else { throw fail("garbled header dictionary") }
        guard Set(dict.keys) == ["descr", "fortran_order", "shape"] else {
            throw fail("header keys must be descr, fortran_order, shape; got \(dict.keys.sorted())")
        }
        guard case .string(let descr)? = dict["descr"] else { throw fail("descr is not a string") }
        guard let dtype = DType(npyDescr: descr) else {
            throw fail("dtype '\(descr)' (supported: <f4, <f8, <i4, <i8)")
        }
        guard case .bool(let fortran)? = dict["fortran_order"] else { throw fail("fortran_order is not a bool") }
        if fortran { throw fail("Fortran order (only C order is supported)") }
        guard case .tuple(let shape)? = dict["shape"] else { throw fail("shape is not a tuple") }
        guard shape.count == 1 || shape.count == 2 else { throw fail("\(shape.count)-D array (only 1-D and 2-D)") }
        guard shape.allSatisfy({ $0 >= 0 }) else { throw fail("negative dimension") }
        let count = shape.reduce(1) { $0.multipliedReportingOverflow(by: $1).partialValue }
        if shape.reduce(false, { $0 || $1 > Int(Int32.max) }) || count > Int.max / 16 { throw fail("shape too large") }
        return NpyHeader(dtype: dtype, shape: shape, dataOffset: fixed + headerLength, version: major)
    }

    /// Reads the whole array.
    public static func read(path: String) throws -> (header: NpyHeader, values: NpyArray) {
        let h = try readHeader(path: path)
        return (h, try readRows(path: path, rows: 0..<h.rows))
    }

    /// Reads rows `rows` only (memory proportional to the rows read): `[rows.count, rowLength]`.
    public static func readRows(path: String, rows: Range<Int>) throws -> NpyArray {
        let fd = try openForReading(path)
        defer { close(fd) }
        let h = try header(fd: fd, path: path)
        guard rows.lowerBound >= 0, rows.upperBound <= h.rows else {
            throw DataError("\(path): rows \(rows) outside 0..<\(h.rows)")
        }
        let n = rows.count * h.rowLength
        let offset = h.offset(ofRow: rows.lowerBound)
        switch h.dtype {
        case .float32:
            var v = [Float](repeating: 0, count: n)
            try v.withUnsafeMutableBytes { try preadAll(fd, $0, offset: offset, path: path) }
            return .float32(v.map { Float(bitPattern: UInt32(littleEndian: $0.bitPattern)) })
        case .float64:
            var v = [Double](repeating: 0, count: n)
            try v.withUnsafeMutableBytes { try preadAll(fd, $0, offset: offset, path: path) }
            return .float64(v.map { Double(bitPattern: UInt64(littleEndian: $0.bitPattern)) })
        case .int32:
            var v = [Int32](repeating: 0, count: n)
            try v.withUnsafeMutableBytes { try preadAll(fd, $0, offset: offset, path: path) }
            return .int32(v.map { Int32(littleEndian: $0) })
        case .int64:
            var v = [Int64](repeating: 0, count: n)
            try v.withUnsafeMutableBytes { try preadAll(fd, $0, offset: offset, path: path) }
            return .int64(v.map { Int64(littleEndian: $0) })
        }
    }

    /// Writes `values` with `shape` through `FileIO.replace` (atomically for a file, in place for a
    /// device or a FIFO).
    public static func write(path: String, shape: [Int], values: NpyArray) throws {
        guard shape.count == 1 || shape.count == 2, shape.allSatisfy({ $0 >= 0 }),
              shape.reduce(1, *) == values.count else {
            throw DataError("\(path): shape \(shape) does not match \(values.count) values (1-D or 2-D only)")
        }
        var bytes = NpyHeader(dtype: values.dtype, shape: shape).encoded()
        switch values {
        case .float32(let v): v.withUnsafeBytes { bytes += $0 }
        case .float64(let v): v.withUnsafeBytes { bytes += $0 }
        case .int32(let v): v.withUnsafeBytes { bytes += $0 }
        case .int64(let v): v.withUnsafeBytes { bytes += $0 }
        }
        try FileIO.replace(path, with: bytes)
    }

    // MARK: - File helpers

    static func openForReading(_ path: String) throws -> Int32 {
        let fd = retryingEINTR { open(path, O_RDONLY | O_CLOEXEC) }
        guard fd >= 0 else { throw DataError("\(path): cannot open: \(errnoText())") }
        return fd
    }

    static func header(fd: Int32, path: String) throws -> NpyHeader {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw DataError("\(path): cannot stat: \(errnoText())") }
        let size = Int(st.st_size)
        var pre = [UInt8](repeating: 0, count: min(size, 12))
        try pre.withUnsafeMutableBytes { try preadAll(fd, $0, offset: 0, path: path) }
        var need = pre.count
        if pre.count >= 10 {
            let major = pre[6]
            if major == 1 { need = 10 + Int(pre[8]) + Int(pre[9]) << 8 }
            if major == 2 && pre.count >= 12 {
                need = 12 + (0..<4).reduce(0) { $0 | Int(pre[8 + $1]) << (8 * $1) }
            }
        }
        var bytes = pre
        if need > pre.count && need <= size && need < (1 << 26) {
            bytes = [UInt8](repeating: 0, count: need)
            try bytes.withUnsafeMutableBytes { try preadAll(fd, $0, offset: 0, path: path) }
        }
        let h = try parseHeader(bytes, fileName: path)
        let dataBytes = h.elementCount * h.dtype.size
        if size < h.dataOffset + dataBytes {
            throw DataError("\(path): truncated .npy file: \(size) bytes, header promises \(h.dataOffset + dataBytes)")
        }
        return h
    }

    static func preadAll(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer, offset: Int, path: String) throws {
        var done = 0
        while done < buffer.count {
            let r = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            if r < 0 && errno == EINTR { continue }
            if r < 0 { throw DataError("\(path): read failed: \(errnoText())") }
            if r == 0 { throw DataError("\(path): truncated .npy file at byte \(offset + done)") }
            done += r
        }
    }
}

// MARK: - Header dictionary parser

/// A tiny parser for the Python literal in an .npy header: a dict of string keys whose values
/// are strings, `True`/`False` or tuples of integers.
struct DictParser {
    enum Value: Equatable { case string(String), bool(Bool), tuple([Int]) }
    let text: [UInt8]
    var i = 0

    init(text: [UInt8]) { self.text = text }

    mutating func skipSpace() { while i < text.count, text[i] == 0x20 || text[i] == 0x0A || text[i] == 0x09 { i += 1 } }

    mutating func eat(_ c: Character) -> Bool {
        skipSpace()
        guard i < text.count, text[i] == c.asciiValue! else { return false }
        i += 1
        return true
    }

    mutating func parseString() -> String? {
        skipSpace()
        guard i < text.count, text[i] == 0x27 || text[i] == 0x22 else { return nil }
        let quote = text[i]
        i += 1
        let start = i
        while i < text.count, text[i] != quote { i += 1 }
        guard i < text.count else { return nil }
        let s = String(decoding: text[start..<i], as: UTF8.self)
        i += 1
        return s
    }

    mutating func parseInt() -> Int? {
        skipSpace()
        let start = i
        while i < text.count, text[i] >= 0x30 && text[i] <= 0x39 { i += 1 }
        guard i > start, i - start <= 18 else { return nil }
        let v = Int(String(decoding: text[start..<i], as: UTF8.self))
        if i < text.count, text[i] == 0x4C { i += 1 }  // Python 2 long suffix
        return v
    }

    mutating func parseValue() -> Value? {
        skipSpace()
        guard i < text.count else { return nil }
        if text[i] == 0x27 || text[i] == 0x22 { return parseString().map(Value.string) }
        if text[i] == 0x28 {
            i += 1
            var items = [Int]()
            while true {
                if eat(")") { return .tuple(items) }
                guard let v = parseInt() else { return nil }
                items.append(v)
                if eat(",") { continue }
                guard eat(")") else { return nil }
                return .tuple(items)
            }
        }
        for (word, value) in [("True", true), ("False", false)] {
            let w = Array(word.utf8)
            if i + w.count <= text.count, Array(text[i..<(i + w.count)]) == w {
                i += w.count
                return .bool(value)
            }
        }
        return nil
    }

    mutating func parseDict() -> [String: Value]? {
        guard eat("{") else { return nil }
        var out = [String: Value]()
        while true {
            if eat("}") { break }
            guard let key = parseString(), eat(":"), let value = parseValue(), out[key] == nil else { return nil }
            out[key] = value
            if eat(",") { continue }
            guard eat("}") else { return nil }
            break
        }
        skipSpace()
        return i == text.count ? out : nil
    }
}
