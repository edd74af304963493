// LauncherTests: which process manager started the process, read from a fake environment; in
// particular a Slurm step of several tasks without an MPI process manager (`srun --mpi=none`),
// which is refused, and mpirun inside an `sbatch --ntasks N` allocation, which is not.
import SwiftMPI
import XCTest

final class LauncherTests: XCTestCase {
    func detect(_ variables: [String: String]) -> Launcher {
        Launcher.detect(environment: { variables[$0] })
    }

    func testPlainProcessIsAWorldOfOne() {
        let l = detect([:])
        XCTAssertEqual(l.kind, .none)
        XCTAssertFalse(l.isMPIJob)
        XCTAssertNil(l.slurmRefusal)
    }

    func testSrunWithoutMPIIsRefusedFromProcidZeroOnly() {
        for procid in 0..<3 {
            let l = detect(["SLURM_STEP_NUM_TASKS": "3", "SLURM_NTASKS": "3", "SLURM_PROCID": "\(procid)"])
            XCTAssertEqual(l.kind, .slurmWithoutMPI)
            XCTAssertEqual(l.rank, procid)
            XCTAssertEqual(l.size, 3)
            XCTAssertFalse(l.isMPIJob)
            let line = try? XCTUnwrap(l.slurmRefusal)
            XCTAssertTrue(line?.contains("srun --mpi=pmix") == true, line ?? "")
            XCTAssertTrue(line?.contains("mpirun") == true)
            XCTAssertFalse(line?.contains("\n") == true)
        }
    }

    func testSingleTaskStepIsNotRefused() {
        let l = detect(["SLURM_STEP_NUM_TASKS": "1", "SLURM_NTASKS": "1", "SLURM_PROCID": "0"])
        XCTAssertEqual(l.kind, .none)
        XCTAssertNil(l.slurmRefusal)
    }

    func testMpirunInsideAnAllocationIsNotRefused() {
        // sbatch --ntasks 4: SLURM_NTASKS inherited (and a step count from the batch step), OMPI set.
        let l = detect(["SLURM_NTASKS": "4", "SLURM_STEP_NUM_TASKS": "4", "SLURM_PROCID": "0",
                        "OMPI_COMM_WORLD_RANK": "2", "OMPI_COMM_WORLD_SIZE": "4"])
        XCTAssertEqual(l.kind, .mpirun)
        XCTAssertEqual(l.rank, 2)
        XCTAssertEqual(l.size, 4)
        XCTAssertTrue(l.isMPIJob)
        XCTAssertNil(l.slurmRefusal)
        // SLURM_NTASKS alone (no step of several tasks) is a plain process.
        XCTAssertEqual(detect(["SLURM_NTASKS": "4"]).kind, .none)
    }

    func testSrunWithPMIxIsAnMPIJob() {
        let l = detect(["SLURM_STEP_NUM_TASKS": "4", "SLURM_PROCID": "1", "PMIX_RANK": "1"])
        XCTAssertEqual(l.kind, .pmix)
        XCTAssertEqual(l.rank, 1)
        XCTAssertEqual(l.size, 4)
        XCTAssertTrue(l.isMPIJob)
        XCTAssertNil(l.slurmRefusal)
    }

    func testSrunWithPMI2IsNotRefused() {
        let l = detect(["SLURM_STEP_NUM_TASKS": "4", "SLURM_PROCID": "1", "PMI_RANK": "1", "PMI_FD": "5"])
        XCTAssertNotEqual(l.kind, .slurmWithoutMPI)
        XCTAssertNil(l.slurmRefusal)
    }
}
