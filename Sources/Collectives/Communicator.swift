// Communicator: the collective operations the trainer needs, independent of how ranks talk.
//
// Two implementations: `MPICommunicator` (module SwiftMPI, over the C MPI API) and
// `InProcessCommunicator` (N logical ranks on N threads of one process). The training core sees
// only this protocol, so unit tests and `--simulate-ranks` run the multi-rank logic without mpirun.
//
// Conventions (after mpi4py / MPL): the one-buffer form of a reduction is in place; every failure
// is a thrown `CommError`; buffer-pointer forms are the primitives (no copies in the hot path),
// array forms are conveniences in the extension below.

import Foundation

// MARK: - Element types and operations

/// The element types a collective can carry. Implementations switch on it to pick the wire
/// datatype; users never see it.
public enum ScalarKind: Sendable, Equatable {
    case float32, float64, int32, int64, uint8
}

/// A type that collectives can reduce and move: `Float`, `Double`, `Int32`, `Int64`, `UInt8`.
public protocol CommScalar: Comparable, Sendable {
    static var kind: ScalarKind { get }
    static var zero: Self { get }
    /// `self + other` with the element type's own arithmetic (wrapping for integers, as MPI does).
    func reduceSum(_ other: Self) -> Self
}

extension Float: CommScalar {
    public static var kind: ScalarKind { .float32 }
    public func reduceSum(_ other: Float) -> Float { self + other }
}
extension Double: CommScalar {
    public static var kind: ScalarKind { .float64 }
    public func reduceSum(_ other: Double) -> Double { self + other }
}
extension Int32: CommScalar {
    public static var kind: ScalarKind { .int32 }
    public func reduceSum(_ other: Int32) -> Int32 { self &+ other }
}
extension Int64: CommScalar {
    public static var kind: ScalarKind { .int64 }
    public func reduceSum(_ other: Int64) -> Int64 { self &+ other }
}
extension UInt8: CommScalar {
    public static var kind: ScalarKind { .uint8 }
    public func reduceSum(_ other: UInt8) -> UInt8 { self &+ other }
}

/// Reduction operations (MPI_SUM, MPI_MAX, MPI_MIN).
public enum ReduceOp: String, Sendable, CaseIterable {
    case sum, max, min

    /// Combines two elements; the in-process communicator uses this, in rank order.
    @inlinable
    public func combine<T: CommScalar>(_ a: T, _ b: T) -> T {
        switch self {
        case .sum: return a.reduceSum(b)
        case .max: return Swift.max(a, b)
        case .min: return Swift.min(a, b)
        }
    }
}

// MARK: - Errors

/// Every failure of a collective. `description` is one line fit for a user.
public enum CommError: Error, Equatable, CustomStringConvertible, Sendable {
    /// An MPI call returned an error code; `message` is `MPI_Error_string`'s text.
    case mpi(call: String, code: Int32, message: String)
    /// Buffers whose sizes do not fit the operation (e.g. send and receive of different lengths).
    case sizeMismatch(String)
    /// An element count or displacement exceeds what one MPI call can express (C `int`).
    case countOverflow(String)
    /// `root` outside `0..<size`.
    case invalidRoot(Int, size: Int)
    /// A non-blocking collective did not complete before its deadline.
    case timedOut(operation: String, seconds: Double)
    /// A value broadcast as text/JSON could not be encoded or decoded.
    case codec(String)
    /// Another logical rank of an in-process world failed, so this one cannot continue.
    case peerFailed(String)

    public var description: String {
        switch self {
        case let .mpi(call, code, message): return "\(call) failed (MPI error \(code)): \(message)"
        case let .sizeMismatch(s): return "collective size mismatch: \(s)"
        case let .countOverflow(s): return "count too large for one MPI call: \(s)"
        case let .invalidRoot(r, size): return "root \(r) is not a rank of a world of \(size)"
        case let .timedOut(op, s): return "\(op) did not complete within \(s) s"
        case let .codec(s): return "could not encode or decode a broadcast value: \(s)"
        case let .peerFailed(s): return "a peer rank failed: \(s)"
        }
    }
}

// MARK: - Non-blocking collectives

/// A collective in flight. Its buffer must stay valid and untouched until `wait` or `test`
/// reports completion.
public protocol PendingCollective: AnyObject {
    /// True once the operation has completed (then the buffer holds the result).
    func test() throws -> Bool
    /// Waits until completion, polling; throws `CommError.timedOut` after `timeout` seconds
    /// (`nil`: wait forever). After a timeout the operation is still pending: the caller is
    /// expected to abort the job, which is the only safe way out of a stuck collective.
    func wait(timeout: Double?) throws
}

// MARK: - The protocol

/// A group of ranks and the collectives among them. Calls are collective: every rank must make
/// the same calls in the same order with compatible arguments. A communicator instance is used
/// by one thread (its rank's thread).
public protocol Communicator: AnyObject {
    /// This process's (or logical rank's) index, `0..<size`.
    var rank: Int { get }
    /// Number of ranks.
    var size: Int { get }
    /// The host this rank runs on (`MPI_Get_processor_name`), for logs.
    var processorName: String { get }

    /// In place: every rank's `buffer` becomes the element-wise reduction over all ranks.
    func allreduce<T: CommScalar>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReduceOp) throws
    /// Out of place: `result` (same count as `send`) receives the reduction; `send` is unchanged.
    func allreduce<T: CommScalar>(_ send: UnsafeBufferPointer<T>, into result: UnsafeMutableBufferPointer<T>,
                                  op: ReduceOp) throws
    /// `root`'s buffer is copied into every rank's buffer (same count everywhere).
    func broadcast<T: CommScalar>(_ buffer: UnsafeMutableBufferPointer<T>, root: Int) throws
    /// Reduction delivered on `root` only; `result` is written on root and ignored elsewhere.
    func reduce<T: CommScalar>(_ send: UnsafeBufferPointer<T>, into result: UnsafeMutableBufferPointer<T>,
                               op: ReduceOp, root: Int) throws
    /// Every rank contributes a piece of any length (possibly empty); every rank receives all
    /// pieces, in rank order.
    func allgatherv<T: CommScalar>(_ piece: UnsafeBufferPointer<T>) throws -> [[T]]
    /// Exclusive prefix reduction: rank r receives op over ranks 0..<r (rank 0 receives zeros
    /// for `.sum`; for max/min rank 0's result is its own input, as there is nothing before it).
    func exclusiveScan<T: CommScalar>(_ send: UnsafeBufferPointer<T>, into result: UnsafeMutableBufferPointer<T>,
                                      op: ReduceOp) throws
    /// Returns when every rank has called it.
    func barrier() throws
    /// Starts an in-place allreduce and returns at once; see `PendingCollective`.
    func startAllreduce<T: CommScalar>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReduceOp) throws -> PendingCollective
    /// Starts an in-place broadcast from `root` and returns at once; see `PendingCollective`.
    func startBroadcast<T: CommScalar>(_ buffer: UnsafeMutableBufferPointer<T>, root: Int) throws -> PendingCollective
    /// Starts a barrier and returns at once: it completes once every rank has started it.
    func startBarrier() throws -> PendingCollective
    /// Ends the whole job (every rank) with `code`. Only a command's `main` should call this.
    func abort(code: Int32) -> Never
}

// MARK: - Conveniences over arrays and values

extension Communicator {
    /// In place over an array (the one-buffer form).
    public func allreduce<T: CommScalar>(_ array: inout [T], op: ReduceOp = .sum) throws {
        try array.withUnsafeMutableBufferPointer { try allreduce($0, op: op) }
    }

    /// Out of place over arrays; returns the reduced copy.
    public func allreduced<T: CommScalar>(_ array: [T], op: ReduceOp = .sum) throws -> [T] {
        var out = [T](repeating: T.zero, count: array.count)
        try array.withUnsafeBufferPointer { s in
            try out.withUnsafeMutableBufferPointer { r in try allreduce(s, into: r, op: op) }
        }
        return out
    }

    /// One scalar reduced over all ranks.
    public func allreduce<T: CommScalar>(_ value: T, op: ReduceOp = .sum) throws -> T {
        var a = [value]
        try allreduce(&a, op: op)
        return a[0]
    }

    public func broadcast<T: CommScalar>(_ array: inout [T], root: Int = 0) throws {
        try array.withUnsafeMutableBufferPointer { try broadcast($0, root: root) }
    }

    /// Reduction onto `root`; returns the result on root and an empty array elsewhere.
    public func reduce<T: CommScalar>(_ array: [T], op: ReduceOp = .sum, root: Int = 0) throws -> [T] {
        var out = [T](repeating: T.zero, count: rank == root ? array.count : 0)
        try array.withUnsafeBufferPointer { s in
            try out.withUnsafeMutableBufferPointer { r in try reduce(s, into: r, op: op, root: root) }
        }
        return out
    }

    /// Gathers one equal-length piece per rank; throws `sizeMismatch` if the lengths differ.
    public func allgather<T: CommScalar>(_ piece: [T]) throws -> [T] {
        let pieces = try allgatherv(piece)
        guard pieces.allSatisfy({ $0.count == piece.count }) else {
            throw CommError.sizeMismatch("allgather pieces differ in length: \(pieces.map(\.count))")
        }
        return pieces.flatMap { $0 }
    }

    public func allgatherv<T: CommScalar>(_ piece: [T]) throws -> [[T]] {
        try piece.withUnsafeBufferPointer { try allgatherv($0) }
    }

    /// Exclusive prefix sum of one value per rank (rank 0 gets 0).
    public func exclusivePrefixSum(_ value: Int64) throws -> Int64 {
        var out: [Int64] = [0]
        try [value].withUnsafeBufferPointer { s in
            try out.withUnsafeMutableBufferPointer { r in try exclusiveScan(s, into: r, op: .sum) }
        }
        return rank == 0 ? 0 : out[0]
    }

    /// Broadcasts a string from `root` (length first, then UTF-8 bytes).
    public func broadcast(_ string: String, root: Int = 0) throws -> String {
        var bytes = rank == root ? Array(string.utf8) : []
        var count = [Int64(bytes.count)]
        try broadcast(&count, root: root)
        if rank != root { bytes = [UInt8](repeating: 0, count: Int(count[0])) }
        try broadcast(&bytes, root: root)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Broadcasts a `Codable` value from `root` as JSON text (over the string broadcast).
    /// If root cannot encode it, every rank throws `CommError.codec`; a rank that cannot decode
    /// the text throws `CommError.codec` (the other ranks continue).
    public func broadcast<V: Codable>(value: V, root: Int = 0) throws -> V {
        var text = ""
        var encodeError: String?
        if rank == root {
            do {
                text = String(decoding: try JSONEncoder().encode(value), as: UTF8.self)
            } catch {
                encodeError = "\(error)"
            }
        }
        // JSON is never empty, so the empty string tells the other ranks that root failed.
        let received = try broadcast(text, root: root)
        if let encodeError { throw CommError.codec("rank \(root) could not encode \(V.self): \(encodeError)") }
        guard !received.isEmpty else { throw CommError.codec("rank \(root) could not encode \(V.self)") }
        if rank == root { return value }
        do {
            return try JSONDecoder().decode(V.self, from: Data(received.utf8))
        } catch {
            throw CommError.codec("rank \(rank) could not decode \(V.self) from rank \(root): \(error)")
        }
    }

    /// True on every rank iff `flag` is true on at least one rank (a collective decision).
    public func any(_ flag: Bool) throws -> Bool {
        try allreduce(Int32(flag ? 1 : 0), op: .max) != 0
    }
}
