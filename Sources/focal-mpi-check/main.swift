// focal-mpi-check: runs every collective of the MPI wrapper under `mpirun -n N` and prints one verdict.
//
// Each rank feeds rank-dependent inputs (small integers, exact in every element type, so any
// reduction order gives the same bits) through every collective, datatype and operation, and checks
// its own results against closed-form expectations computed without `ReduceOp.combine` (so a
// wrong operation or datatype in both the wrapper and the in-process world is still caught). With
// 2 or more ranks the inputs make SUM, MAX and MIN differ (checked first), every rank is a root
// of a broadcast and a reduce in turn, and extreme values of each type (negative, above 2^24 or
// 2^53, above 127 for UInt8) tell a signed from an unsigned or an integer from a floating datatype.
// The same sequence then runs through an `InProcessCommunicator` world of the same size inside
// each process, and the two must agree exactly, line by line. The verdict is agreed collectively;
// rank 0 prints exactly one line,
//   focal-mpi-check: OK ranks=N checks=K
// or `focal-mpi-check: FAILED ranks=N check=<name> rank=<r>: <detail>`, and every rank exits
// with status 0 or 1 after `MPI_Finalize`.
//
// `FOCAL_MPI_CHECK_MUTATE=sum-as-max|root-zero` deliberately breaks the MPI side (a SUM sent as
// MAX; every broadcast and reduce rooted at rank 0) so the tests can show the check fails then.

import Collectives
import SwiftMPI
#if canImport(Glibc)
import Glibc
#endif

// MARK: - Element types under test

/// The element types of the check, built from small `Int`s (exact in every type).
protocol CheckScalar: CommScalar, AdditiveArithmetic {
    init(_ value: Int)
    /// Rank `r`'s values at the type's edges, for MAX and MIN (different on every rank).
    static func edges(_ r: Int) -> [Self]
    /// Rank `r`'s values whose sum over up to 8 ranks is exact but would not be in a narrower or
    /// other-kind datatype (beyond 2^24 or 2^53, negative).
    static func bigSummands(_ r: Int) -> [Self]
}
extension Float: CheckScalar {
    static func edges(_ r: Int) -> [Float] {
        [-.greatestFiniteMagnitude + Float(r) * 0x1p104, .greatestFiniteMagnitude - Float(r) * 0x1p104,
         -Float(r) - 0.5, .leastNonzeroMagnitude * Float(r + 1), -0x1p-126 * Float(r + 1)]
    }
    static func bigSummands(_ r: Int) -> [Float] { [0x1p24 + Float(16 * r), -0x1p100 * Float(r + 1), Float(r) * 0.25 - 3] }
}
extension Double: CheckScalar {
    static func edges(_ r: Int) -> [Double] {
        [-.greatestFiniteMagnitude + Double(r) * 0x1p972, .greatestFiniteMagnitude - Double(r) * 0x1p972,
         -Double(r) - 0.5, .leastNonzeroMagnitude * Double(r + 1), 1e300 * Double(r + 1)]
    }
    static func bigSummands(_ r: Int) -> [Double] { [0x1p53 + Double(16 * r), 0x1p1000 * Double(r + 1), -0x1p-1000 * Double(r + 1)] }
}
extension Int32: CheckScalar {
    static func edges(_ r: Int) -> [Int32] { [Int32.min + Int32(r), Int32.max - Int32(r), -1 - Int32(r), Int32(r) << 24] }
    static func bigSummands(_ r: Int) -> [Int32] { [16_777_217 + Int32(r), -10_000_000 * Int32(r + 1)] }
}
extension Int64: CheckScalar {
    static func edges(_ r: Int) -> [Int64] { [Int64.min + Int64(r), Int64.max - Int64(r), -1 - Int64(r), Int64(r) << 40] }
    static func bigSummands(_ r: Int) -> [Int64] { [(1 << 53) + 1 + Int64(r), -(1 << 58) + Int64(r), Int64(r) << 33] }
}
extension UInt8: CheckScalar {
    static func edges(_ r: Int) -> [UInt8] { [255 - UInt8(r), UInt8(r), 127 + UInt8(r), 128 - UInt8(r)] }
    static func bigSummands(_ r: Int) -> [UInt8] { [100 + UInt8(r), 3 * UInt8(r)] }  // 100..103: the sum wraps at 3+ ranks
}

/// `op` over `values` (one per rank, in rank order), written out without `ReduceOp.combine`.
func expected<T: CheckScalar>(_ op: ReduceOp, _ values: [T]) -> T {
    switch op {
    case .sum: return values.dropFirst().reduce(values[0]) { $0.reduceSum($1) }
    case .max: return values.max()!
    case .min: return values.min()!
    }
}

/// An error thrown on purpose by some ranks inside `agree`.
struct PlannedFailure: ClassifiedError, CustomStringConvertible {
    var rank: Int
    var failureKind: FailureKind
    var description: String { "planned failure on rank \(rank)" }
}

/// A value for the Codable broadcast.
struct Config: Codable, Equatable {
    var name: String
    var weights: [Double]
    var ranks: [String: Int]
    var enabled: Bool
}

// MARK: - The check sequence

/// Runs the sequence on one communicator, recording each check's name, outcome and result text.
final class Suite {
    let comm: any Communicator
    /// Sets the per-call element limit (MPI only); nil for communicators without one.
    let setLimit: ((Int) -> Void)?
    var rank: Int { comm.rank }
    var size: Int { comm.size }

    /// [checks]: every check's name, in order.
    var names: [String] = []
    /// The first failure: (check index, "name: detail").
    var failures: [(index: Int, detail: String)] = []
    /// [compared checks]: "name = result" lines; must be identical between MPI and in-process.
    var record: [String] = []

    init(_ comm: any Communicator, setLimit: ((Int) -> Void)?) {
        self.comm = comm
        self.setLimit = setLimit
    }

    /// Records one check: `body` returns (got, want); a thrown error is a failure.
    func expect<V: Equatable>(_ name: String, compare: Bool = true, _ body: () throws -> (got: V, want: V)) {
        names.append(name)
        do {
            let (got, want) = try body()
            if compare { record.append("\(name) = \(got)") }
            if got != want { failures.append((names.count - 1, "\(name): got \(got), want \(want)")) }
        } catch {
            if compare { record.append("\(name) threw \(error)") }
            failures.append((names.count - 1, "\(name): threw \(error)"))
        }
    }

    /// The input of rank `r` at element `i`: a small positive integer (1...11).
    static func input(_ r: Int, _ i: Int) -> Int { (r * 7 + i * 3) % 11 + 1 }

    /// [count]: `op` over ranks `ranks` of `input`, in rank order (the closed-form result).
    func folded<T: CheckScalar>(_ op: ReduceOp, _ ranks: Range<Int>, count: Int, salt: Int = 0) -> [T] {
        (0..<count).map { i in expected(op, ranks.map { T(Suite.input($0, i + salt)) }) }
    }

    /// [values]: `op` over every rank's `values(r)`, element by element.
    func across<T: CheckScalar>(_ op: ReduceOp, _ ranks: Range<Int>, _ values: (Int) -> [T]) -> [T] {
        let all = ranks.map(values)
        return all[0].indices.map { i in expected(op, all.map { $0[i] }) }
    }

    func inputs<T: CheckScalar>(_ r: Int, count: Int, salt: Int = 0) -> [T] {
        (0..<count).map { T(Suite.input(r, $0 + salt)) }
    }

    // MARK: Typed collectives

    func runTyped<T: CheckScalar>(_: T.Type) {
        let t = "\(T.self)"
        let count = 5
        let mine: [T] = inputs(rank, count: count)
        let root = size - 1

        if size >= 2 {
            // The inputs can tell the operations apart: every element's SUM, MAX and MIN differ.
            expect("\(t).inputs.distinguish.ops", compare: false) {
                let sum: [T] = folded(.sum, 0..<size, count: count), max: [T] = folded(.max, 0..<size, count: count)
                let min: [T] = folded(.min, 0..<size, count: count)
                let distinct = (0..<count).allSatisfy { sum[$0] != max[$0] && max[$0] != min[$0] && sum[$0] != min[$0] }
                return (distinct, true)
            }
        }

        for op in ReduceOp.allCases {
            let all: [T] = folded(op, 0..<size, count: count)
            expect("\(t).allreduce.inplace.\(op)") {
                var a = mine
                try comm.allreduce(&a, op: op)
                return (a, all)
            }
            expect("\(t).allreduce.outofplace.\(op)") {
                let send = mine
                let out = try comm.allreduced(send, op: op)
                return (out + send, all + mine)  // result, and send left unchanged
            }
            expect("\(t).reduce.\(op).root\(root)") {
                let out = try comm.reduce(mine, op: op, root: root)
                return (out, rank == root ? all : [])
            }
            expect("\(t).exclusiveScan.\(op)") {
                var out = [T](repeating: T.zero, count: count)
                try mine.withUnsafeBufferPointer { s in
                    try out.withUnsafeMutableBufferPointer { try comm.exclusiveScan(s, into: $0, op: op) }
                }
                let want: [T] = rank == 0 ? (op == .sum ? Array(repeating: T.zero, count: count) : mine)
                    : folded(op, 0..<rank, count: count)
                return (out, want)
            }
            expect("\(t).iallreduce.wait.\(op)") {
                var a = mine
                try a.withUnsafeMutableBufferPointer { b in
                    let pending = try comm.startAllreduce(b, op: op)
                    try pending.wait(timeout: 30)
                }
                return (a, all)
            }
            expect("\(t).iallreduce.test.\(op)") {
                var a = mine
                try a.withUnsafeMutableBufferPointer { b in
                    let pending = try comm.startAllreduce(b, op: op)
                    while try !pending.test() { sched_yield() }
                    _ = try pending.test()  // testing again after completion stays true
                }
                return (a, all)
            }
        }

        for op in [ReduceOp.max, .min] {
            expect("\(t).edges.allreduce.\(op)") {
                (try comm.allreduced(T.edges(rank), op: op), across(op, 0..<size, T.edges))
            }
        }
        expect("\(t).bigSummands.allreduce.sum") {
            (try comm.allreduced(T.bigSummands(rank), op: .sum), across(.sum, 0..<size, T.bigSummands))
        }
        expect("\(t).bigSummands.exclusiveScan.sum") {
            let send = T.bigSummands(rank)
            var out = [T](repeating: T.zero, count: send.count)
            try send.withUnsafeBufferPointer { s in
                try out.withUnsafeMutableBufferPointer { try comm.exclusiveScan(s, into: $0, op: .sum) }
            }
            return (out, rank == 0 ? out.map { _ in T.zero } : across(.sum, 0..<rank, T.bigSummands))
        }
        // Every rank is the root once: its own values arrive everywhere, its reduction only there.
        for r in 0..<size {
            expect("\(t).broadcast.everyRoot.root\(r)") {
                var a: [T] = rank == r ? T.edges(r) : T.edges(r).map { _ in T.zero }
                try comm.broadcast(&a, root: r)
                return (a, T.edges(r))
            }
            expect("\(t).ibroadcast.everyRoot.root\(r)") {
                var a: [T] = rank == r ? T.edges(r) : T.edges(r).map { _ in T.zero }
                try a.withUnsafeMutableBufferPointer { try comm.startBroadcast($0, root: r).wait(timeout: 30) }
                return (a, T.edges(r))
            }
            expect("\(t).reduce.everyRoot.max.root\(r)") {
                (try comm.reduce(T.edges(rank), op: .max, root: r), rank == r ? across(.max, 0..<size, T.edges) : [])
            }
        }

        expect("\(t).broadcast.root\(root)") {
            var a: [T] = rank == root ? inputs(root, count: count, salt: 4) : Array(repeating: T.zero, count: count)
            try comm.broadcast(&a, root: root)
            return (a, inputs(root, count: count, salt: 4))
        }
        expect("\(t).ibarrier") {
            try comm.startBarrier().wait(timeout: 30)
            return ([T.zero], [T.zero])
        }
        expect("\(t).allgatherv.uneven") {
            // Rank r contributes r % 3 elements: ranks 0 and 3 contribute empty pieces.
            let pieces = try comm.allgatherv(inputs(rank, count: rank % 3, salt: 1) as [T])
            let want: [[T]] = (0..<size).map { inputs($0, count: $0 % 3, salt: 1) }
            return (pieces, want)
        }
        expect("\(t).allgather.equal") {
            let flat = try comm.allgather(inputs(rank, count: 3, salt: 2) as [T])
            return (flat, (0..<size).flatMap { inputs($0, count: 3, salt: 2) as [T] })
        }
        expect("\(t).empty") {
            var a: [T] = []
            try comm.allreduce(&a, op: .sum)
            let b = try comm.allreduced(a, op: .max)
            try comm.broadcast(&a, root: 0)
            let c = try comm.reduce(a, op: .min, root: 0)
            var d: [T] = []
            try a.withUnsafeBufferPointer { s in
                try d.withUnsafeMutableBufferPointer { try comm.exclusiveScan(s, into: $0, op: .sum) }
            }
            try a.withUnsafeMutableBufferPointer { try comm.startAllreduce($0, op: .sum).wait(timeout: 30) }
            return (a + b + c + d, [])
        }

        // Buffers longer than a simulated per-call limit of 7 elements (split into several calls).
        let long = 100
        setLimit?(7)
        defer { setLimit?(Int(Int32.max)) }
        let longAll: [T] = folded(.sum, 0..<size, count: long)
        let longMine: [T] = inputs(rank, count: long)
        expect("\(t).long.allreduce.inplace") {
            var a = longMine
            try comm.allreduce(&a, op: .sum)
            return (a, longAll)
        }
        expect("\(t).long.allreduce.outofplace") {
            (try comm.allreduced(longMine, op: .max), folded(.max, 0..<size, count: long))
        }
        expect("\(t).long.broadcast") {
            var a: [T] = rank == 0 ? inputs(0, count: long, salt: 3) : Array(repeating: T.zero, count: long)
            try comm.broadcast(&a, root: 0)
            return (a, inputs(0, count: long, salt: 3))
        }
        expect("\(t).long.reduce") {
            (try comm.reduce(longMine, op: .sum, root: 0), rank == 0 ? longAll : [])
        }
        expect("\(t).long.exclusiveScan") {
            var out = [T](repeating: T.zero, count: long)
            try longMine.withUnsafeBufferPointer { s in
                try out.withUnsafeMutableBufferPointer { try comm.exclusiveScan(s, into: $0, op: .min) }
            }
            return (out, rank == 0 ? longMine : folded(.min, 0..<rank, count: long))
        }
        expect("\(t).long.iallreduce") {
            var a = longMine
            try a.withUnsafeMutableBufferPointer { try comm.startAllreduce($0, op: .sum).wait(timeout: 30) }
            return (a, longAll)
        }
        if setLimit != nil {
            // Only MPI has a per-call limit: a total of 8 * size > 7 elements must be refused.
            expect("\(t).long.allgatherv.overflow", compare: false) {
                do {
                    _ = try comm.allgatherv(inputs(rank, count: 8) as [T])
                    return ("accepted", "countOverflow")
                } catch CommError.countOverflow {
                    return ("countOverflow", "countOverflow")
                }
            }
        }
    }

    // MARK: Untyped collectives

    func runOthers() {
        (comm as? Mutated)?.active = false
        defer { (comm as? Mutated)?.active = true }
        let root = size - 1
        expect("string.broadcast") {
            let text = rank == root ? "héllo ✓ from rank \(root)" : "ignored"
            return (try comm.broadcast(text, root: root), "héllo ✓ from rank \(root)")
        }
        expect("string.broadcast.empty") {
            (try comm.broadcast(rank == 0 ? "" : "x", root: 0), "")
        }
        expect("codable.broadcast") {
            let value = Config(name: "focal \(size)", weights: [0.25, -1.5, 3e-7], ranks: ["world": size],
                               enabled: true)
            let sent = rank == 0 ? value : Config(name: "", weights: [], ranks: [:], enabled: false)
            return (try comm.broadcast(value: sent, root: 0), value)
        }
        expect("barrier") {
            try comm.barrier()
            try comm.barrier()
            return (true, true)
        }
        expect("exclusivePrefixSum") {
            (try comm.exclusivePrefixSum(Int64(rank + 1)), Int64(rank * (rank + 1) / 2))
        }
        expect("any") {
            ([try comm.any(rank == root), try comm.any(false)], [true, false])
        }
        expect("invalidRoot") {
            var a: [Float] = [1]
            do {
                try comm.broadcast(&a, root: size)
                return ("accepted", "invalidRoot")
            } catch CommError.invalidRoot {
                return ("invalidRoot", "invalidRoot")
            }
        }
        expect("rankAndSize") { ([rank < size, size >= 1], [true, true]) }
        expect("agree.success") {
            (try comm.agree { rank * 10 + 3 }, rank * 10 + 3)
        }
        expect("agree.failure") {
            // Ranks size/2 ... size-1 fail with different kinds; every rank gets the lowest one's error.
            let lowest = size / 2
            do {
                let value = try comm.agree { () throws -> Int in
                    if rank >= lowest {
                        throw PlannedFailure(rank: rank, failureKind: rank == lowest ? .data : .numeric)
                    }
                    return rank
                }
                return ("returned \(value)", "agreed")
            } catch let e as AgreedError {
                let ok = e.rank == lowest && e.message == "planned failure on rank \(lowest)" && e.kind == .data
                return (ok ? "agreed" : "rank \(e.rank), \(e.kind): \(e.message)", "agreed")
            }
        }
    }

    func runAll() {
        runTyped(Float.self)
        runTyped(Double.self)
        runTyped(Int32.self)
        runTyped(Int64.self)
        runTyped(UInt8.self)
        runOthers()
    }
}

// MARK: - Deliberate faults (to show the check fails)

/// Forwards to `base`, except for one planted fault while `active`: SUM performed as MAX, or every
/// broadcast and reduce rooted at rank 0 whatever root was asked for. The suite turns it off for
/// the string and Codable broadcasts: a faulted length broadcast would leave the ranks with
/// different counts for the bytes that follow, an erroneous MPI call rather than a wrong result.
final class Mutated: Communicator {
    enum Fault: String { case sumAsMax = "sum-as-max", rootZero = "root-zero" }
    let base: any Communicator
    let fault: Fault
    var active = true
    init(_ base: any Communicator, fault: Fault) {
        self.base = base
        self.fault = fault
    }
    var rank: Int { base.rank }
    var size: Int { base.size }
    var processorName: String { base.processorName }
    private func op(_ op: ReduceOp) -> ReduceOp { active && fault == .sumAsMax && op == .sum ? .max : op }
    private func root(_ root: Int) -> Int { active && fault == .rootZero && (0..<size).contains(root) ? 0 : root }

    func allreduce<T: CommScalar>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReduceOp) throws {
        try base.allreduce(buffer, op: self.op(op))
    }
    func allreduce<T: CommScalar>(_ send: UnsafeBufferPointer<T>, into result: UnsafeMutableBufferPointer<T>,
                                  op: ReduceOp) throws {
        try base.allreduce(send, into: result, op: self.op(op))
    }
    func broadcast<T: CommScalar>(_ buffer: UnsafeMutableBufferPointer<T>, root: Int) throws {
        try base.broadcast(buffer, root: self.root(root))
    }
    func reduce<T: CommScalar>(_ send: UnsafeBufferPointer<T>, into result: UnsafeMutableBufferPointer<T>,
                               op: ReduceOp, root: Int) throws {
        let target = self.root(root)
        guard target != root else { return try base.reduce(send, into: result, op: self.op(op), root: root) }
        // The fault: rank 0 receives the reduction (into its own scratch buffer, as `result` is
        // sized for the requested root only) and the requested root's `result` stays untouched.
        var scratch = [T](repeating: T.zero, count: rank == target ? send.count : 0)
        try scratch.withUnsafeMutableBufferPointer { try base.reduce(send, into: $0, op: self.op(op), root: target) }
    }
    func allgatherv<T: CommScalar>(_ piece: UnsafeBufferPointer<T>) throws -> [[T]] { try base.allgatherv(piece) }
    func startBroadcast<T: CommScalar>(_ buffer: UnsafeMutableBufferPointer<T>, root: Int) throws -> PendingCollective {
        try base.startBroadcast(buffer, root: self.root(root))
    }
    func startBarrier() throws -> PendingCollective { try base.startBarrier() }
    func exclusiveScan<T: CommScalar>(_ send: UnsafeBufferPointer<T>, into result: UnsafeMutableBufferPointer<T>,
                                      op: ReduceOp) throws {
        try base.exclusiveScan(send, into: result, op: self.op(op))
    }
    func barrier() throws { try base.barrier() }
    func startAllreduce<T: CommScalar>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReduceOp) throws -> PendingCollective {
        try base.startAllreduce(buffer, op: self.op(op))
    }
    func abort(code: Int32) -> Never { base.abort(code: code) }
}

/// What one in-process rank reports back.
struct InProcessOutcome: Sendable {
    var record: [String]
    var failures: [String]
}

// MARK: - Main

func fail(_ message: String) -> Never {
    print("focal-mpi-check: FAILED \(message)")
    MPIRuntime.exit(code: 1)
}

let world: MPICommunicator
do {
    try MPIRuntime.initialize()
    world = try MPIRuntime.world
} catch {
    fail("ranks=? check=init: \(error)")
}

let checked: any Communicator
switch getenv("FOCAL_MPI_CHECK_MUTATE").map({ String(cString: $0) }) {
case nil, "": checked = world
case let name?:
    guard let fault = Mutated.Fault(rawValue: name) else {
        fail("ranks=\(world.size) check=mutate rank=\(world.rank): unknown FOCAL_MPI_CHECK_MUTATE '\(name)'")
    }
    checked = Mutated(world, fault: fault)
}
let suite = Suite(checked, setLimit: { world.maxCountPerCall = $0 })
suite.runAll()

// The same sequence through an in-process world of the same size; this rank compares its own.
suite.names.append("inprocess.identical")
do {
    let size = world.size
    let outcomes = try InProcessCommunicator.run(ranks: size) { comm in
        let s = Suite(comm, setLimit: nil)
        s.runAll()
        return InProcessOutcome(record: s.record, failures: s.failures.map(\.detail))
    }
    let mine = outcomes[world.rank]
    if let first = mine.failures.first {
        suite.failures.append((suite.names.count - 1, "in-process run failed its own check \(first)"))
    } else if mine.record != suite.record {
        let i = zip(mine.record, suite.record).enumerated().first { $0.element.0 != $0.element.1 }?.offset
            ?? Swift.min(mine.record.count, suite.record.count)
        let a = i < suite.record.count ? suite.record[i] : "<end>"
        let b = i < mine.record.count ? mine.record[i] : "<end>"
        suite.failures.append((suite.names.count - 1, "MPI and in-process differ: MPI \(a) / in-process \(b)"))
    }
} catch {
    suite.failures.append((suite.names.count - 1, "in-process run threw \(error)"))
}

// MARK: - Collective verdict

do {
    // Key = first failing check index * 2^16 + rank; the minimum over ranks names the failure.
    let sentinel = Int64.max
    let local = suite.failures.first.map { Int64($0.index) << 16 | Int64(world.rank) } ?? sentinel
    let first = try world.allreduce(local, op: .min)
    if first == sentinel {
        if world.rank == 0 { print("focal-mpi-check: OK ranks=\(world.size) checks=\(suite.names.count)") }
        MPIRuntime.exit(code: 0)
    }
    let owner = Int(first & 0xFFFF)
    let detail = try world.broadcast(world.rank == owner ? suite.failures[0].detail : "", root: owner)
    let name = detail.split(separator: ":", maxSplits: 1).first.map(String.init) ?? detail
    if world.rank == 0 {
        print("focal-mpi-check: FAILED ranks=\(world.size) check=\(name) rank=\(owner): \(detail)")
    }
    MPIRuntime.exit(code: 1)
} catch {
    // The verdict itself could not be agreed; every rank reports and fails.
    fail("ranks=\(world.size) check=verdict rank=\(world.rank): \(error)")
}
