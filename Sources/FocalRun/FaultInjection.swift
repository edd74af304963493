// FaultInjection: `--debug-fault RANK:STEP:KIND`, a deliberate failure on one rank at one global
// step, installed as the trainer's step hooks (tests of the no-hang guarantees). The trainer
// itself has no fault branches.
import FocalCore
#if canImport(Glibc)
import Glibc
#endif

/// A deliberate failure on one rank at one global step.
public struct InjectedFault: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        /// The rank's gradient becomes NaN.
        case nan
        /// The rank reports a local error through the step's collective.
        case error
        /// The rank stops calling collectives (sleeps), as a deadlocked rank would.
        case hang
        /// The rank's process exits at once, as a crashed one would.
        case exit
    }
    public var rank: Int
    public var step: Int
    public var kind: Kind
    public init(rank: Int, step: Int, kind: Kind) { self.rank = rank; self.step = step; self.kind = kind }

    /// The error code a rank reports for `.error` (any non-zero value; checked by the tests).
    public static let errorCode: Int32 = 99

    /// The hooks that make rank `rank` of the trainer fail as described (none on other ranks).
    public func hooks<T: TrainScalar>(onRank rank: Int, as: T.Type = T.self) -> StepHooks<T> {
        guard rank == self.rank else { return StepHooks<T>() }
        let at = step, kind = self.kind
        switch kind {
        case .nan:
            return StepHooks<T>(afterBackward: { s, g in if s == at, g.count > 0 { g[0] = .nan } })
        case .error:
            return StepHooks<T>(stepStart: { s in s == at ? InjectedFault.errorCode : 0 })
        case .hang:
            return StepHooks<T>(stepStart: { s in
                if s == at { while true { sleep(3600) } }
                return 0
            })
        case .exit:
            // A crash, on purpose: the one exit() outside main, for the fault tests.
            return StepHooks<T>(stepStart: { s in
                if s == at { Glibc.exit(9) }
                return 0
            })
        }
    }
}
