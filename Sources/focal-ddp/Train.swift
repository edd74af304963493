// Train: the default command: options -> RunConfig -> TrainingRun, with rank 0 printing.
import ArgumentParser
import Collectives
import FocalCore
import FocalReport
import FocalRun
import FocalData
import FocalFormats
import SwiftMPI
#if canImport(Glibc)
import Glibc
#endif

struct Train: ParsableCommand, RankedCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train the MLP with class-weighted focal loss (the default command).")

    @OptionGroup(title: "Data") var data: DataOptions
    @OptionGroup(title: "Training") var options: TrainOptions
    @OptionGroup(title: "Schedule, clipping and loss") var controls: ControlOptions
    @OptionGroup(title: "Real data: standardization, validation") var realData: RealDataOptions

    func execute(arguments: [String]) -> Int32 {
        let config: RunConfig
        do {
            var c = try options.runConfig(data: data, arguments: arguments)
            try controls.apply(to: &c.train, arguments: arguments)
            c.realData = try realData.config(input: c.input, splitSeed: data.splitSeed)
            // Early stopping evaluates the validation split every epoch unless --eval-every says otherwise.
            if c.realData.earlyStopping != nil && c.train.evalEvery == 0 { c.train.evalEvery = 1 }
            // A sigmoid model's scores are per-class sigmoids, not a softmax: nothing to scale.
            if c.realData.calibrateTemperature && c.train.loss == .sigmoidFocal {
                throw ValidationError("--calibrate temperature: not for --loss sigmoid-focal (its per-class sigmoid scores are not a softmax; --tune-threshold applies to the class-1 score)")
            }
            config = c
        } catch {
            return reportLocal(error)
        }
        return withCommunicator(simulate: config.simulateRanks) { comm in runTraining(config, comm: comm) }
    }
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
        // A stuck collective cannot be left: say where and who never arrived (the progress
        // board), then end the whole job. The lowest rank that did arrive speaks first; the
        // others only if it could not (its abort would have ended them).
        let late = comm.stallLaggards()
        let speaker = (0..<comm.size).first { r in !late.contains { $0.rank == r } } ?? 0
        if comm.rank != speaker { sleep(2) }
        let who = late.isEmpty ? "; another rank has stopped or hangs" : stallReportText(late)
        printError("focal-ddp: error: rank \(comm.rank): \(operation) did not complete within \(formatFixed(seconds, digits: 0)) s (--stall-timeout)\(who); aborting the job")
        comm.abort(code: FailureKind.system.rawValue)
    } catch {
        console.finish()
        return reportAgreed(error, comm: comm)
    }
}
