// Support: fixture paths, JSON loading and tolerance helpers shared by the FocalCore tests.
import Foundation
import XCTest
import Collectives
import FocalCore
import FocalReport
import FocalRun
import FocalData

enum Fixtures {
    /// The copied `Fixtures` folder of this test target.
    static var root: URL {
        Bundle.module.resourceURL!.appendingPathComponent("Fixtures")
    }
    static func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }
    static func json(_ relative: String) throws -> [String: Any] {
        let data = try Data(contentsOf: root.appendingPathComponent(relative))
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }
}

/// Largest relative difference `|a - b| / max(|b|, floor)`; asserts it is within `tolerance`
/// and prints it (the llm.c habit: always show the max difference).
@discardableResult
func assertClose(_ a: [Double], _ b: [Double], relative tolerance: Double, floor: Double = 1e-30,
                 _ what: String, file: StaticString = #filePath, line: UInt = #line) -> Double {
    XCTAssertEqual(a.count, b.count, "\(what): lengths differ", file: file, line: line)
    var worst = 0.0
    for (x, y) in zip(a, b) {
        let d = abs(x - y) / max(abs(y), floor)
        if !(d <= worst) { worst = d.isNaN ? .infinity : d }
    }
    print("\(what): max relative difference \(worst) (tolerance \(tolerance))")
    XCTAssertLessThanOrEqual(worst, tolerance, "\(what): max relative difference \(worst) > \(tolerance)", file: file, line: line)
    return worst
}

/// Runs `body` on `ranks` in-process ranks and returns every rank's result.
func inProcess<R>(_ ranks: Int, _ body: @escaping @Sendable (Communicator) throws -> R) throws -> [R] {
    try InProcessCommunicator.run(ranks: ranks) { comm in try body(comm) }
}
