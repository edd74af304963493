// ReductionCollective: the allreduce both gradient reducers use: blocking, or, with a stall timeout,
// non-blocking and polled against it, so that a stuck rank ends in `CommError.timedOut` naming
// the collective (the trainer adds the epoch and step) instead of a hang.
import Collectives

/// Allreduce of `buffer` in place; with `timeout`, through `startAllreduce` and `wait(timeout:)`,
/// and a timeout names `what`.
func reductionAllreduce<T: CommScalar>(_ comm: Communicator, _ buffer: inout [T], op: ReduceOp, what: String,
                                       timeout: Double?) throws {
    guard let limit = timeout else { return try comm.allreduce(&buffer, op: op) }
    try buffer.withUnsafeMutableBufferPointer { b in
        let pending = try comm.startAllreduce(b, op: op)
        do {
            try pending.wait(timeout: limit)
        } catch CommError.timedOut {
            throw CommError.timedOut(operation: what, seconds: limit)
        }
    }
}
