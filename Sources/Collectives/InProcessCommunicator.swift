// InProcessCommunicator: N logical ranks on N threads of one process, with MPI's collective semantics.
//
// Every collective is one rendezvous: each rank deposits a copy of its contribution, the last to
// arrive publishes the full set (indexed by rank), and every rank then computes its own result from
// it. Reductions fold in rank order 0..N-1, so results are deterministic and independent of thread
// timing. A rank whose body throws (or returns while others still wait in a collective) marks the
// world as failed; every rank waiting or arriving later throws `CommError.peerFailed` instead of
// hanging.

import Foundation

// MARK: - Shared rendezvous state

/// The state shared by the ranks of one in-process world. All fields are guarded by `condition`.
final class InProcessWorld: @unchecked Sendable {
    let size: Int
    private let condition = NSCondition()
    /// [size]: the contribution of each rank to the round in progress (nil: not arrived yet).
    private var slots: [Any?]
    private var arrived = 0
    /// Incremented each time a round completes; a waiter leaves when it changes.
    private var generation = 0
    /// [size]: the contributions of the last completed round, by rank. A rank reads it after its
    /// round completed; the next round cannot complete before every rank (including that reader)
    /// has arrived at it, so one published set suffices.
    private var published: [Any] = []
    /// Why the world cannot continue, once some rank failed.
    private var failure: String?
    /// Number of ranks whose body has returned normally.
    private var exited = 0

    init(size: Int) {
        self.size = size
        self.slots = Array(repeating: nil, count: size)
    }

    /// Deposits `value` for `rank`, waits for all ranks, returns every rank's value in rank order.
    func exchange(rank: Int, _ value: Any, operation: String) throws -> [Any] {
        condition.lock()
        defer { condition.unlock() }
        if let failure { throw CommError.peerFailed("\(operation) on rank \(rank): \(failure)") }
        slots[rank] = value
        arrived += 1
        if arrived == size {
            published = slots.map { $0! }
            slots = Array(repeating: nil, count: size)
            arrived = 0
            generation &+= 1
            condition.broadcast()
            return published
        }
        let mine = generation
        while generation == mine {
            if let failure { throw CommError.peerFailed("\(operation) on rank \(rank): \(failure)") }
            if exited > 0 {
                throw CommError.peerFailed(
                    "\(operation) on rank \(rank): \(exited) rank(s) returned while others waited in a collective")
            }
            condition.wait()
        }
        return published
    }

    /// Records that `rank`'s body threw; wakes every waiter.
    func markFailed(rank: Int, error: Error) {
        condition.lock()
        if failure == nil { failure = "rank \(rank) threw: \(error)" }
        condition.broadcast()
        condition.unlock()
    }

    /// Records that a rank's body returned; a waiter that can no longer complete then fails.
    func markExited() {
        condition.lock()
        exited += 1
        condition.broadcast()
        condition.unlock()
    }
}

/// One slot per rank for the values (or errors) the rank bodies produce; read after all joined.
private final class RankResults<R>: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [Result<R, Error>?]
    init(size: Int) { values = Array(repeating: nil, count: size) }
    func set(_ rank: Int, _ value: Result<R, Error>) {
        lock.lock(); values[rank] = value; lock.unlock()
    }
    func all() -> [Result<R, Error>?] {
        lock.lock(); defer { lock.unlock() }
        return values
    }
}

// MARK: - The communicator

/// One logical rank of an in-process world. Create worlds with `InProcessCommunicator.run`.
public final class InProcessCommunicator: Communicator {
    public let rank: Int
    public var size: Int { world.size }
    public var processorName: String { "in-process" }
    private let world: InProcessWorld

    init(world: InProcessWorld, rank: Int) {
        self.world = world
        self.rank = rank
    }

    /// Runs `body` on `ranks` threads, one per logical rank, and returns the results in rank order.
    /// If any rank throws, the others' pending and later collectives throw `CommError.peerFailed`,
    /// and `run` rethrows the error of the lowest rank that threw something other than
    /// `peerFailed` (or the lowest rank's error if all were `peerFailed`).
    public static func run<R>(ranks: Int, _ body: @escaping @Sendable (InProcessCommunicator) throws -> R) throws -> [R] {
        precondition(ranks >= 1, "an in-process world needs at least one rank, got \(ranks)")
        let world = InProcessWorld(size: ranks)
        let results = RankResults<R>(size: ranks)
        let done = DispatchGroup()
        for r in 0..<ranks {
            done.enter()
            let thread = Thread {
                let comm = InProcessCommunicator(world: world, rank: r)
                do {
                    let value = try body(comm)
                    results.set(r, .success(value))
                    world.markExited()
                } catch {
                    results.set(r, .failure(error))
                    world.markFailed(rank: r, error: error)
                }
                done.leave()
            }
            thread.stackSize = 8 << 20
            thread.name = "in-process rank \(r)"
            thread.start()
        }
        done.wait()
        let all = results.all().map { $0! }
        var firstError: Error?
        for case let .failure(error) in all {
            if case CommError.peerFailed = error {
                if firstError == nil { firstError = error }
            } else {
                throw error
            }
        }
        if let firstError { throw firstError }
        return all.map { try! $0.get() }
    }

    // MARK: Helpers

    private func gather<T: CommScalar>(_ values: UnsafeBufferPointer<T>, _ operation: String) throws -> [[T]] {
        let all = try world.exchange(rank: rank, Array(values), operation: operation)
        return try all.map {
            guard let a = $0 as? [T] else {
                throw CommError.sizeMismatch("\(operation): ranks passed different element types")
            }
            return a
        }
    }

    private func checkRoot(_ root: Int) throws {
        guard (0..<size).contains(root) else { throw CommError.invalidRoot(root, size: size) }
    }

    /// Element-wise `op` over `arrays[ranks]`, folded in rank order; all arrays have `count` elements.
    private func fold<T: CommScalar>(_ arrays: ArraySlice<[T]>, count: Int, op: ReduceOp,
                                     into out: UnsafeMutableBufferPointer<T>) {
        guard var acc = arrays.first else { return }
        for a in arrays.dropFirst() {
            for i in 0..<count { acc[i] = op.combine(acc[i], a[i]) }
        }
        for i in 0..<count { out[i] = acc[i] }
    }

    private func requireEqualCounts<T>(_ arrays: [[T]], _ operation: String) throws {
        let counts = arrays.map(\.count)
        guard counts.allSatisfy({ $0 == counts[0] }) else {
            throw CommError.sizeMismatch("\(operation): counts differ across ranks: \(counts)")
        }
    }

    // MARK: Collectives

    public func allreduce<T: CommScalar>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReduceOp) throws {
        let all = try gather(UnsafeBufferPointer(buffer), "allreduce")
        try requireEqualCounts(all, "allreduce")
        fold(all[...], count: buffer.count, op: op, into: buffer)
    }

    public func allreduce<T: CommScalar>(_ send: UnsafeBufferPointer<T>, into result: UnsafeMutableBufferPointer<T>,
                                         op: ReduceOp) throws {
        let all = try gather(send, "allreduce")
        try requireEqualCounts(all, "allreduce")
        guard result.count == send.count else {
            throw CommError.sizeMismatch("allreduce: send has \(send.count) elements, result \(result.count)")
        }
        fold(all[...], count: send.count, op: op, into: result)
    }

    public func broadcast<T: CommScalar>(_ buffer: UnsafeMutableBufferPointer<T>, root: Int) throws {
        try checkRoot(root)
        let mine = rank == root ? Array(buffer) : []
        let all = try mine.withUnsafeBufferPointer { try gather($0, "broadcast") }
        let source = all[root]
        guard source.count == buffer.count else {
            throw CommError.sizeMismatch("broadcast: root has \(source.count) elements, rank \(rank) \(buffer.count)")
        }
        if rank != root { for i in 0..<buffer.count { buffer[i] = source[i] } }
    }

    public func reduce<T: CommScalar>(_ send: UnsafeBufferPointer<T>, into result: UnsafeMutableBufferPointer<T>,
                                      op: ReduceOp, root: Int) throws {
        try checkRoot(root)
        let all = try gather(send, "reduce")
        try requireEqualCounts(all, "reduce")
        guard rank == root else { return }
        guard result.count == send.count else {
            throw CommError.sizeMismatch("reduce: send has \(send.count) elements, root's result \(result.count)")
        }
        fold(all[...], count: send.count, op: op, into: result)
    }

    public func allgatherv<T: CommScalar>(_ piece: UnsafeBufferPointer<T>) throws -> [[T]] {
        try gather(piece, "allgatherv")
    }

    public func exclusiveScan<T: CommScalar>(_ send: UnsafeBufferPointer<T>, into result: UnsafeMutableBufferPointer<T>,
                                             op: ReduceOp) throws {
        let all = try gather(send, "exclusiveScan")
        try requireEqualCounts(all, "exclusiveScan")
        guard result.count == send.count else {
            throw CommError.sizeMismatch("exclusiveScan: send has \(send.count) elements, result \(result.count)")
        }
        if rank == 0 {
            // Nothing precedes rank 0: zeros for sum, its own input for max/min (see the protocol).
            for i in 0..<send.count { result[i] = op == .sum ? T.zero : send[i] }
        } else {
            fold(all[0..<rank], count: send.count, op: op, into: result)
        }
    }

    public func barrier() throws {
        _ = try world.exchange(rank: rank, (), operation: "barrier")
    }

    /// Completes eagerly: the reduction is done before this returns.
    public func startAllreduce<T: CommScalar>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReduceOp) throws -> PendingCollective {
        try allreduce(buffer, op: op)
        return CompletedCollective()
    }

    /// Completes before returning (the logical ranks are threads of one process; none can be
    /// stopped on its own).
    public func startBroadcast<T: CommScalar>(_ buffer: UnsafeMutableBufferPointer<T>, root: Int) throws -> PendingCollective {
        try broadcast(buffer, root: root)
        return CompletedCollective()
    }

    public func startBarrier() throws -> PendingCollective {
        try barrier()
        return CompletedCollective()
    }

    /// The in-process equivalent of `MPI_Abort`: ends the whole process (all logical ranks).
    public func abort(code: Int32) -> Never {
        fflush(nil)
        exit(code)
    }
}

/// A non-blocking collective that had already completed when it was started.
final class CompletedCollective: PendingCollective {
    func test() throws -> Bool { true }
    func wait(timeout: Double?) throws {}
}
