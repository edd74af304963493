// RunLog: where a run's words go. The command line implements it (rank 0 prints, honouring
// --quiet and --log-level); the run itself never prints.

/// The sink of a run's messages, one per rank.
public protocol RunLog: AnyObject {
    /// A progress line the user sees unless quiet (printed by rank 0 only).
    func info(_ line: String)
    /// A result the user always sees (printed by rank 0 only).
    func summary(_ line: String)
    /// A per-rank diagnostic (every rank, with --log-level debug). Build costly text only when
    /// `RunConfig.logLevel >= .debug`.
    func debug(_ line: String)
    /// After every step: the global step reached, the epoch in progress and the run's size, for a
    /// progress display.
    func stepDone(step: Int, epoch: Int, of totalSteps: Int, rowsPerEpoch: Int, stepsPerEpoch: Int)
}
