// ProgressBoard: a side channel on which every rank announces each collective it enters, so that
// a collective stalled past `--stall-timeout` can name the ranks (and hosts) that never reached
// it. The ranks that did arrive are inside the collective, so the collective itself cannot tell;
// the announcements travel outside it, and reading them needs nothing from the missing ranks
// (which may hang, rank 0 included). Idea from Horovod's stall inspector, which names the ranks
// that have not submitted a tensor (horovod/common/stall_inspector.cc).

/// Announcements of collective entries between ranks.
public protocol ProgressBoard: AnyObject {
    /// This rank enters its next collective (the first is number 1): tells every other rank.
    func post()
    /// The ranks that have not yet entered the collective this rank last entered, in rank order,
    /// each with its host (nil when it never announced one); empty when all have.
    func laggards() -> [(rank: Int, host: String?)]
}

/// A communicator that has a progress board (the MPI one; threads under --simulate-ranks do not
/// need one: no rank can hang alone there).
public protocol ProgressBoardProviding: AnyObject {
    var progressBoard: ProgressBoard { get }
}

extension Communicator {
    /// The ranks that never entered the collective this rank is stalled in, with their hosts:
    /// empty without a progress board (or when none is behind).
    public func stallLaggards() -> [(rank: Int, host: String?)] {
        (self as? ProgressBoardProviding)?.progressBoard.laggards() ?? []
    }
}

/// "; ranks 2 on host-b, 3 on host-c did not arrive" for `late`; "" when it is empty.
public func stallReportText(_ late: [(rank: Int, host: String?)]) -> String {
    guard !late.isEmpty else { return "" }
    let names = late.map { "\($0.rank) on \($0.host ?? "an unknown host")" }.joined(separator: ", ")
    return "; rank\(late.count == 1 ? "" : "s") \(names) did not arrive"
}
