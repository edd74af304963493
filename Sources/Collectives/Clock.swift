// Clock: the one monotonic clock of the project (Swift's `ContinuousClock`), as seconds.

/// The instant the process first asked for the time; every reading is relative to it, so the
/// `Double` keeps sub-microsecond resolution for the life of a job.
private let clockOrigin = ContinuousClock.now

/// Seconds on `ContinuousClock` (monotonic, never jumps with the wall clock) since the process
/// first asked. Only differences of two readings mean anything.
@inline(__always)
public func monotonicSeconds() -> Double {
    let d = ContinuousClock.now - clockOrigin
    let (s, atto) = d.components
    return Double(s) + Double(atto) * 1e-18
}
