// Launcher: which process manager started this process, and this process's rank in it, read from
// the environment before MPI is initialised (so a command can decide who prints, and whether to
// start MPI at all, without initialising it).

#if canImport(Glibc)
import Glibc
#endif

/// The process manager of this process, from the variables it sets.
public struct Launcher: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable {
        /// No launcher: a plain process (a world of one, or threads with --simulate-ranks).
        case none
        /// Open MPI's `mpirun`/`mpiexec` (`OMPI_COMM_WORLD_*`).
        case mpirun
        /// A PMIx server other than mpirun's, e.g. `srun --mpi=pmix` (`PMIX_RANK`).
        case pmix
        /// Slurm's `srun` started several tasks but no MPI process manager (e.g. `srun --mpi=none`,
        /// or a cluster whose default MPI plugin is none): every copy would be a world of one.
        /// Refused before any output (`slurmRefusal`).
        case slurmWithoutMPI
    }

    public var kind: Kind
    /// This process's rank in the job (0 without a launcher).
    public var rank: Int
    /// The number of processes the launcher started, when it says (nil: unknown).
    public var size: Int?

    /// True when a launcher started this process: MPI must be initialised and finalised.
    public var isMPIJob: Bool { kind == .mpirun || kind == .pmix }

    /// The one line a Slurm step without an MPI process manager is refused with (nil otherwise);
    /// only the copy with `rank` 0 (`SLURM_PROCID`) prints it.
    public var slurmRefusal: String? {
        guard kind == .slurmWithoutMPI else { return nil }
        return "focal-ddp: error: srun started \(size ?? 0) separate copies with no MPI process manager, "
            + "each a world of one; run it with `srun --mpi=pmix`, or with `mpirun` inside the allocation"
    }

    /// Reads the launcher from an environment (the process's own by default).
    public static func detect(environment: (String) -> String? = Launcher.processEnvironment) -> Launcher {
        if let r = environment("OMPI_COMM_WORLD_RANK").flatMap({ Int($0) }) {
            return Launcher(kind: .mpirun, rank: r, size: environment("OMPI_COMM_WORLD_SIZE").flatMap { Int($0) })
        }
        if let r = environment("PMIX_RANK").flatMap({ Int($0) }) {
            return Launcher(kind: .pmix, rank: r, size: environment("SLURM_STEP_NUM_TASKS").flatMap { Int($0) })
        }
        if environment("OMPI_COMM_WORLD_SIZE") != nil {
            return Launcher(kind: .mpirun, rank: 0, size: environment("OMPI_COMM_WORLD_SIZE").flatMap { Int($0) })
        }
        // A Slurm job step of several tasks with none of the variables above (nor PMI-1/2's, which
        // `srun --mpi=pmi2` sets): srun started independent copies. `SLURM_NTASKS` alone (inherited
        // by mpirun inside an `sbatch --ntasks N` allocation) is not a step of several tasks.
        if let tasks = environment("SLURM_STEP_NUM_TASKS").flatMap({ Int($0) }), tasks > 1,
           environment("PMI_RANK") == nil, environment("PMI_FD") == nil {
            return Launcher(kind: .slurmWithoutMPI, rank: environment("SLURM_PROCID").flatMap { Int($0) } ?? 0, size: tasks)
        }
        return Launcher(kind: .none, rank: 0, size: nil)
    }

    /// `getenv`, as a String.
    public static func processEnvironment(_ key: String) -> String? {
        getenv(key).map { String(cString: $0) }
    }
}
