// focal-ddp: the command line. Parses options on every rank before MPI starts, picks the
// communicator (MPI under mpirun, threads for --simulate-ranks, a single rank otherwise), runs the
// command, and makes every rank exit with the same status after finalising MPI.
import ArgumentParser
import Collectives
import FocalCore
import FocalRun
import FocalReport
import SwiftMPI
#if canImport(Glibc)
import Glibc
#endif

/// The process manager that started this process (mpirun, a PMIx server, or none), read before
/// MPI starts: it says who prints and whether MPI is used at all.
let launcher = Launcher.detect()

/// Writes one line to standard error (by descriptor: Swift 6 treats C's `stderr` as shared state).
func printError(_ line: String) {
    let bytes = Array((line + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}

#if FOCAL_CORE_HASWELL
// Before any FocalCore code runs: compiled for AVX2 (Package.swift), it would stop with SIGILL on a
// CPU without it. Every rank checks its own CPU (hosts may differ) and ends with status 5.
if let problem = missingCPUFeaturesMessage(flags: cpuFlags()) {
    printError("focal-ddp: error: " + problem)
    leaveExitStatus(5)
    exit(5)
}
#endif

/// Ends the process on every path with MPI finalised (mpirun fails a rank that skips it). Under
/// mpirun, ranks that stop before MPI started (help, usage errors) first meet in a barrier:
/// mpirun kills the whole job when the first rank exits non-zero, which could otherwise happen
/// before rank 0's one line has reached the terminal.
func finish(_ code: Int32) -> Never {
    fflush(nil)
    leaveExitStatus(code)
    if MPIRuntime.isInitialized { MPIRuntime.exit(code: code) }
    if launcher.isMPIJob, (try? MPIRuntime.world.barrier()) != nil { MPIRuntime.exit(code: code) }
    exit(code)
}

struct FocalDDP: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "focal-ddp",
        abstract: "Data-parallel training of an MLP with class-weighted focal loss on imbalanced data, over MPI.",
        discussion: """
        With no subcommand, trains the tutorial's recipe (make_classification 1000x20, weights 0.8/0.2, \
        seed 42; 80/20 split; alpha = inverse class frequency; gamma 2; MLP 20-64-2; Adam; 100 full-batch \
        epochs). Run it under mpirun (or ./launch -n 4) to train on several ranks; each rank generates only \
        its own rows, and results are bitwise identical for any number of ranks.
        """,
        version: focalVersion,
        subcommands: [Train.self, Generate.self, Predict.self, Plot.self],
        defaultSubcommand: Train.self)
}


/// `focal-ddp --help` shows the training options (the default command) and lists the others;
/// `focal-ddp SUB --help` and `focal-ddp help SUB` show that subcommand's help.
func printHelp(for arguments: [String], fallback: String) {
    guard arguments.contains(where: { ["--help", "-h", "help"].contains($0) }) else { print(fallback); return }
    let names = arguments.filter { !$0.hasPrefix("-") && $0 != "help" }
    if let name = names.first, let sub = FocalDDP.configuration.subcommands.first(where: { $0._commandName == name }),
       sub != Train.self {
        print(FocalDDP.helpMessage(for: sub))
        return
    }
    guard names.isEmpty || names.first == "train" else { print(fallback); return }
    var text = Train.helpMessage()
    if let r = text.range(of: "USAGE: train") { text.replaceSubrange(r, with: "USAGE: focal-ddp [train]") }
    print(FocalDDP.configuration.abstract + "\n\n" + FocalDDP.configuration.discussion + "\n\n" + text)
    print("\nSUBCOMMANDS:\n  train (default), "
          + FocalDDP.configuration.subcommands.filter { $0 != Train.self }.map { $0._commandName }.joined(separator: ", ")
          + "   (focal-ddp SUBCOMMAND --help)")
}

// MARK: - main

// srun without an MPI process manager: refused before anything else, one line from SLURM_PROCID 0.
if let refusal = launcher.slurmRefusal {
    if launcher.rank == 0 { printError(refusal) }
    exit(FailureKind.usage.rawValue)
}

let arguments = Array(CommandLine.arguments.dropFirst())
let command: ParsableCommand
do {
    command = try FocalDDP.parseAsRoot(arguments)
} catch {
    let code = FocalDDP.exitCode(for: error)
    if code == .success {
        if launcher.rank == 0 { printHelp(for: arguments, fallback: FocalDDP.fullMessage(for: error)) }
        finish(0)
    }
    if launcher.rank == 0 {
        let message = FocalDDP.message(for: error).split(separator: "\n").first.map(String.init) ?? "invalid arguments"
        printError("focal-ddp: error: \(message) (see focal-ddp --help)")
    }
    finish(FailureKind.usage.rawValue)
}

guard let runnable = command as? RankedCommand else {
    // A help request parsed as a command (`--help`, `help`, `help generate`).
    if launcher.rank == 0 { printHelp(for: arguments, fallback: FocalDDP.helpMessage()) }
    finish(0)
}
// Training turns SIGTERM/SIGINT into a stop at the next step boundary (with a checkpoint), from
// before MPI starts, so a signal during start-up stops the run at its first step. The other
// commands keep the default action: Ctrl-C ends them at once. Installed here, once.
if runnable is Train { installStopHandlers() }
let status = runnable.execute(arguments: arguments)
finish(status)
