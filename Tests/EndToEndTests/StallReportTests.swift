// StallReportTests: a collective stalled past --stall-timeout is reported with the ranks and
// hosts that never arrived (the progress board), whether the rank that hangs is rank 2 of 4 or
// rank 0 (the one that usually speaks).
import Foundation
import Collectives
import TestSupport
import XCTest

final class StallReportTests: XCTestCase {
    func testStallNamesTheRankThatHangs() throws {
        var name = [CChar](repeating: 0, count: 256)
        gethostname(&name, name.count)
        let host = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        for victim in [2, 0] {
            let t = Date()
            let r = try FocalRun.run(["--epochs", "50", "--quiet", "--debug-fault", "\(victim):5:hang", "--stall-timeout", "3"],
                                     ranks: 4, timeout: 40)
            let seconds = Date().timeIntervalSince(t)
            XCTAssertFalse(r.timedOut, "hang on rank \(victim): hung")
            XCTAssertEqual(r.status, 5, "hang on rank \(victim): \(r.stderr)")
            XCTAssertLessThan(seconds, 20, "hang on rank \(victim)")
            let lines = r.stderr.split(separator: "\n").filter { $0.contains("did not complete within 3 s") }
            XCTAssertFalse(lines.isEmpty, "hang on rank \(victim): \(r.stderr)")
            for line in lines {
                XCTAssertTrue(line.contains("; rank \(victim) on \(host) did not arrive; aborting the job"), String(line))
                XCTAssertFalse(line.hasPrefix("focal-ddp: error: rank \(victim):"), "the hung rank cannot speak: \(line)")
            }
        }
    }
}

/// The text of the report, from a list of late ranks.
final class StallReportTextTests: XCTestCase {
    func testText() {
        XCTAssertEqual(stallReportText([]), "")
        XCTAssertEqual(stallReportText([(rank: 2, host: "b")]), "; rank 2 on b did not arrive")
        XCTAssertEqual(stallReportText([(rank: 0, host: "a"), (rank: 3, host: nil)]),
                       "; ranks 0 on a, 3 on an unknown host did not arrive")
    }
}
