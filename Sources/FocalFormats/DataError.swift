// DataError: a bad input file or bad data parameters, in one line naming the option or the file (exit 3).
import Collectives

/// A validation failure of data parameters or files: one line naming the option or the file.
public struct DataError: Error, CustomStringConvertible, Sendable, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension DataError: ClassifiedError {
    public var failureKind: FailureKind { .data }
}
