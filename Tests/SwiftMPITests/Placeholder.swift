import XCTest
final class SwiftMPITestsPlaceholder: XCTestCase { func testNothingYet() {} }
