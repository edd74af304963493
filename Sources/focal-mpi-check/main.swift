// focal-mpi-check: runs every collective of the MPI wrapper under `mpirun -n N` and prints one verdict.
//
// Each rank feeds rank-dependent inputs (small integers, exact in every element type, so any
// reduction order gives the same bits) through every collective, datatype and operation, and checks
// its own results against closed-form expectations. The same sequence then runs through an
// `InProcessCommunicator` world of the same size inside each process, and the two must agree
// exactly, line by line. The verdict is agreed collectively; rank 0 prints exactly one line,
//   focal-mpi-check: OK ranks=N checks=K
// or `focal-mpi-check: FAILED ranks=N check=<name> rank=<r>: <detail>`, and every rank exits
// with status 0 or 1 after `MPI_Finalize`.

import Collectives
import SwiftMPI
#if canImport(Glibc)
import Glibc
#endif

// MARK: - Element types under test

/// The element types of the check, built from small `Int`s (exact in every type).
protocol CheckScalar: CommScalar {
    init(_ value: Int)
}
extension Float: CheckScalar {}
extension Double: CheckScalar {}
extension Int32: CheckScalar {}
extension Int64: CheckScalar {}
extension UInt8: CheckScalar {}

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

    /// [count]: `op` folded over ranks `ranks` of `input`, in rank order (the closed-form result).
    func folded<T: CheckScalar>(_ op: ReduceOp, _ ranks: Range<Int>, count: Int, salt: Int = 0) -> [T] {
        (0..<count).map { i in
            ranks.dropFirst().reduce(T(Suite.input(ranks.lowerBound, i + salt))) { acc, r in
                op.combine(acc, T(Suite.input(r, i + salt)))
            }
        }
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

        expect("\(t).broadcast.root\(root)") {
            var a: [T] = rank == root ? inputs(root, count: count, salt: 4) : Array(repeating: T.zero, count: count)
            try comm.broadcast(&a, root: root)
            return (a, inputs(root, count: count, salt: 4))
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

let suite = Suite(world, setLimit: { world.maxCountPerCall = $0 })
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
