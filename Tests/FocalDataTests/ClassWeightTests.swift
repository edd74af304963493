// ClassWeightTests: the tutorial's weights bitwise, the other schemes, parsing and errors.

import XCTest
@testable import FocalData

final class ClassWeightTests: XCTestCase {
    func testTutorialInverseWeightsBitwise() throws {
        let w = try classWeights(scheme: .inverse, counts: [632, 168])
        XCTAssertEqual(w.map(\.bitPattern), [1.2658227848101264, 4.761904761904762].map(\.bitPattern))
        // Not the same as n / count in floating point.
        XCTAssertNotEqual(w[0], 800.0 / 632.0)
    }

    func testBalancedEffectiveNone() throws {
        XCTAssertEqual(try classWeights(scheme: .balanced, counts: [632, 168]), [800.0 / (2 * 632.0), 800.0 / (2 * 168.0)])
        let e = try classWeights(scheme: .effective(beta: 0.999), counts: [632, 168])
        let raw = [0.001 / (1 - pow(0.999, 632.0)), 0.001 / (1 - pow(0.999, 168.0))]
        let want = raw.map { $0 / (raw[0] + raw[1]) * 2 }
        let maxDiff = zip(e, want).map { abs($0 - $1) }.max()!
        print("effective weights \(e), max |diff| = \(maxDiff)")
        XCTAssertLessThanOrEqual(maxDiff, 1e-15)
        XCTAssertEqual(e.reduce(0, +), 2, accuracy: 1e-15)
        XCTAssertGreaterThan(e[1], e[0])
        XCTAssertEqual(try classWeights(scheme: .none, counts: [1, 2, 3]), [1, 1, 1])
        XCTAssertEqual(try classWeights(scheme: .explicit([1, 2.5]), counts: [5, 0]), [1, 2.5])
    }

    func testParsing() throws {
        XCTAssertEqual(try ClassWeightScheme(parsing: "inverse"), .inverse)
        XCTAssertEqual(try ClassWeightScheme(parsing: "balanced"), .balanced)
        XCTAssertEqual(try ClassWeightScheme(parsing: "effective"), .effective(beta: 0.999))
        XCTAssertEqual(try ClassWeightScheme(parsing: "effective:0.99"), .effective(beta: 0.99))
        XCTAssertEqual(try ClassWeightScheme(parsing: "none"), .none)
        XCTAssertEqual(try ClassWeightScheme(parsing: "1, 4.5"), .explicit([1, 4.5]))
        XCTAssertThrowsError(try ClassWeightScheme(parsing: "heavy"))
        XCTAssertThrowsError(try ClassWeightScheme(parsing: "1,,2"))
        XCTAssertThrowsError(try ClassWeightScheme(parsing: "effective:1.5"))
    }

    func testErrorsNameTheOption() {
        for (scheme, counts) in [(ClassWeightScheme.inverse, [Int64(5), 0]), (.balanced, [0, 3]), (.effective(beta: 0.9), [4, 0]),
                                 (.explicit([1]), [1, 1]), (.explicit([1, -1]), [1, 1]), (.explicit([1, .nan]), [1, 1])] {
            XCTAssertThrowsError(try classWeights(scheme: scheme, counts: counts)) { e in
                let text = "\(e)"
                XCTAssertTrue(text.contains("--class-weights"), text)
                XCTAssertFalse(text.contains("\n"))
            }
        }
    }
}
