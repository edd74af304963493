// InstallTests: `./launch install --prefix DIR` puts a focal-ddp into DIR/bin that runs as
// `mpirun -n 2 focal-ddp` from PATH with the Swift toolchain's libraries out of reach (an
// environment reduced to PATH=DIR/bin:/usr/bin:/bin and an empty LD_LIBRARY_PATH), because the
// Swift runtime is linked into it statically; a binary that needs the runtime is refused.
//
// The release binary is built by `./launch test` (or `./launch build`) before the tests run: a
// release build inside the test would wait on the build directory's lock that `swift test` holds.
// The test installs that binary with `--binary`, the same path `./launch install` takes after
// its own build.
import Foundation
import TestSupport
import XCTest

final class InstallTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func testInstalledBinaryRunsWithoutTheToolchain() throws {
        let release = MPIRun.productsDirectory.deletingLastPathComponent().appendingPathComponent("release/focal-ddp")
        guard FileManager.default.isExecutableFile(atPath: release.path) else {
            try Prerequisite.missing("no release binary at \(release.path) (./launch test or ./launch build builds it)")
        }
        let dir = try FocalRun.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let prefix = dir.appendingPathComponent("prefix")
        let launch = Self.root.appendingPathComponent("launch")
        let r = try MPIRun.run(launch, ranks: nil, arguments: ["install", "--prefix", prefix.path, "--binary", release.path],
                               timeout: 60, extraEnvironment: ["FOCAL_NO_INSTALL": "1"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let installed = prefix.appendingPathComponent("bin/focal-ddp")
        XCTAssertTrue(r.stdout.contains("installed \(installed.path)"), r.stdout)
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: installed.path))

        // No Swift runtime library among its dependencies, whatever the loader path.
        let ldd = try MPIRun.run(URL(fileURLWithPath: "/usr/bin/env"), ranks: nil,
                                 arguments: ["-i", "PATH=/usr/bin:/bin", "LD_LIBRARY_PATH=", "ldd", installed.path])
        XCTAssertEqual(ldd.status, 0, ldd.stderr)
        XCTAssertTrue(ldd.stdout.contains("libmpi"), ldd.stdout)
        XCTAssertFalse(ldd.stdout.contains("swift"), ldd.stdout)
        XCTAssertFalse(ldd.stdout.contains("not found"), ldd.stdout)
        XCTAssertFalse(ldd.stdout.contains("libFoundation"), ldd.stdout)

        // `mpirun -n 2 focal-ddp` from PATH, in an environment without the toolchain.
        let model = dir.appendingPathComponent("m.safetensors")
        var mpirun = ["mpirun", "-q", "-n", "2", "--oversubscribe", "--mca", "pml", "ob1"]
        if getuid() == 0 { mpirun.insert("--allow-run-as-root", at: 1) }
        let run = try MPIRun.run(URL(fileURLWithPath: "/usr/bin/env"), ranks: nil,
                                 arguments: ["-i", "PATH=\(prefix.path)/bin:/usr/bin:/bin", "LD_LIBRARY_PATH=",
                                             "HOME=\(dir.path)", "OPENBLAS_NUM_THREADS=1"]
                                     + mpirun + ["focal-ddp", "--epochs", "3", "--save-model", model.path],
                                 timeout: 60)
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stdout.contains("over 2 ranks"), run.stdout)
        XCTAssertTrue(FileManager.default.fileExists(atPath: model.path))
    }

    func testABinaryThatNeedsTheSwiftRuntimeIsRefused() throws {
        // The debug build links the Swift runtime dynamically.
        let dir = try FocalRun.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let prefix = dir.appendingPathComponent("prefix")
        let r = try MPIRun.run(Self.root.appendingPathComponent("launch"), ranks: nil,
                               arguments: ["install", "--prefix", prefix.path, "--binary", try FocalRun.binary.path],
                               timeout: 60, extraEnvironment: ["FOCAL_NO_INSTALL": "1"])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("--static-swift-stdlib"), r.stderr)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: prefix.appendingPathComponent("bin/focal-ddp").path))
        // A bad option is a usage error.
        let bad = try MPIRun.run(Self.root.appendingPathComponent("launch"), ranks: nil,
                                 arguments: ["install", "--prefx", prefix.path], timeout: 20,
                                 extraEnvironment: ["FOCAL_NO_INSTALL": "1"])
        XCTAssertEqual(bad.status, 2, bad.stderr)
    }
}
