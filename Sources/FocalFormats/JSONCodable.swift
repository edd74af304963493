// JSONCodable: a Codable bridge to the `JSON` value, so typed records are written and read back
// through the same types (and the same writer and parser), with no Foundation.
//
// Conventions (they differ from Foundation's JSONEncoder in the first three):
// - Keyed containers keep the order in which keys were encoded (the synthesized Codable order is
//   the declaration order), so the written text is deterministic.
// - A nil optional in a keyed container (`encodeIfPresent`, which synthesized Codable uses) is
//   written as an explicit `null` unless `nilEncoding` is `.omitKey`. Arrays always keep `null`s.
// - Non-finite Double and Float values encode to `null`, and decoding `null` into a non-optional
//   Double or Float gives `.nan`: this is how the metrics file represents non-finite values (an
//   optional Double decodes `null` as nil). The sign and payload of a NaN or infinity are lost.
// - Every integer type encodes to `.int` (a UInt64 or UInt above Int64.max is refused); decoding an
//   integer type accepts only `.int` within its range, never `.number`. Double and Float accept
//   `.int` and `.number`; a Float is widened to Double exactly when encoded.
// Errors are `EncodingError`/`DecodingError`s whose context carries the coding path.

// MARK: - Encoder

/// Encodes `Encodable` values to `JSON`.
public struct JSONValueEncoder: Sendable {
    /// What a nil optional in a keyed container becomes.
    public enum NilEncoding: Sendable {
        /// The key with an explicit `null` (the default).
        case writeNull
        /// No key at all.
        case omitKey
    }

    public var nilEncoding: NilEncoding

    public init() { nilEncoding = .writeNull }

    public init(nilEncoding: NilEncoding) { self.nilEncoding = nilEncoding }

    /// The JSON of `value`; a value that encodes nothing gives an empty object.
    public func encode<T: Encodable>(_ value: T) throws -> JSON {
        try ValueEncoder(options: self, codingPath: []).box(value).json
    }
}

/// One value under construction; containers add children to it (classes: nested containers
/// handed out earlier keep writing into the same tree).
private final class EncodingNode {
    enum Kind { case empty, single, array, object }
    var kind = Kind.empty
    var single = JSON.null
    var items: [EncodingNode] = []
    var keys: [String] = []
    var fields: [String: EncodingNode] = [:]

    init() {}
    init(_ value: JSON) { kind = .single; single = value }

    var json: JSON {
        switch kind {
        case .empty: return .object([])
        case .single: return single
        case .array: return .array(items.map(\.json))
        case .object: return .object(keys.map { ($0, fields[$0]!.json) })
        }
    }

    func become(_ k: Kind, _ codingPath: [any CodingKey]) {
        precondition(kind == .empty || kind == k,
                     "JSONValueEncoder: a second container of a different kind at \(pathText(codingPath))")
        kind = k
    }

    /// Sets (or replaces, keeping its position) the field `key`.
    func set(_ key: String, _ node: EncodingNode) {
        if fields.updateValue(node, forKey: key) == nil { keys.append(key) }
    }
}

private func pathText(_ path: [any CodingKey]) -> String {
    "$" + path.map { k in k.intValue.map { "[\($0)]" } ?? "." + k.stringValue }.joined()
}

/// The JSON of the primitive types, or nil for any other type.
private func primitive<T>(_ value: T, _ codingPath: [any CodingKey]) throws -> JSON? {
    func int<I: BinaryInteger>(_ v: I) throws -> JSON {
        guard let x = Int64(exactly: v) else {
            throw EncodingError.invalidValue(v, .init(codingPath: codingPath,
                debugDescription: "\(I.self) value \(v) does not fit in a JSON integer (Int64)"))
        }
        return .int(x)
    }
    switch value {
    case let v as Bool: return .bool(v)
    case let v as String: return .string(v)
    case let v as Double: return v.isFinite ? .number(v) : .null
    case let v as Float: return v.isFinite ? .number(Double(v)) : .null
    case let v as Int: return try int(v)
    case let v as Int8: return try int(v)
    case let v as Int16: return try int(v)
    case let v as Int32: return try int(v)
    case let v as Int64: return .int(v)
    case let v as UInt: return try int(v)
    case let v as UInt8: return try int(v)
    case let v as UInt16: return try int(v)
    case let v as UInt32: return try int(v)
    case let v as UInt64: return try int(v)
    default: return nil
    }
}

private struct ValueEncoder: Encoder, SingleValueEncodingContainer {
    let options: JSONValueEncoder
    let codingPath: [any CodingKey]
    var node = EncodingNode()
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(options: JSONValueEncoder, codingPath: [any CodingKey], node: EncodingNode = EncodingNode()) {
        self.options = options
        self.codingPath = codingPath
        self.node = node
    }

    /// The node of `value`: primitives directly, anything else through its `encode(to:)`.
    func box<T: Encodable>(_ value: T) throws -> EncodingNode {
        if let v = try primitive(value, codingPath) { return EncodingNode(v) }
        let child = ValueEncoder(options: options, codingPath: codingPath)
        try value.encode(to: child)
        return child.node
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        node.become(.object, codingPath)
        return KeyedEncodingContainer(KeyedEncoder<Key>(encoder: self))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        node.become(.array, codingPath)
        return UnkeyedEncoder(encoder: self)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { self }

    // SingleValueEncodingContainer
    private func setSingle(_ v: JSON) {
        precondition(node.kind == .empty, "JSONValueEncoder: a single value encoded twice at \(pathText(codingPath))")
        node.kind = .single
        node.single = v
    }

    func encodeNil() { setSingle(.null) }
    func encode(_ value: Bool) { setSingle(.bool(value)) }
    func encode(_ value: String) { setSingle(.string(value)) }
    func encode(_ value: Double) throws { try encodeAny(value) }
    func encode(_ value: Float) throws { try encodeAny(value) }
    func encode(_ value: Int) throws { try encodeAny(value) }
    func encode(_ value: Int8) throws { try encodeAny(value) }
    func encode(_ value: Int16) throws { try encodeAny(value) }
    func encode(_ value: Int32) throws { try encodeAny(value) }
    func encode(_ value: Int64) throws { try encodeAny(value) }
    func encode(_ value: UInt) throws { try encodeAny(value) }
    func encode(_ value: UInt8) throws { try encodeAny(value) }
    func encode(_ value: UInt16) throws { try encodeAny(value) }
    func encode(_ value: UInt32) throws { try encodeAny(value) }
    func encode(_ value: UInt64) throws { try encodeAny(value) }
    func encode<T: Encodable>(_ value: T) throws { try encodeAny(value) }
    private func encodeAny<T: Encodable>(_ value: T) throws {
        precondition(node.kind == .empty, "JSONValueEncoder: a single value encoded twice at \(pathText(codingPath))")
        let b = try box(value)
        node.kind = b.kind
        node.single = b.single
        node.items = b.items
        node.keys = b.keys
        node.fields = b.fields
    }
}

private struct KeyedEncoder<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let encoder: ValueEncoder
    var codingPath: [any CodingKey] { encoder.codingPath }

    private func child(_ key: Key) -> ValueEncoder {
        ValueEncoder(options: encoder.options, codingPath: codingPath + [key])
    }

    private func omitOrNull(_ key: Key) {
        if encoder.options.nilEncoding == .writeNull { encoder.node.set(key.stringValue, EncodingNode(.null)) }
    }

    mutating func encodeNil(forKey key: Key) { encoder.node.set(key.stringValue, EncodingNode(.null)) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws { try put(value, key) }
    private func put<T: Encodable>(_ value: T, _ key: Key) throws {
        encoder.node.set(key.stringValue, try child(key).box(value))
    }
    mutating func encode(_ value: Bool, forKey key: Key) throws { try put(value, key) }
    mutating func encode(_ value: String, forKey key: Key) throws { try put(value, key) }
    mutating func encode(_ value: Double, forKey key: Key) throws { try put(value, key) }
    mutating func encode(_ value: Float, forKey key: Key) throws { try put(value, key) }
    mutating func encode(_ value: Int, forKey key: Key) throws { try put(value, key) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { try put(value, key) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { try put(value, key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { try put(value, key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { try put(value, key) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { try put(value, key) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { try put(value, key) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { try put(value, key) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { try put(value, key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { try put(value, key) }

    // The library's default `encodeIfPresent` skips nil; these write `null` unless told to omit.
    private func present<T: Encodable>(_ value: T?, _ key: Key) throws {
        if let value { try put(value, key) } else { omitOrNull(key) }
    }
    mutating func encodeIfPresent<T: Encodable>(_ value: T?, forKey key: Key) throws { try present(value, key) }
    mutating func encodeIfPresent(_ value: Bool?, forKey key: Key) throws { try present(value, key) }
    mutating func encodeIfPresent(_ value: String?, forKey key: Key) throws { try present(value, key) }
    mutating func encodeIfPresent(_ value: Double?, forKey key: Key) throws { try present(value, key) }
    mutating func encodeIfPresent(_ value: Float?, forKey key: Key) throws { try present(value, key) }
    mutating func encodeIfPresent(_ value: Int?, forKey key: Key) throws { try present(value, key) }
    mutating func encodeIfPresent(_ value: Int8?, forKey key: Key) throws { try present(value, key) }
    mutating func encodeIfPresent(_ value: Int16?, forKey key: Key) throws { try present(value, key) }
    mutating func encodeIfPresent(_ value: Int32?, forKey key: Key) throws { try present(value, key) }
    mutating func encodeIfPresent(_ value: Int64?, forKey key: Key) throws { try present(value, key) }
    mutating func encodeIfPresent(_ value: UInt?, forKey key: Key) throws { try present(value, key) }
    mutating func encodeIfPresent(_ value: UInt8?, forKey key: Key) throws { try present(value, key) }
    mutating func encodeIfPresent(_ value: UInt16?, forKey key: Key) throws { try present(value, key) }
    mutating func encodeIfPresent(_ value: UInt32?, forKey key: Key) throws { try present(value, key) }
    mutating func encodeIfPresent(_ value: UInt64?, forKey key: Key) throws { try present(value, key) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let c = child(key)
        encoder.node.set(key.stringValue, c.node)
        return c.container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let c = child(key)
        encoder.node.set(key.stringValue, c.node)
        return c.unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder {
        let c = ValueEncoder(options: encoder.options, codingPath: codingPath + [JSONCodingKey.super])
        encoder.node.set(JSONCodingKey.super.stringValue, c.node)
        return c
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        let c = child(key)
        encoder.node.set(key.stringValue, c.node)
        return c
    }
}

private struct UnkeyedEncoder: UnkeyedEncodingContainer {
    let encoder: ValueEncoder
    var codingPath: [any CodingKey] { encoder.codingPath }
    var count: Int { encoder.node.items.count }

    private func child() -> ValueEncoder {
        ValueEncoder(options: encoder.options, codingPath: codingPath + [JSONCodingKey(index: count)])
    }

    mutating func encodeNil() { encoder.node.items.append(EncodingNode(.null)) }
    mutating func encode<T: Encodable>(_ value: T) throws { try encodeAny(value) }
    private func encodeAny<T: Encodable>(_ value: T) throws { encoder.node.items.append(try child().box(value)) }
    mutating func encode(_ value: Bool) throws { try encodeAny(value) }
    mutating func encode(_ value: String) throws { try encodeAny(value) }
    mutating func encode(_ value: Double) throws { try encodeAny(value) }
    mutating func encode(_ value: Float) throws { try encodeAny(value) }
    mutating func encode(_ value: Int) throws { try encodeAny(value) }
    mutating func encode(_ value: Int8) throws { try encodeAny(value) }
    mutating func encode(_ value: Int16) throws { try encodeAny(value) }
    mutating func encode(_ value: Int32) throws { try encodeAny(value) }
    mutating func encode(_ value: Int64) throws { try encodeAny(value) }
    mutating func encode(_ value: UInt) throws { try encodeAny(value) }
    mutating func encode(_ value: UInt8) throws { try encodeAny(value) }
    mutating func encode(_ value: UInt16) throws { try encodeAny(value) }
    mutating func encode(_ value: UInt32) throws { try encodeAny(value) }
    mutating func encode(_ value: UInt64) throws { try encodeAny(value) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let c = child()
        encoder.node.items.append(c.node)
        return c.container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let c = child()
        encoder.node.items.append(c.node)
        return c.unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder {
        let c = child()
        encoder.node.items.append(c.node)
        return c
    }
}

/// Coding keys the bridge makes itself: array indices and `super`.
private struct JSONCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue }
    init(intValue: Int) { self.stringValue = "Index \(intValue)"; self.intValue = intValue }
    init(index: Int) { self.init(intValue: index) }
    static let `super` = JSONCodingKey(stringValue: "super")
}

// MARK: - Decoder

/// Decodes `Decodable` values from `JSON` (see the conventions at the top of this file).
public struct JSONValueDecoder: Sendable {
    public init() {}

    public func decode<T: Decodable>(_ type: T.Type, from json: JSON) throws -> T {
        try ValueDecoder(value: json, codingPath: []).unbox(type)
    }
}

/// "an object", "a number", ... for messages.
private func kindText(_ v: JSON) -> String {
    switch v {
    case .null: return "null"
    case .bool: return "a boolean"
    case .int: return "an integer"
    case .number: return "a number"
    case .string: return "a string"
    case .array: return "an array"
    case .object: return "an object"
    }
}

private struct ValueDecoder: Decoder, SingleValueDecodingContainer {
    let value: JSON
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    /// `valueNotFound` for `null`, else `typeMismatch`.
    func mismatch(_ type: Any.Type, _ expected: String) -> DecodingError {
        let context = DecodingError.Context(codingPath: codingPath, debugDescription: "expected \(expected), found \(kindText(value))")
        if case .null = value { return .valueNotFound(type, context) }
        return .typeMismatch(type, context)
    }

    func integer<I: FixedWidthInteger>(_ type: I.Type) throws -> I {
        guard case .int(let v) = value else { throw mismatch(type, "an integer") }
        guard let x = I(exactly: v) else {
            throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "\(v) does not fit in \(I.self)"))
        }
        return x
    }

    func double() throws -> Double {
        switch value {
        case .int(let i): return Double(i)
        case .number(let d): return d
        case .null: return .nan  // the metrics file's non-finite values
        default: throw mismatch(Double.self, "a number")
        }
    }

    func float() throws -> Float {
        let d = try double()
        let f = Float(d)
        guard f.isFinite || !d.isFinite else {
            throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "\(d) does not fit in Float"))
        }
        return f
    }

    /// Primitives directly, anything else through its `init(from:)`.
    func unbox<T: Decodable>(_ type: T.Type) throws -> T {
        switch type {
        case is Bool.Type: return try decode(Bool.self) as! T
        case is String.Type: return try decode(String.self) as! T
        case is Double.Type: return try double() as! T
        case is Float.Type: return try float() as! T
        case is Int.Type: return try integer(Int.self) as! T
        case is Int8.Type: return try integer(Int8.self) as! T
        case is Int16.Type: return try integer(Int16.self) as! T
        case is Int32.Type: return try integer(Int32.self) as! T
        case is Int64.Type: return try integer(Int64.self) as! T
        case is UInt.Type: return try integer(UInt.self) as! T
        case is UInt8.Type: return try integer(UInt8.self) as! T
        case is UInt16.Type: return try integer(UInt16.self) as! T
        case is UInt32.Type: return try integer(UInt32.self) as! T
        case is UInt64.Type: return try integer(UInt64.self) as! T
        default: return try T(from: self)
        }
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let fields) = value else { throw mismatch([String: JSON].self, "an object") }
        return KeyedDecodingContainer(KeyedDecoder<Key>(fields: fields, codingPath: codingPath))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let items) = value else { throw mismatch([JSON].self, "an array") }
        return UnkeyedDecoder(items: items, codingPath: codingPath)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { self }

    // SingleValueDecodingContainer
    func decodeNil() -> Bool { if case .null = value { return true } else { return false } }
    func decode(_ type: Bool.Type) throws -> Bool {
        guard case .bool(let b) = value else { throw mismatch(type, "a boolean") }
        return b
    }
    func decode(_ type: String.Type) throws -> String {
        guard case .string(let s) = value else { throw mismatch(type, "a string") }
        return s
    }
    func decode(_ type: Double.Type) throws -> Double { try double() }
    func decode(_ type: Float.Type) throws -> Float { try float() }
    func decode(_ type: Int.Type) throws -> Int { try integer(type) }
    func decode(_ type: Int8.Type) throws -> Int8 { try integer(type) }
    func decode(_ type: Int16.Type) throws -> Int16 { try integer(type) }
    func decode(_ type: Int32.Type) throws -> Int32 { try integer(type) }
    func decode(_ type: Int64.Type) throws -> Int64 { try integer(type) }
    func decode(_ type: UInt.Type) throws -> UInt { try integer(type) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try integer(type) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try integer(type) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try integer(type) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try integer(type) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try unbox(type) }
}

private struct KeyedDecoder<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let fields: [(String, JSON)]
    let index: [String: Int]
    let codingPath: [any CodingKey]

    init(fields: [(String, JSON)], codingPath: [any CodingKey]) {
        self.fields = fields
        self.codingPath = codingPath
        var index: [String: Int] = [:]
        for (n, (k, _)) in fields.enumerated() where index[k] == nil { index[k] = n }
        self.index = index
    }

    var allKeys: [Key] { fields.compactMap { Key(stringValue: $0.0) } }

    func contains(_ key: Key) -> Bool { index[key.stringValue] != nil }

    private func child(_ key: Key) throws -> ValueDecoder {
        guard let n = index[key.stringValue] else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "no key '\(key.stringValue)'"))
        }
        return ValueDecoder(value: fields[n].1, codingPath: codingPath + [key])
    }

    func decodeNil(forKey key: Key) throws -> Bool { try child(key).decodeNil() }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try child(key).unbox(type) }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try child(key).unbox(type) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try child(key).unbox(type) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try child(key).unbox(type) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try child(key).unbox(type) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try child(key).unbox(type) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try child(key).unbox(type) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try child(key).unbox(type) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try child(key).unbox(type) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try child(key).unbox(type) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try child(key).unbox(type) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try child(key).unbox(type) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try child(key).unbox(type) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try child(key).unbox(type) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try child(key).unbox(type) }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try child(key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try child(key).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder {
        let value = index[JSONCodingKey.super.stringValue].map { fields[$0].1 } ?? .null
        return ValueDecoder(value: value, codingPath: codingPath + [JSONCodingKey.super])
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        let value = index[key.stringValue].map { fields[$0].1 } ?? .null
        return ValueDecoder(value: value, codingPath: codingPath + [key])
    }
}

private struct UnkeyedDecoder: UnkeyedDecodingContainer {
    let items: [JSON]
    let codingPath: [any CodingKey]
    var currentIndex = 0

    init(items: [JSON], codingPath: [any CodingKey]) {
        self.items = items
        self.codingPath = codingPath
    }

    var count: Int? { items.count }
    var isAtEnd: Bool { currentIndex >= items.count }

    /// The decoder of the current element; throws `valueNotFound` at the end.
    private func current(_ type: Any.Type) throws -> ValueDecoder {
        let path = codingPath + [JSONCodingKey(index: currentIndex)]
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(type, .init(codingPath: path, debugDescription: "the array has only \(items.count) elements"))
        }
        return ValueDecoder(value: items[currentIndex], codingPath: path)
    }

    mutating func decodeNil() throws -> Bool {
        guard try current(Never.self).decodeNil() else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try next(type) }
    private mutating func next<T: Decodable>(_ type: T.Type) throws -> T {
        let v = try current(type).unbox(type)
        currentIndex += 1
        return v
    }
    mutating func decode(_ type: Bool.Type) throws -> Bool { try next(type) }
    mutating func decode(_ type: String.Type) throws -> String { try next(type) }
    mutating func decode(_ type: Double.Type) throws -> Double { try next(type) }
    mutating func decode(_ type: Float.Type) throws -> Float { try next(type) }
    mutating func decode(_ type: Int.Type) throws -> Int { try next(type) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try next(type) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try next(type) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try next(type) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try next(type) }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try next(type) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try next(type) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try next(type) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try next(type) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try next(type) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let c = try current(KeyedDecodingContainer<NestedKey>.self).container(keyedBy: type)
        currentIndex += 1
        return c
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let c = try current((any UnkeyedDecodingContainer).self).unkeyedContainer()
        currentIndex += 1
        return c
    }

    mutating func superDecoder() throws -> any Decoder {
        let d = try current((any Decoder).self)
        currentIndex += 1
        return d
    }
}
