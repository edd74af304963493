import XCTest
final class FocalDataTestsPlaceholder: XCTestCase { func testNothingYet() {} }
