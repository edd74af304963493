// Signals: SIGTERM and SIGINT ask for a stop at the next step boundary instead of killing the rank,
// so every rank stops together and a checkpoint can be written.
#if canImport(Glibc)
import Glibc
#endif

/// The flag the handlers set (a `sig_atomic_t` cell allocated once; the handler may touch nothing else).
nonisolated(unsafe) let stopSignalFlag: UnsafeMutablePointer<sig_atomic_t> = {
    let p = UnsafeMutablePointer<sig_atomic_t>.allocate(capacity: 1)
    p.initialize(to: 0)
    return p
}()

/// Installs the handlers (idempotent). A second signal while stopping falls back to the default
/// action, so a stuck job can still be killed with a second Ctrl-C.
func installStopHandlers() {
    _ = stopSignalFlag
    for sig in [SIGTERM, SIGINT] {
        signal(sig) { s in
            stopSignalFlag.pointee = 1
            signal(s, SIG_DFL)
        }
    }
}

/// True once SIGTERM or SIGINT arrived.
func stopSignalled() -> Bool { stopSignalFlag.pointee != 0 }
