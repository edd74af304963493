// Safetensors: read and write the safetensors tensor file format (the parameter files PyTorch writes).

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// The format (huggingface/safetensors, README "Format"):
//   8 bytes   N, unsigned 64-bit little-endian: the length of the header
//   N bytes   a UTF-8 JSON object: {"__metadata__": {string: string} (optional),
//             "<name>": {"dtype": "F32", "shape": [d0, d1, ...], "data_offsets": [begin, end]}, ...};
//             the reference writer pads it with spaces (0x20) to a multiple of 8 bytes
//   the rest  the payload: each tensor's elements row-major, little-endian, at payload bytes
//             begin..<end; the tensors cover the payload exactly (no holes, no overlap)

// MARK: - File model

/// A safetensors file in memory: named tensors plus the free-form `__metadata__` string map.
public struct SafetensorsFile: Sendable, Equatable {
    /// Element types this reader understands: `DType`, spelled by its `safetensorsName` here.
    public typealias DType = FocalFormats.DType

    /// One tensor: its element type, its shape and its raw payload bytes.
    public struct Tensor: Sendable, Equatable {
        public var dtype: DType
        /// Dimensions, outermost first (`[]` is a scalar, a 0 anywhere makes the tensor empty).
        public var shape: [Int]
        /// `product(shape) * dtype.size` bytes: the elements row-major, each little-endian.
        public var bytes: [UInt8]

        /// The number of elements, `product(shape)` (1 for a scalar).
        public var count: Int { shape.reduce(1, *) }

        /// A tensor from raw little-endian bytes; throws if the byte count does not match the shape.
        public init(dtype: DType, shape: [Int], bytes: [UInt8]) throws {
            guard let n = elementCount(shape), let expected = multiplied(n, dtype.size) else {
                throw DataError("safetensors: invalid shape \(shape)")
            }
            guard bytes.count == expected else {
                throw DataError("safetensors: a \(dtype.safetensorsName) tensor of shape \(shape) needs \(expected) bytes, got \(bytes.count)")
            }
            self.dtype = dtype
            self.shape = shape
            self.bytes = bytes
        }

        /// An F32 tensor; `values` are row-major with `values.count == product(shape)`.
        public init(shape: [Int], floats values: [Float]) {
            precondition(elementCount(shape) == values.count, "Tensor: shape \(shape) does not hold \(values.count) values")
            self.dtype = .float32
            self.shape = shape
            self.bytes = encodeLittleEndian(values.map { $0.bitPattern })
        }

        /// An F64 tensor; `values` are row-major with `values.count == product(shape)`.
        public init(shape: [Int], doubles values: [Double]) {
            precondition(elementCount(shape) == values.count, "Tensor: shape \(shape) does not hold \(values.count) values")
            self.dtype = .float64
            self.shape = shape
            self.bytes = encodeLittleEndian(values.map { $0.bitPattern })
        }

        /// An I64 tensor; `values` are row-major with `values.count == product(shape)`.
        public init(shape: [Int], int64s values: [Int64]) {
            precondition(elementCount(shape) == values.count, "Tensor: shape \(shape) does not hold \(values.count) values")
            self.dtype = .int64
            self.shape = shape
            self.bytes = encodeLittleEndian(values.map { UInt64(bitPattern: $0) })
        }

        /// An I32 tensor; `values` are row-major with `values.count == product(shape)`.
        public init(shape: [Int], int32s values: [Int32]) {
            precondition(elementCount(shape) == values.count, "Tensor: shape \(shape) does not hold \(values.count) values")
            self.dtype = .int32
            self.shape = shape
            self.bytes = encodeLittleEndian(values.map { UInt32(bitPattern: $0) })
        }

        /// The elements as `Double` (F64 as is, F32 widened exactly); nil for integer tensors.
        public func doubleValues() -> [Double]? {
            switch dtype {
            case .float64: return decodeLittleEndian(bytes, as: UInt64.self).map { Double(bitPattern: $0) }
            case .float32: return decodeLittleEndian(bytes, as: UInt32.self).map { Double(Float(bitPattern: $0)) }
            case .int32, .int64: return nil
            }
        }

        /// The elements as `Float` (F32 as is, F64 rounded to nearest); nil for integer tensors.
        public func floatValues() -> [Float]? {
            switch dtype {
            case .float32: return decodeLittleEndian(bytes, as: UInt32.self).map { Float(bitPattern: $0) }
            case .float64: return decodeLittleEndian(bytes, as: UInt64.self).map { Float(Double(bitPattern: $0)) }
            case .int32, .int64: return nil
            }
        }

        /// The elements as `Int64` (I64 as is, I32 widened); nil for floating-point tensors.
        public func int64Values() -> [Int64]? {
            switch dtype {
            case .int64: return decodeLittleEndian(bytes, as: UInt64.self).map { Int64(bitPattern: $0) }
            case .int32: return decodeLittleEndian(bytes, as: UInt32.self).map { Int64(Int32(bitPattern: $0)) }
            case .float32, .float64: return nil
            }
        }
    }

    /// Tensors by name (the name `__metadata__` is reserved).
    public var tensors: [String: Tensor]
    /// The header's `__metadata__` map (empty: the key is left out when writing).
    public var metadata: [String: String]

    public init(tensors: [String: Tensor] = [:], metadata: [String: String] = [:]) {
        self.tensors = tensors
        self.metadata = metadata
    }

    // MARK: - Typed accessors

    /// The tensor called `name`, or a `DataError` listing the names present.
    public func tensor(_ name: String) throws -> Tensor {
        guard let t = tensors[name] else {
            let have = tensors.keys.sorted(by: utf8Less).joined(separator: ", ")
            throw DataError("safetensors: no tensor named '\(name)' (present: \(have.isEmpty ? "none" : have))")
        }
        return t
    }

    /// The values of a floating-point tensor as `Float`, row-major (F64 is rounded to nearest).
    public func floats(_ name: String) throws -> [Float] {
        let t = try tensor(name)
        guard let v = t.floatValues() else {
            throw DataError("safetensors: tensor '\(name)' is \(t.dtype.safetensorsName), not F32 or F64")
        }
        return v
    }

    /// The values of a floating-point tensor as `Double`, row-major (F32 is widened exactly).
    public func doubles(_ name: String) throws -> [Double] {
        let t = try tensor(name)
        guard let v = t.doubleValues() else {
            throw DataError("safetensors: tensor '\(name)' is \(t.dtype.safetensorsName), not F32 or F64")
        }
        return v
    }

    /// The values of an integer tensor as `Int64`, row-major (I32 is widened).
    public func int64s(_ name: String) throws -> [Int64] {
        let t = try tensor(name)
        guard let v = t.int64Values() else {
            throw DataError("safetensors: tensor '\(name)' is \(t.dtype.safetensorsName), not I32 or I64")
        }
        return v
    }
}

extension DType {
    /// Rank in the reference writer's payload order: it sorts tensors by dtype, descending in
    /// its enum order (..., I32, U32, F32, F64, I64, ...), then by name. Larger rank goes first.
    var writeRank: Int {
        switch self {
        case .int32: return 0
        case .float32: return 1
        case .float64: return 2
        case .int64: return 3
        }
    }
}

// MARK: - Reading

extension SafetensorsFile {
    /// The reference implementation refuses headers longer than this (100 MB); so do we.
    public static let maxHeaderLength = 100_000_000

    /// Reads and validates a safetensors file; every problem is a one-line error naming `path`
    /// (`FileError` if it cannot be read, `DataError` if its contents are invalid).
    public static func read(path: String) throws -> SafetensorsFile {
        let bytes = try FileIO.readAll(path)
        return try decode(bytes, source: path)
    }

    /// Parses the bytes of a whole file. `source` names the file in error messages.
    ///
    /// Checks: at least 8 bytes; header length within the file and at most `maxHeaderLength`;
    /// header is UTF-8 JSON starting with `{` (trailing spaces allowed); no duplicate keys; each
    /// entry has exactly `dtype`, `shape`, `data_offsets`; dtype known; offsets within the payload,
    /// `end - begin == product(shape) * size`; tensors contiguous from 0, non-overlapping, and
    /// covering the whole payload.
    public static func decode(_ bytes: [UInt8], source: String) throws -> SafetensorsFile {
        func fail(_ why: String) -> DataError { DataError("\(source): \(why)") }

        guard bytes.count >= 8 else {
            throw fail("truncated safetensors file: \(bytes.count) bytes, need at least the 8-byte header length")
        }
        var n: UInt64 = 0
        for i in 0..<8 { n |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        guard n <= UInt64(maxHeaderLength) else {
            throw fail("safetensors header length \(n) exceeds the limit of \(maxHeaderLength) bytes")
        }
        let headerLength = Int(n)
        guard headerLength <= bytes.count - 8 else {
            throw fail("truncated safetensors file: header length \(headerLength) but only \(bytes.count - 8) bytes follow the length field")
        }
        guard headerLength >= 2, bytes[8] == UInt8(ascii: "{") else {
            throw fail("garbled safetensors header: it must be a JSON object starting with '{'")
        }
        let headerBytes = Array(bytes[8..<(8 + headerLength)])
        let root: JSON
        do {
            // A header is three levels deep; the limit only stops pathological input.
            root = try JSON.parse(headerBytes, maxDepth: 32)
        } catch let e as JSONParseError {
            throw fail(headerProblem(e))
        }
        guard case .object(let entries) = root else {
            throw fail("garbled safetensors header: not a JSON object")
        }

        let payloadStart = 8 + headerLength
        let payloadLength = bytes.count - payloadStart
        var metadata: [String: String] = [:]
        var spans: [(name: String, dtype: DType, shape: [Int], begin: Int, end: Int)] = []
        for (key, value) in entries {  // keys are unique: the parser refuses duplicates (see `headerProblem`)
            if key == "__metadata__" {
                guard case .object(let pairs) = value else { throw fail("safetensors __metadata__ must be an object of strings") }
                for (k, v) in pairs {
                    guard case .string(let s) = v else { throw fail("safetensors __metadata__ value of '\(k)' is not a string") }
                    metadata[k] = s
                }
                continue
            }
            guard case .object(let fields) = value else { throw fail("safetensors entry '\(key)' is not an object") }
            var dtypeName: String?
            var shape: [Int]?
            var offsets: [Int]?
            for (field, v) in fields {
                switch field {
                case "dtype":
                    guard dtypeName == nil, case .string(let s) = v else { throw fail("safetensors tensor '\(key)': bad or repeated \"dtype\"") }
                    dtypeName = s
                case "shape":
                    guard shape == nil, let dims = v.integerArray else { throw fail("safetensors tensor '\(key)': \"shape\" must be an array of non-negative integers") }
                    shape = dims
                case "data_offsets":
                    guard offsets == nil, let o = v.integerArray, o.count == 2 else { throw fail("safetensors tensor '\(key)': \"data_offsets\" must be [begin, end]") }
                    offsets = o
                default:
                    throw fail("safetensors tensor '\(key)': unexpected field '\(field)'")
                }
            }
            guard let dtypeName, let shape, let offsets else {
                throw fail("safetensors tensor '\(key)': needs \"dtype\", \"shape\" and \"data_offsets\"")
            }
            guard let dtype = DType(safetensorsName: dtypeName) else {
                let known = DType.allCases.map(\.safetensorsName).joined(separator: ", ")
                throw fail("safetensors tensor '\(key)': unsupported dtype \"\(dtypeName)\" (supported: \(known))")
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin <= end, end <= payloadLength else {
                throw fail("safetensors tensor '\(key)': data_offsets [\(begin), \(end)] outside the \(payloadLength)-byte payload")
            }
            guard let count = elementCount(shape), let size = multiplied(count, dtype.size), size == end - begin else {
                throw fail("safetensors tensor '\(key)': \(dtype.safetensorsName) shape \(shape) does not match its \(end - begin) bytes")
            }
            spans.append((key, dtype, shape, begin, end))
        }

        // Contiguous, non-overlapping, covering the payload exactly (the reference's "validate").
        spans.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var cursor = 0
        for s in spans {
            guard s.begin == cursor else {
                throw fail(s.begin < cursor
                    ? "safetensors tensor '\(s.name)' overlaps another tensor (begins at \(s.begin), previous ends at \(cursor))"
                    : "safetensors payload has a hole before tensor '\(s.name)' (bytes \(cursor)..<\(s.begin) unused)")
            }
            cursor = s.end
        }
        guard cursor == payloadLength else {
            throw fail("safetensors payload has \(payloadLength - cursor) trailing bytes not covered by any tensor")
        }

        var tensors: [String: Tensor] = [:]
        for s in spans {
            let raw = Array(bytes[(payloadStart + s.begin)..<(payloadStart + s.end)])
            tensors[s.name] = try Tensor(dtype: s.dtype, shape: s.shape, bytes: raw)
        }
        return SafetensorsFile(tensors: tensors, metadata: metadata)
    }
}

// MARK: - Writing

extension SafetensorsFile {
    /// The file's bytes, deterministic: identical tensors and metadata give identical bytes.
    ///
    /// Layout as the reference writer (`safetensors.torch.save_file`) makes it, so a file it wrote
    /// with at most one metadata key round-trips byte for byte: payload order by dtype (I64, F64,
    /// F32, I32: every tensor stays aligned to its element size) then by name (UTF-8 bytes); compact
    /// JSON, keys `dtype`, `shape`, `data_offsets` in that order, `__metadata__` first with its keys
    /// sorted; serde_json string escaping; header padded with spaces to a multiple of 8.
    public func encoded() throws -> [UInt8] {
        if tensors["__metadata__"] != nil {
            throw DataError("safetensors: '__metadata__' is reserved and cannot name a tensor")
        }
        let order = tensors.keys.sorted { a, b in
            let (ra, rb) = (tensors[a]!.dtype.writeRank, tensors[b]!.dtype.writeRank)
            return ra != rb ? ra > rb : utf8Less(a, b)
        }
        var header: [UInt8] = [UInt8(ascii: "{")]
        var first = true
        func separator() {
            if !first { header.append(UInt8(ascii: ",")) }
            first = false
        }
        if !metadata.isEmpty {
            separator()
            JSON.writeString("__metadata__", to: &header)
            header.append(contentsOf: Array(":{".utf8))
            for (i, key) in metadata.keys.sorted(by: utf8Less).enumerated() {
                if i > 0 { header.append(UInt8(ascii: ",")) }
                JSON.writeString(key, to: &header)
                header.append(UInt8(ascii: ":"))
                JSON.writeString(metadata[key]!, to: &header)
            }
            header.append(UInt8(ascii: "}"))
        }
        var offset = 0
        for name in order {
            let t = tensors[name]!
            guard t.shape.allSatisfy({ $0 >= 0 }), elementCount(t.shape).flatMap({ multiplied($0, t.dtype.size) }) == t.bytes.count else {
                throw DataError("safetensors: tensor '\(name)' has \(t.bytes.count) bytes, which does not match \(t.dtype.safetensorsName) shape \(t.shape)")
            }
            separator()
            JSON.writeString(name, to: &header)
            let dims = t.shape.map(String.init).joined(separator: ",")
            let entry = ":{\"dtype\":\"\(t.dtype.safetensorsName)\",\"shape\":[\(dims)],\"data_offsets\":[\(offset),\(offset + t.bytes.count)]}"
            header.append(contentsOf: Array(entry.utf8))
            offset += t.bytes.count
        }
        header.append(UInt8(ascii: "}"))
        header.append(contentsOf: repeatElement(UInt8(ascii: " "), count: (8 - header.count % 8) % 8))

        var out: [UInt8] = []
        out.reserveCapacity(8 + header.count + offset)
        let n = UInt64(header.count)
        for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: n >> (8 * UInt64(i)))) }
        out.append(contentsOf: header)
        for name in order { out.append(contentsOf: tensors[name]!.bytes) }
        return out
    }

    /// Writes the file through `FileIO.replace`: atomically for a file (temporary file, fsync,
    /// rename, fsync of the directory: readers see the old file or the new one, never a mix), in
    /// place for a device or a FIFO.
    public func write(path: String) throws {
        try FileIO.replace(path, with: encoded())
    }
}

// MARK: - Little-endian element codecs

/// `product(shape)`, or nil if a dimension is negative or the product overflows.
private func elementCount(_ shape: [Int]) -> Int? {
    var n = 1
    for d in shape {
        guard d >= 0, let m = multiplied(n, d) else { return nil }
        n = m
    }
    return n
}

private func multiplied(_ a: Int, _ b: Int) -> Int? {
    let (m, overflow) = a.multipliedReportingOverflow(by: b)
    return overflow ? nil : m
}

/// Elements to bytes, each little-endian, in order.
private func encodeLittleEndian<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: values.count * MemoryLayout<T>.size)
    out.withUnsafeMutableBytes { raw in
        for (i, v) in values.enumerated() {
            raw.storeBytes(of: v.littleEndian, toByteOffset: i * MemoryLayout<T>.size, as: T.self)
        }
    }
    return out
}

/// Bytes (count a multiple of `T`'s size) to elements, each read little-endian.
private func decodeLittleEndian<T: FixedWidthInteger>(_ bytes: [UInt8], as: T.Type) -> [T] {
    let n = bytes.count / MemoryLayout<T>.size
    return bytes.withUnsafeBytes { raw in
        (0..<n).map { T(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self)) }
    }
}

/// Byte-wise order of the UTF-8 encodings (the reference writer's name order).
private func utf8Less(_ a: String, _ b: String) -> Bool {
    a.utf8.lexicographicallyPrecedes(b.utf8)
}

// MARK: - Header JSON

/// The message for a header the JSON parser refused: duplicate keys (refused at any level, as the
/// reference implementation's serde does) name where they are, anything else is garbled JSON.
private func headerProblem(_ e: JSONParseError) -> String {
    if let key = e.duplicateKey {
        if e.path.isEmpty { return "safetensors header has a duplicate key '\(key)'" }
        if e.path.count == 1, case .key(let entry) = e.path[0] {
            return entry == "__metadata__"
                ? "safetensors __metadata__ has a duplicate key '\(key)'"
                : "safetensors tensor '\(entry)' has a duplicate key '\(key)'"
        }
    }
    return "garbled safetensors header: \(e.message) at header byte \(e.offset)"
}

extension JSON {
    /// An array of plain non-negative integers (no sign, fraction or exponent; fits in `Int`).
    fileprivate var integerArray: [Int]? {
        guard case .array(let items) = self else { return nil }
        var out: [Int] = []
        for item in items {
            guard case .int(let v) = item, v >= 0, let n = Int(exactly: v) else { return nil }
            out.append(n)
        }
        return out
    }
}
