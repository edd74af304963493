// Ranks: how a command runs on every rank — the communicator choice (MPI under a launcher,
// threads for --simulate-ranks, one rank otherwise) and the one-line error reports with exit codes.
import ArgumentParser
import Collectives
import FocalCore
import SwiftMPI
#if canImport(Glibc)
import Glibc
#endif

/// A command that runs on every rank and returns the exit status every rank agrees on.
protocol RankedCommand {
    func execute(arguments: [String]) -> Int32
}

// MARK: - Communicator choice

/// Runs `body` once per rank: under mpirun with the MPI world; with `simulate` as that many
/// threads; otherwise as a single rank without MPI (the debug mode). Returns rank 0's status.
func withCommunicator(simulate: Int?, _ body: @escaping @Sendable (Communicator) -> Int32) -> Int32 {
    if let n = simulate {
        if launcher.isMPIJob, let size = launcher.size, size > 1 {
            return reportLocal(ValidationError("--simulate-ranks runs ranks as threads of one process; do not combine it with mpirun -n \(size)"))
        }
        return runInProcess(ranks: n, body)
    }
    if launcher.isMPIJob {
        do {
            let world = try MPIRuntime.world
            return body(world)
        } catch {
            return reportLocal(error, kind: .system)
        }
    }
    return runInProcess(ranks: 1, body)
}

private func runInProcess(ranks: Int, _ body: @escaping @Sendable (Communicator) -> Int32) -> Int32 {
    do {
        let codes = try InProcessCommunicator.run(ranks: ranks) { comm in body(comm) }
        return codes.first ?? 0
    } catch {
        return reportLocal(error, kind: .system)
    }
}

/// Prints an error found identically on every rank (option validation) once, from rank 0.
func reportLocal(_ error: Error, kind: FailureKind? = nil) -> Int32 {
    let k: FailureKind = kind ?? ((error is ValidationError) ? .usage : (error as? ClassifiedError)?.failureKind ?? .system)
    if launcher.rank == 0 { printError("focal-ddp: error: \(error)") }
    return k.rawValue
}

/// Prints an error agreed by all ranks once, from rank 0 of `comm`, and returns its exit status.
func reportAgreed(_ error: Error, comm: Communicator) -> Int32 {
    let kind: FailureKind
    var message = String(describing: error)
    if let a = error as? AgreedError {
        kind = a.kind
        if comm.size > 1 && !message.contains("rank") { message += " (rank \(a.rank))" }
    } else if let c = error as? ClassifiedError {
        kind = c.failureKind
    } else {
        kind = .system
    }
    if comm.rank == 0 { printError("focal-ddp: error: \(message)") }
    return kind.rawValue
}

