// NpyTests: .npy round trips, row-range reads, header layout and malformed-file errors.

import Foundation
import XCTest
@testable import FocalData
@testable import FocalFormats

final class NpyTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "/npytests-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: dir)
    }

    func testRoundTripAllDTypes() throws {
        let cases: [(NpyArray, [Int])] = [
            (.float64((0..<12).map { Double($0) * 0.1 - 0.55 }), [3, 4]),
            (.float32((0..<10).map { Float($0) / 3 }), [10]),
            (.int32([1, -2, 3, Int32.min, Int32.max, 0]), [2, 3]),
            (.int64([Int64.min, -1, 0, 1, Int64.max]), [5]),
            (.float64([]), [0, 7]),
        ]
        for (i, (values, shape)) in cases.enumerated() {
            let path = dir + "/a\(i).npy"
            try Npy.write(path: path, shape: shape, values: values)
            let back = try Npy.read(path: path)
            XCTAssertEqual(back.values, values)
            XCTAssertEqual(back.header.shape, shape)
            XCTAssertEqual(back.header.dataOffset % 64, 0)
            XCTAssertEqual(back.header.dtype, values.dtype)
        }
    }

    func testRowRangeAndOffsets() throws {
        let path = dir + "/m.npy"
        let values = (0..<(7 * 3)).map(Double.init)
        try Npy.write(path: path, shape: [7, 3], values: .float64(values))
        XCTAssertEqual(try Npy.readRows(path: path, rows: 2..<5), .float64(Array(values[6..<15])))
        XCTAssertEqual(try Npy.readRows(path: path, rows: 7..<7), .float64([]))
        XCTAssertThrowsError(try Npy.readRows(path: path, rows: 5..<8))
        let h = try Npy.readHeader(path: path)
        XCTAssertEqual(h.offset(ofRow: 2), h.dataOffset + 2 * 3 * 8)
        XCTAssertEqual(h, NpyHeader(dtype: .float64, shape: [7, 3]))
    }

    /// A file written by NumPy (the tutorial fixture) parses, and a version 2.0 header parses.
    func testReadsNumPyFilesAndVersion2() throws {
        let root = try SklearnFixtureTests.fixtureRoot()
        let h = try Npy.readHeader(path: root + "/tutorial/X_train.npy")
        XCTAssertEqual(h.shape, [800, 20])
        XCTAssertEqual(h.dtype, .float64)
        let dict = "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }"
        var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [2, 0]
        let len = 128 - 12
        bytes += [UInt8(len), 0, 0, 0] + Array(dict.utf8) + [UInt8](repeating: 0x20, count: len - dict.utf8.count - 1) + [0x0A]
        bytes += [5, 0, 0, 0, 6, 0, 0, 0]
        let path = dir + "/v2.npy"
        try FileIO.replace(path, with: bytes)
        XCTAssertEqual(try Npy.read(path: path).values, .int32([5, 6]))
        XCTAssertEqual(try Npy.readHeader(path: path).version, 2)
    }

    func testMalformedFilesThrowOneLineNamingTheFile() throws {
        let good = NpyHeader(dtype: .float64, shape: [2, 2]).encoded() + [UInt8](repeating: 0, count: 32)
        func header(_ dict: String) -> [UInt8] {
            var b: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0]
            let len = 118
            b += [UInt8(len), 0] + Array(dict.utf8) + [UInt8](repeating: 0x20, count: len - dict.utf8.count - 1) + [0x0A]
            return b + [UInt8](repeating: 0, count: 64)
        }
        let bad: [(String, [UInt8])] = [
            ("empty", []),
            ("truncated-data", Array(good.dropLast(1))),
            ("truncated-header", Array(good.prefix(40))),
            ("magic", [0x92] + Array(good.dropFirst())),
            ("version", Array(good.prefix(6)) + [3, 0] + Array(good.dropFirst(8))),
            ("dtype", header("{'descr': '>f8', 'fortran_order': False, 'shape': (2,), }")),
            ("dtype-bool", header("{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }")),
            ("fortran", header("{'descr': '<f8', 'fortran_order': True, 'shape': (2, 2), }")),
            ("3d", header("{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1, 1), }")),
            ("garbled", header("{'descr': '<f8', 'fortran_order': False, 'shape': (2,, }")),
            ("missing-key", header("{'descr': '<f8', 'shape': (2,), }")),
            ("extra-key", header("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), 'x': 1}")),
        ]
        for (name, bytes) in bad {
            let path = dir + "/\(name).npy"
            try FileIO.replace(path, with: bytes)
            XCTAssertThrowsError(try Npy.read(path: path), name) { e in
                let text = "\(e)"
                XCTAssertTrue(e is DataError, name)
                XCTAssertTrue(text.contains(path), "\(name): \(text)")
                XCTAssertFalse(text.contains("\n"), name)
            }
        }
        XCTAssertThrowsError(try Npy.read(path: dir + "/missing.npy"))
        XCTAssertThrowsError(try Npy.write(path: dir + "/w.npy", shape: [3, 3], values: .float64([1])))
    }

    func testAtomicWriteLeavesNoTemporaryFiles() throws {
        try Npy.write(path: dir + "/x.npy", shape: [2], values: .int64([1, 2]))
        try Npy.write(path: dir + "/x.npy", shape: [3], values: .int64([1, 2, 3]))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["x.npy"])
        XCTAssertEqual(try Npy.read(path: dir + "/x.npy").values, .int64([1, 2, 3]))
    }
}
