// MPIRuntime: initialising and finalising the MPI library, and the world communicator.
//
// MPI can be initialised once per process and never again after `MPI_Finalize`, so the state is
// MPI's own (`MPI_Initialized`, `MPI_Finalized`); nothing is stored in Swift globals.

import CMPI
import Collectives
#if canImport(Glibc)
import Glibc
#endif

/// The process-wide MPI library. Call `initialize()` from a synchronous `main` (the calling thread
/// becomes MPI's main thread, `MPI_THREAD_FUNNELED`), and make every exit path of the command go
/// through `finalize()` (or `MPIRuntime.exit(code:)`): under `mpirun` a rank that exits without
/// `MPI_Finalize` makes the whole job fail, whatever its exit status.
public enum MPIRuntime {
    // MARK: - Life cycle

    /// `MPI_Initialized`: true once `initialize()` has run (also after `finalize()`).
    public static var isInitialized: Bool {
        var flag: Int32 = 0
        MPI_Initialized(&flag)
        return flag != 0
    }

    /// `MPI_Finalized`: true once `finalize()` has run.
    public static var isFinalized: Bool {
        var flag: Int32 = 0
        MPI_Finalized(&flag)
        return flag != 0
    }

    /// `MPI_Init_thread(FUNNELED)` then `MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN)`,
    /// so failures come back as `CommError.mpi` instead of aborting. Idempotent; throws
    /// `CommError.mpi` after `finalize()` (MPI cannot be initialised twice).
    public static func initialize() throws {
        if isFinalized {
            throw CommError.mpi(call: "MPI_Init_thread", code: -1,
                                message: "MPI was already finalised in this process and cannot be re-initialised")
        }
        if isInitialized { return }
        // Open MPI's runtime (PMIx) runs its own libevent loop, on epoll by default. When a job
        // ends, its epoll backend can report a change on a socket that was just closed as a stray
        // "[warn] Epoll MOD(1) on fd N failed ... Bad file descriptor" line on standard error
        // (once in the 60 four-rank runs ending in an error of one test-suite run, in none of 300
        // by hand; open-mpi/ompi#2004, #5520). libevent's poll backend makes no system call per
        // change, so it cannot print that line. PMIx only starts, fences and ends the job; MPI's
        // messages do not go through it. A value the user set is kept; libevent reads the variable
        // when the loop is created, inside MPI_Init. (`launch` sets it for mpirun's own loop.)
        setenv("EVENT_NOEPOLL", "1", 0)
        var provided: Int32 = 0
        try check(MPI_Init_thread(nil, nil, Int32(MPI_THREAD_FUNNELED), &provided), "MPI_Init_thread")
        try check(MPI_Comm_set_errhandler(cmpi_comm_world(), cmpi_errors_return()), "MPI_Comm_set_errhandler")
    }

    /// `MPI_Finalize`, collective over the world. Idempotent; does nothing if MPI was never
    /// initialised. Call it before the process exits, on every path.
    public static func finalize() throws {
        guard isInitialized, !isFinalized else { return }
        try check(MPI_Finalize(), "MPI_Finalize")
    }

    /// Finalises MPI (errors are printed to stderr, not thrown), flushes stdio and exits with
    /// `code`. For a command's `main` only. Every rank should exit this way with the same code.
    public static func exit(code: Int32) -> Never {
        do {
            try finalize()
        } catch {
            // Standard error by descriptor: the C `stderr` global is shared mutable state to Swift 6.
            let line = Array("MPI_Finalize failed: \(error)\n".utf8)
            _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        }
        fflush(nil)
        Glibc.exit(code)
    }

    /// The communicator of all ranks of the job (`MPI_COMM_WORLD`); initialises MPI if needed.
    public static var world: MPICommunicator {
        get throws {
            try initialize()
            return try MPICommunicator(handle: MPIComm(cmpi_comm_world()))
        }
    }

    /// `MPI_Get_library_version`: the MPI implementation's version line (first line only).
    public static var libraryVersion: String {
        var buffer = [CChar](repeating: 0, count: Int(MPI_MAX_LIBRARY_VERSION_STRING) + 1)
        var length: Int32 = 0
        MPI_Get_library_version(&buffer, &length)
        let text = String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return text.split(separator: "\n").first.map(String.init) ?? text
    }

    // MARK: - Errors

    /// Throws `CommError.mpi` with `MPI_Error_string`'s text unless `code` is `MPI_SUCCESS`.
    @inline(__always)
    static func check(_ code: Int32, _ call: StaticString) throws {
        if code != MPI_SUCCESS { throw error(code, call) }
    }

    static func error(_ code: Int32, _ call: StaticString) -> CommError {
        var buffer = [CChar](repeating: 0, count: Int(cmpi_max_error_string()) + 1)
        var length: Int32 = 0
        let message: String
        if MPI_Error_string(code, &buffer, &length) == MPI_SUCCESS {
            message = String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        } else {
            message = "unknown MPI error"
        }
        return CommError.mpi(call: "\(call)", code: code, message: message)
    }
}
