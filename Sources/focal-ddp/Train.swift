// Train: the default command. Loads (or generates) each rank's rows, trains, evaluates, writes.
import ArgumentParser
import Collectives
import FocalCore
import FocalReport
import FocalRun
import FocalData
import FocalRun
import SwiftMPI
#if canImport(Glibc)
import Glibc
#endif

/// A command that runs on every rank and returns the exit status every rank agrees on.
protocol RankedCommand {
    func execute(arguments: [String]) -> Int32
}

struct Train: ParsableCommand, RankedCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train the MLP with class-weighted focal loss (the default command).")

    @OptionGroup(title: "Data") var data: DataOptions
    @OptionGroup(title: "Training") var options: TrainOptions

    func execute(arguments: [String]) -> Int32 {
        let config: RunConfig
        do {
            config = try options.runConfig(data: data, arguments: arguments)
        } catch {
            return reportLocal(error)
        }
        return withCommunicator(simulate: config.simulateRanks) { comm in runTraining(config, comm: comm) }
    }
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

// MARK: - A training run on one rank

/// Rank-0 output, honouring --quiet and --log-level, with the progress line on a terminal.
final class Console: RunLog {
    let rank: Int
    let quiet: Bool
    let level: LogLevel
    private var progress: Progress?

    init(rank: Int, quiet: Bool, level: LogLevel) {
        self.rank = rank
        self.quiet = quiet
        self.level = level
    }

    // Flushed at once: under mpirun a rank's output is a pipe, and a log line should not wait
    // in a buffer (users watch it; a signalled job must not lose it).
    func info(_ s: String) {
        guard rank == 0 && !quiet && level >= .info else { return }
        progress?.clear()
        print(s)
        fflush(nil)
    }
    func summary(_ s: String) {
        guard rank == 0 else { return }
        progress?.clear()
        print(s)
        fflush(nil)
    }
    /// Debug lines come from every rank, prefixed by it.
    func debug(_ s: String) { if level >= .debug { print("[rank \(rank)] \(s)") } }

    func stepDone(step: Int, epoch: Int, of totalSteps: Int, rowsPerEpoch: Int, stepsPerEpoch: Int) {
        guard rank == 0 && !quiet else { return }
        if progress == nil {
            progress = Progress(enabled: outputIsTerminal(), totalSteps: totalSteps, rowsPerEpoch: rowsPerEpoch,
                                stepsPerEpoch: stepsPerEpoch)
        }
        progress?.update(step: step, epoch: epoch)
    }

    /// Erases the progress line (before the final summary or an error).
    func finish() { progress?.clear() }
}

func runTraining(_ config: RunConfig, comm: Communicator) -> Int32 {
    pinBLASToOneThread()
    let console = Console(rank: comm.rank, quiet: config.quiet, level: config.logLevel)
    defer { console.finish() }
    do {
        switch config.precision {
        case .float32: try TrainingRun<Float>(config: config, comm: comm, log: console, stopRequested: stopSignalled).run()
        case .float64: try TrainingRun<Double>(config: config, comm: comm, log: console, stopRequested: stopSignalled).run()
        }
        return 0
    } catch let CommError.timedOut(operation, seconds) {
        console.finish()
        // A stuck collective cannot be left: say where, then end the whole job. Rank 0 speaks
        // first; the others only if rank 0 is the one that hangs (it would have aborted them).
        if comm.rank != 0 { sleep(2) }
        printError("focal-ddp: error: rank \(comm.rank): \(operation) did not complete within \(formatFixed(seconds, digits: 0)) s (--stall-timeout); another rank has stopped or hangs; aborting the job")
        comm.abort(code: FailureKind.system.rawValue)
    } catch {
        console.finish()
        return reportAgreed(error, comm: comm)
    }
}
