// CPUFeaturesTests: the start-up check of a focal-ddp whose FocalCore was compiled for AVX2.
import Foundation
import XCTest
import Collectives

final class CPUFeaturesTests: XCTestCase {
    /// A CPU with every flag passes; one without AVX2 and FMA gets one line naming both and the
    /// rebuild; unknown flags (no /proc/cpuinfo) are not held against the CPU.
    func testMissingFeaturesAreNamed() {
        XCTAssertNil(missingCPUFeaturesMessage(flags: Set(haswellFlags + ["sse2", "avx512f"])))
        let old = Set(haswellFlags).subtracting(["avx2", "fma"]).union(["sse2"])
        let line = missingCPUFeaturesMessage(flags: old)
        XCTAssertNotNil(line)
        XCTAssertTrue(line?.contains("lacks avx2, fma;") == true, line ?? "nil")
        XCTAssertTrue(line?.contains("FOCAL_TARGET_CPU=generic") == true, line ?? "nil")
        XCTAssertFalse(line?.contains("\n") == true)
        XCTAssertNil(missingCPUFeaturesMessage(flags: []))
    }

    /// Package.swift decides on the build host with the same list the binary checks at start-up.
    func testPackageManifestTestsTheSameFlags() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let manifest = try String(contentsOf: root.appendingPathComponent("Package.swift"), encoding: .utf8)
        let literal = "[" + haswellFlags.map { "\"\($0)\"" }.joined(separator: ", ") + "]"
        XCTAssertTrue(manifest.contains(literal), "Package.swift does not test \(literal)")
    }

    /// This Linux machine's flags are readable (the check would otherwise never refuse anything).
    func testFlagsAreReadOnLinux() throws {
        #if os(Linux)
        XCTAssertTrue(cpuFlags().contains("sse2"))
        #else
        throw XCTSkip("no /proc/cpuinfo")
        #endif
    }
}
