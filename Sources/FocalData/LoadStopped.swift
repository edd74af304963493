// LoadStopped: a stop request (SIGTERM, SIGINT) noticed while the data are loaded or generated.
import Collectives

/// Thrown by data loading and generation when a stop was requested: there is nothing to
/// checkpoint yet, and the run ends as interrupted (exit 6).
public struct LoadStopped: Error, ClassifiedError, CustomStringConvertible, Sendable {
    public init() {}
    public var failureKind: FailureKind { .interrupted }
    public var description: String {
        "interrupted by a signal while loading the data; nothing trained yet, so no checkpoint"
    }
}

/// A stop request polled between pieces of work (each well under a second).
public typealias StopPoll = @Sendable () -> Bool

extension Optional where Wrapped == StopPoll {
    /// Throws `LoadStopped` once a stop was requested.
    @inline(__always)
    public func check() throws {
        if let poll = self, poll() { throw LoadStopped() }
    }
}
