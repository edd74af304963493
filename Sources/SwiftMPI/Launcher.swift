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
    }

    public var kind: Kind
    /// This process's rank in the job (0 without a launcher).
    public var rank: Int
    /// The number of processes the launcher started, when it says (nil: unknown).
    public var size: Int?

    /// True when a launcher started this process: MPI must be initialised and finalised.
    public var isMPIJob: Bool { kind != .none }

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
        return Launcher(kind: .none, rank: 0, size: nil)
    }

    /// `getenv`, as a String.
    public static func processEnvironment(_ key: String) -> String? {
        getenv(key).map { String(cString: $0) }
    }
}
