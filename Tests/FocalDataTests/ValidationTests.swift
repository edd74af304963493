// ValidationTests: every rejected parameter gives a one-line DataError naming its CLI option.

import XCTest
@testable import FocalData
import FocalFormats

final class ValidationTests: XCTestCase {
    func check(_ option: String, file: StaticString = #filePath, line: UInt = #line, _ change: (inout DatasetSpec) -> Void) {
        var spec = DatasetSpec()
        change(&spec)
        XCTAssertThrowsError(try SklearnDataSource(spec), file: file, line: line) { error in
            let text = "\(error)"
            XCTAssertTrue(error is DataError, file: file, line: line)
            XCTAssertTrue(text.contains(option), "'\(text)' does not name \(option)", file: file, line: line)
            XCTAssertFalse(text.contains("\n"), file: file, line: line)
        }
    }

    func testRejections() {
        check("--samples") { $0.classification.samples = 0 }
        check("--features") { $0.classification.features = 0 }
        check("--informative") { $0.classification.informative = 0 }
        check("--redundant") { $0.classification.redundant = -1 }
        check("--repeated") { $0.classification.repeated = -2 }
        check("--classes") { $0.classification.classes = 1; $0.classification.weights = nil }
        check("--clusters-per-class") { $0.classification.clustersPerClass = 0 }
        check("--features") { $0.classification.repeated = 6 }
        check("--informative") { $0.classification.informative = 1; $0.classification.redundant = 0 }
        check("--informative") { $0.classification.informative = 3; $0.classification.classes = 5; $0.classification.weights = nil }
        check("--weights") { $0.classification.weights = [0.2, 0.3, 0.5] }
        check("--weights") { $0.classification.weights = [-0.1, 0.5] }
        check("--weights") { $0.classification.weights = [.nan] }
        check("--weights") { $0.classification.weights = [.infinity, 1] }
        check("--weights") { $0.classification.weights = [1.5] }
        check("--flip-y") { $0.classification.flipY = 1.5 }
        check("--flip-y") { $0.classification.flipY = -0.1 }
        check("--flip-y") { $0.classification.flipY = .nan }
        check("--class-sep") { $0.classification.classSep = 0 }
        check("--class-sep") { $0.classification.classSep = -1 }
        check("--shift") { $0.classification.shift = .value(.infinity) }
        check("--scale") { $0.classification.scale = .value(0) }
        check("--scale") { $0.classification.scale = .value(.nan) }
        check("--test-fraction") { $0.split.testFraction = 1 }
        check("--test-fraction") { $0.split.testFraction = -0.2 }
        check("--test-fraction") { $0.split.testFraction = 0.9999 }
        check("--test-fraction") { $0.classification.samples = 1 }
        check("--stratify") { $0.split.stratify = true; $0.split.testFraction = 0 }
        // A class with a single row cannot be stratified.
        check("--stratify") {
            $0.classification.samples = 40; $0.classification.weights = [1.0, 0.0]; $0.classification.flipY = 0
            $0.classification.clustersPerClass = 1; $0.split.stratify = true
        }
    }

    func testAcceptedEdgeCases() throws {
        var spec = DatasetSpec()
        spec.classification.informative = 15
        spec.classification.redundant = 5  // informative + redundant == features is allowed
        XCTAssertNoThrow(try SklearnDataSource(spec))
        spec = DatasetSpec()
        spec.classification.weights = [0.9, 0.9]  // sum > 1 is allowed (later clusters cut short)
        XCTAssertNoThrow(try SklearnDataSource(spec))
    }
}
