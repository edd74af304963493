// Agreement: turns an error that happened on some ranks into the same error on every rank, so a
// local failure (a bad file, a NaN) never leaves the other ranks blocked in a collective.

/// An error agreed by every rank: the message of the lowest failing rank, known everywhere.
public struct AgreedError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The lowest rank that failed.
    public var rank: Int
    public var message: String
    /// Exit-code class of the failure (see `ExitCode` in the CLI).
    public var kind: FailureKind
    public var description: String { message }
}

/// What kind of failure, for exit codes: usage (bad options), data (bad input files or data
/// parameters), numeric (non-finite loss or gradient), system (MPI, I/O, anything else).
public enum FailureKind: Int32, Sendable, Codable {
    case usage = 2, data = 3, numeric = 4, system = 5, interrupted = 6
}

/// An error that knows its failure kind.
public protocol ClassifiedError: Error {
    var failureKind: FailureKind { get }
}

extension Communicator {
    /// Runs `body` on every rank, then agrees collectively: if any rank threw, every rank throws
    /// the same `AgreedError` carrying the lowest failing rank's message (one extra allreduce
    /// plus, on failure, a string broadcast). Every rank must call this at the same point.
    public func agree<R>(_ body: () throws -> R) throws -> R {
        var outcome: Result<R, Error>
        do { outcome = .success(try body()) } catch { outcome = .failure(error) }
        var failed: Int32 = Int32(size)
        if case .failure = outcome { failed = Int32(rank) }
        let lowest = Int(try allreduce(failed, op: .min))
        if lowest == size, case .success(let r) = outcome { return r }
        var message = ""
        var kind = FailureKind.system
        if case .failure(let e) = outcome, lowest == rank {
            message = String(describing: e)
            if let a = e as? AgreedError { kind = a.kind } else if let c = e as? ClassifiedError { kind = c.failureKind }
        }
        message = try broadcast(message, root: lowest)
        var code = [kind.rawValue]
        try broadcast(&code, root: lowest)
        throw AgreedError(rank: lowest, message: message, kind: FailureKind(rawValue: code[0]) ?? .system)
    }
}
