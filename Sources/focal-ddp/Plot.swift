// Plot: SVG pictures of a run from its metrics file (--metrics-out): class distribution, loss curve,
// per-class recall over epochs. A local command: it runs in one process, without MPI.
import ArgumentParser
import FocalCore
import FocalReport
import FocalRun
import FocalData
import FocalFormats
#if canImport(Glibc)
import Glibc
#endif

struct Plot: ParsableCommand, RankedCommand {
    static let configuration = CommandConfiguration(
        abstract: "Draw SVG plots (class distribution, loss, per-class recall) from a metrics JSON-lines file.")

    @Argument(help: ArgumentHelp("Metrics file written by --metrics-out (JSON lines).", valueName: "METRICS.jsonl"))
    var metrics: String
    @Option(help: ArgumentHelp("Output directory (created if missing).", valueName: "DIR"))
    var out: String

    func execute(arguments: [String]) -> Int32 {
        // Under mpirun every rank would draw the same files: rank 0 alone does the work.
        guard launcher.rank == 0 else { return 0 }
        do {
            let text = try readTextFile(metrics)
            let file = try MetricsFile(text: text, source: metrics)
            guard !file.isEmpty else { throw DataError("\(metrics): no config, epoch or eval records") }
            let paths = try writePlots(file, to: out)
            guard !paths.isEmpty else {
                throw DataError("\(metrics): no config, epoch or eval records to plot")
            }
            for p in paths { print("wrote \(p)") }
            return 0
        } catch {
            return reportLocal(error, kind: error is JSONParseError ? .data : nil)
        }
    }
}

/// The whole file (or a pipe, `/dev/stdin`) as UTF-8 text; errors name the file.
func readTextFile(_ path: String) throws -> String {
    String(decoding: try FileIO.readAll(path, streams: true), as: UTF8.self)
}
