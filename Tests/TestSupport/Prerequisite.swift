// Prerequisite: a test that cannot run on this machine skips, except under CI=true, where it fails naming what is missing.
//
// A skipped test is green: in CI that would hide a suite that never ran (the multi-host, fuzz and
// special-file tests need root, network namespaces, libFuzzer, CAP_MKNOD). `./launch test`
// installs what it can when CI=true; what remains missing fails the test with its name.

import Foundation
import XCTest

/// What a test needed and did not find (thrown under CI=true, so the test fails with this text).
public struct MissingPrerequisite: Error, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
}

public enum Prerequisite {
    /// True when the environment says this is a CI run (`CI=true`, as CI services set it; also `1`, `yes`).
    public static var isCI: Bool {
        ["true", "1", "yes"].contains((ProcessInfo.processInfo.environment["CI"] ?? "").lowercased())
    }

    /// Ends the test because `what` is missing: skips it (with the reason printed), or under
    /// CI=true throws `MissingPrerequisite`, which XCTest records as a failure naming `what`.
    public static func missing(_ what: String, test: String = #function,
                               file: StaticString = #filePath, line: UInt = #line) throws -> Never {
        if isCI {
            throw MissingPrerequisite(description: "CI=true, so this test must run, but it cannot: \(what)")
        }
        print("\(test) skipped: \(what)")
        throw XCTSkip(what, file: file, line: line)
    }

    /// Calls `missing(reason)` when `reason` is non-nil.
    public static func require(_ reason: String?, test: String = #function,
                               file: StaticString = #filePath, line: UInt = #line) throws {
        if let reason { try missing(reason, test: test, file: file, line: line) }
    }
}
