// Progress: one updating status line on rank 0 when the user's output is a terminal.
#if canImport(Glibc)
import Glibc
#endif
import Collectives
import FocalCore
import FocalReport
import FocalRun

/// True when the user's standard output is a terminal. Under mpirun a rank's output is a pipe to
/// mpirun even when the user sits at a terminal, so `launch` passes the truth in FOCAL_TTY.
func outputIsTerminal() -> Bool {
    if let v = getenv("FOCAL_TTY") { return String(cString: v) == "1" }
    // mpirun hands ranks a pseudo-terminal even when its own output goes to a file.
    return !launcher.isMPIJob && isatty(1) != 0
}

final class Progress {
    let enabled: Bool
    let totalSteps: Int
    let rowsPerEpoch: Int
    let stepsPerEpoch: Int
    private let start = monotonicSeconds()
    private var lastDraw = 0.0
    private var shown = false
    private var firstStep: Int?

    init(enabled: Bool, totalSteps: Int, rowsPerEpoch: Int, stepsPerEpoch: Int) {
        self.enabled = enabled
        self.totalSteps = totalSteps
        self.rowsPerEpoch = rowsPerEpoch
        self.stepsPerEpoch = max(1, stepsPerEpoch)
    }

    /// Redraws at most 5 times a second, and only once the run has lasted 2 seconds.
    func update(step: Int, epoch: Int) {
        guard enabled else { return }
        if firstStep == nil { firstStep = step - 1 }
        let now = monotonicSeconds()
        guard now - start > 2, now - lastDraw > 0.2 else { return }
        lastDraw = now
        let done = Double(step - (firstStep ?? 0))
        let rate = done / max(now - start, 1e-9)
        let left = rate > 0 ? Double(totalSteps - step) / rate : 0
        let samples = rate * Double(rowsPerEpoch) / Double(stepsPerEpoch)
        let line = "epoch \(epoch) step \(step)/\(totalSteps)  \(formatFixed(samples, digits: 0)) samples/s  \(formatFixed(left, digits: 0)) s left"
        print("\r\u{1B}[K" + line, terminator: "")
        fflush(nil)
        shown = true
    }

    /// Erases the line before ordinary output.
    func clear() {
        guard shown else { return }
        print("\r\u{1B}[K", terminator: "")
        shown = false
    }
}
