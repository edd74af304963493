// WatchedCommunicator: every collective of a run under the stall watchdog (`--stall-timeout`), so
// no rank waits forever for a peer that was stopped, hangs or died without ending the job.
//
// Allreduce and broadcast run as their non-blocking forms (`startAllreduce`, `startBroadcast`)
// polled against the deadline. The other collectives (reduce, allgatherv, exclusive scan,
// barrier) first meet in a non-blocking barrier polled against the deadline, then run blocking:
// once every rank has reached the barrier the operation itself completes at once. A timeout is
// `CommError.timedOut`; the only safe way on is to abort the job (the operation stays pending).
// Every collective entered is announced on the base's progress board (when it has one), so the
// report of a stall can name the ranks that never arrived (`Communicator.stallLaggards`).

/// Forwards to `base`; every blocking collective gives up after `timeout` seconds.
public final class WatchedCommunicator: Communicator {
    public let base: any Communicator
    /// Seconds a collective may wait for the other ranks.
    public let timeout: Double

    /// The base communicator's progress board, told of every collective entered (nil: none).
    private let board: ProgressBoard?

    public init(_ base: any Communicator, timeout: Double) {
        self.base = base
        self.timeout = timeout
        board = (base as? ProgressBoardProviding)?.progressBoard
    }

    /// `base` under a watchdog of `timeout` seconds, or `base` itself for nil.
    public static func watching(_ base: any Communicator, timeout: Double?) -> any Communicator {
        guard let timeout, base.size > 1 else { return base }
        return WatchedCommunicator(base, timeout: timeout)
    }

    public var rank: Int { base.rank }
    public var size: Int { base.size }
    public var processorName: String { base.processorName }

    /// Waits for `pending`, naming `what` on a timeout.
    private func finish(_ pending: PendingCollective, _ what: String) throws {
        do {
            try pending.wait(timeout: timeout)
        } catch CommError.timedOut {
            throw CommError.timedOut(operation: what, seconds: timeout)
        }
    }

    /// Every rank has arrived (within the deadline) before a blocking collective starts.
    private func arrive(_ what: String) throws {
        board?.post()
        try finish(try base.startBarrier(), what)
    }

    public func allreduce<T: CommScalar>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReduceOp) throws {
        board?.post()
        try finish(try base.startAllreduce(buffer, op: op), "an allreduce")
    }

    public func allreduce<T: CommScalar>(_ send: UnsafeBufferPointer<T>, into result: UnsafeMutableBufferPointer<T>,
                                         op: ReduceOp) throws {
        guard send.count == result.count else {
            throw CommError.sizeMismatch("allreduce: send has \(send.count) elements, result \(result.count)")
        }
        guard let s = send.baseAddress, let r = result.baseAddress else { return }
        if s != UnsafePointer(r) { r.update(from: s, count: send.count) }
        try allreduce(result, op: op)
    }

    public func broadcast<T: CommScalar>(_ buffer: UnsafeMutableBufferPointer<T>, root: Int) throws {
        board?.post()
        try finish(try base.startBroadcast(buffer, root: root), "a broadcast from rank \(root)")
    }

    public func reduce<T: CommScalar>(_ send: UnsafeBufferPointer<T>, into result: UnsafeMutableBufferPointer<T>,
                                      op: ReduceOp, root: Int) throws {
        try arrive("a reduction onto rank \(root)")
        try base.reduce(send, into: result, op: op, root: root)
    }

    public func allgatherv<T: CommScalar>(_ piece: UnsafeBufferPointer<T>) throws -> [[T]] {
        try arrive("an allgather")
        return try base.allgatherv(piece)
    }

    public func exclusiveScan<T: CommScalar>(_ send: UnsafeBufferPointer<T>, into result: UnsafeMutableBufferPointer<T>,
                                             op: ReduceOp) throws {
        try arrive("a prefix sum")
        try base.exclusiveScan(send, into: result, op: op)
    }

    public func barrier() throws { try arrive("a barrier") }

    public func startAllreduce<T: CommScalar>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReduceOp) throws -> PendingCollective {
        board?.post()
        return try base.startAllreduce(buffer, op: op)
    }

    public func startBroadcast<T: CommScalar>(_ buffer: UnsafeMutableBufferPointer<T>, root: Int) throws -> PendingCollective {
        board?.post()
        return try base.startBroadcast(buffer, root: root)
    }

    public func startBarrier() throws -> PendingCollective {
        board?.post()
        return try base.startBarrier()
    }

    public func abort(code: Int32) -> Never { base.abort(code: code) }
}
