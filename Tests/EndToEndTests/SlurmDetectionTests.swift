// SlurmDetectionTests: copies of focal-ddp started by a Slurm step of several tasks with no MPI
// process manager (what `srun --mpi=none -n 2` gives) are refused before any output: exit 2, one
// line from SLURM_PROCID 0 only, no output file. mpirun inside an allocation (SLURM_NTASKS and
// SLURM_STEP_NUM_TASKS inherited, Open MPI's variables set) still trains.
import Foundation
import TestSupport
import XCTest

final class SlurmDetectionTests: XCTestCase {
    func testSrunWithoutMPIIsRefusedByProcidZeroOnly() throws {
        let dir = try FocalRun.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = dir.appendingPathComponent("m.safetensors")
        let metrics = dir.appendingPathComponent("m.jsonl")
        let args = ["--epochs", "2", "--save-model", model.path, "--metrics-out", metrics.path,
                    "--checkpoint-dir", dir.appendingPathComponent("ck").path]
        // The two copies srun would start, at the same time, each told its own SLURM_PROCID.
        let jobs = try (0..<2).map { procid in
            try MPIRun.start(FocalRun.binary, ranks: nil, arguments: args, extraEnvironment: [
                "SLURM_STEP_NUM_TASKS": "2", "SLURM_NTASKS": "2", "SLURM_PROCID": "\(procid)",
                "SLURM_JOB_ID": "42", "SLURM_STEP_ID": "0"])
        }
        let results = try jobs.map { try $0.wait(timeout: 20) }
        for (procid, r) in results.enumerated() {
            XCTAssertFalse(r.timedOut, "procid \(procid)")
            XCTAssertEqual(r.status, 2, "procid \(procid): \(r.stderr)")
            XCTAssertEqual(r.stdout, "", "procid \(procid)")
        }
        let lines = results[0].stderr.split(separator: "\n", omittingEmptySubsequences: true)
        XCTAssertEqual(lines.count, 1, results[0].stderr)
        XCTAssertTrue(lines.first?.contains("srun --mpi=pmix") == true, results[0].stderr)
        XCTAssertTrue(lines.first?.contains("mpirun") == true, results[0].stderr)
        XCTAssertEqual(results[1].stderr, "", "only SLURM_PROCID 0 prints")
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        XCTAssertEqual(left, [], "no output file")
        // Even --help is refused: nothing runs as a world of one.
        let help = try MPIRun.run(FocalRun.binary, ranks: nil, arguments: ["--help"], timeout: 20,
                                  extraEnvironment: ["SLURM_STEP_NUM_TASKS": "4", "SLURM_PROCID": "0"])
        XCTAssertEqual(help.status, 2)
        XCTAssertEqual(help.stdout, "")
    }

    func testMpirunInsideAnAllocationStillTrains() throws {
        let dir = try FocalRun.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = dir.appendingPathComponent("m.safetensors")
        let slurm = ["SLURM_NTASKS": "4", "SLURM_STEP_NUM_TASKS": "4", "SLURM_PROCID": "0", "SLURM_JOB_ID": "42"]
        let r = try MPIRun.run(FocalRun.binary, ranks: 2, arguments: ["--epochs", "2", "--save-model", model.path],
                               timeout: 60, extraEnvironment: slurm)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: model.path))
        // A single process with only SLURM_NTASKS (a plain command in a batch script) also trains.
        let single = try MPIRun.run(FocalRun.binary, ranks: nil, arguments: ["--epochs", "1"], timeout: 60,
                                    extraEnvironment: ["SLURM_NTASKS": "4", "SLURM_PROCID": "0"])
        XCTAssertEqual(single.status, 0, single.stderr)
    }
}
