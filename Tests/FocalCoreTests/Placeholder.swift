import XCTest
final class FocalCoreTestsPlaceholder: XCTestCase { func testNothingYet() {} }
