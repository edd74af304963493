// Signals: SIGTERM, SIGINT and SIGUSR1 ask for a stop at the next step boundary instead of killing
// the rank, so every rank stops together and a checkpoint can be written. SIGUSR1 is what Slurm
// sends ahead of a time limit with `--signal=USR1@SECONDS` (or `B:USR1` to a batch script, which
// forwards it).
#if canImport(Glibc)
import Glibc
#endif

/// The flag the handlers set (a `sig_atomic_t` cell allocated once; the handler may touch nothing else).
nonisolated(unsafe) let stopSignalFlag: UnsafeMutablePointer<sig_atomic_t> = {
    let p = UnsafeMutablePointer<sig_atomic_t>.allocate(capacity: 1)
    p.initialize(to: 0)
    return p
}()

/// Installs the handlers (idempotent). Every further SIGTERM or SIGINT while the run stops is
/// absorbed (the handler stays installed): `timeout` signals both the process and its group, and
/// two quick Ctrl-C must not lose the checkpoint. They stay absorbed until the process exits: a
/// job that cannot reach its stop is ended by the `--stall-timeout` watchdog (600 s by default)
/// or by SIGKILL.
func installStopHandlers() {
    _ = stopSignalFlag
    for sig in [SIGTERM, SIGINT, SIGUSR1] {
        signal(sig) { _ in stopSignalFlag.pointee = 1 }
    }
}

/// True once SIGTERM, SIGINT or SIGUSR1 arrived.
func stopSignalled() -> Bool { stopSignalFlag.pointee != 0 }
