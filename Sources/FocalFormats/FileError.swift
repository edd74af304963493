// FileError: the one error of the file layer, naming the file and carrying its exit-code class.
import Collectives
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file operation that failed, in one line naming the file.
///
/// The kind says when it failed, for the exit code (README, "Exit codes"):
/// - `.data` (3): a check made before the run, or an input that cannot be read (a missing input
///   file, an output directory that does not exist or is not writable);
/// - `.usage` (2): an output that cannot be this kind of file (a FIFO or a device given where
///   rows are written at offsets);
/// - `.system` (5): a write that failed during or after the run (disk full, I/O error, a failed
///   rename or fsync).
public struct FileError: Error, ClassifiedError, CustomStringConvertible, Sendable, Equatable {
    /// The file (or directory) as the user named it, prefixed by its option when one is given.
    public var path: String
    /// What went wrong, e.g. "write failed: No space left on device".
    public var reason: String
    public var failureKind: FailureKind

    public init(path: String, reason: String, kind: FailureKind) {
        self.path = path
        self.reason = reason
        self.failureKind = kind
    }

    public var description: String { "\(path): \(reason)" }

    /// A failure found by a check before the run (exit 3, as a bad input is).
    public static func check(_ path: String, _ reason: String) -> FileError {
        FileError(path: path, reason: reason, kind: .data)
    }

    /// A write that failed while or after the run produced its results (exit 5).
    public static func system(_ path: String, _ reason: String) -> FileError {
        FileError(path: path, reason: reason, kind: .system)
    }

    /// An output of a kind the command cannot produce there (exit 2).
    public static func usage(_ path: String, _ reason: String) -> FileError {
        FileError(path: path, reason: reason, kind: .usage)
    }
}

// MARK: - errno

/// The text of an `errno` value (`strerror(3)`); every message of the file layer goes through here.
public func errnoText(_ code: Int32 = errno) -> String {
    String(cString: strerror(code))
}

/// Runs a system call until it does not fail with `EINTR`; returns its result (errno is left set).
@inline(__always)
func retryingEINTR<R: SignedInteger>(_ call: () -> R) -> R {
    while true {
        let r = call()
        if r < 0 && errno == EINTR { continue }
        return r
    }
}
