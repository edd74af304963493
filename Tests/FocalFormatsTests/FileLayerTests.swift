// FileLayerTests: the file layer decides by the final target: files replaced atomically, devices and FIFOs written in place.
import Collectives
import FocalFormats
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class FileLayerTests: XCTestCase {
    private var dir = ""

    override func setUpWithError() throws {
        var template = Array((NSTemporaryDirectory() + "focal-files-XXXXXX").utf8CString)
        guard let p = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw FileError.system("mkdtemp", errnoText())
        }
        dir = String(cString: p)
    }

    override func tearDownWithError() throws {
        if !dir.isEmpty { try? FileManager.default.removeItem(atPath: dir) }
    }

    // MARK: - Helpers

    private func names() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: dir).sorted() }

    private func kind(_ path: String, following: Bool = false, file: StaticString = #filePath, line: UInt = #line) -> mode_t {
        var st = stat()
        let r = following ? stat(path, &st) : lstat(path, &st)
        XCTAssertEqual(r, 0, "\(path): \(errnoText())", file: file, line: line)
        return st.st_mode & S_IFMT
    }

    private func contents(_ path: String) throws -> [UInt8] { try FileIO.readAll(path) }

    /// A character device like /dev/null (major 1, minor 3) at `path`. Fails the test, naming the
    /// capability, when the process may not create device nodes.
    private func makeNullDevice(_ path: String, file: StaticString = #filePath, line: UInt = #line) -> Bool {
        let dev: dev_t = (1 << 8) | 3  // Linux encoding of makedev(1, 3)
        guard mknod(path, S_IFCHR | 0o666, dev) == 0 else {
            XCTFail("mknod \(path) failed (\(errnoText())): the test needs CAP_MKNOD (run as root with the capability)",
                    file: file, line: line)
            return false
        }
        return true
    }

    private func makeFIFO(_ path: String) throws {
        guard mkfifo(path, 0o600) == 0 else { throw FileError.system(path, "mkfifo: \(errnoText())") }
    }

    private func assertKind(_ error: Error, _ expected: FailureKind, naming path: String,
                            file: StaticString = #filePath, line: UInt = #line) {
        guard let e = error as? FileError else { return XCTFail("not a FileError: \(error)", file: file, line: line) }
        XCTAssertEqual(e.failureKind, expected, "\(e)", file: file, line: line)
        XCTAssertTrue(e.description.contains(path), "names the file: \(e)", file: file, line: line)
        XCTAssertFalse(e.description.contains("\n"), "one line: \(e)", file: file, line: line)
    }

    // MARK: - Atomic replace

    func testReplaceRegularFileAtomicallyLeavesNoTemporary() throws {
        let path = dir + "/out.bin"
        try FileIO.replace(path, with: [1, 2, 3])
        XCTAssertEqual(try contents(path), [1, 2, 3])
        XCTAssertEqual(chmod(path, 0o640), 0)
        try FileIO.replace(path, with: Array("new contents".utf8))
        XCTAssertEqual(try contents(path), Array("new contents".utf8))
        XCTAssertEqual(kind(path), S_IFREG)
        var st = stat()
        XCTAssertEqual(stat(path, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o640, "the replaced file keeps its permissions")
        XCTAssertEqual(try names(), ["out.bin"], "no temporary file left behind")
        // A relative path resolves against the working directory.
        let cwd = FileManager.default.currentDirectoryPath
        XCTAssertTrue(FileManager.default.changeCurrentDirectoryPath(dir))
        defer { _ = FileManager.default.changeCurrentDirectoryPath(cwd) }
        try FileIO.replace("relative.txt", with: [7])
        XCTAssertEqual(try contents(dir + "/relative.txt"), [7])
    }

    func testSymlinkStaysASymlinkAndItsTargetIsReplaced() throws {
        try FileManager.default.createDirectory(atPath: dir + "/real", withIntermediateDirectories: false)
        let target = dir + "/real/target.txt"
        try FileIO.replace(target, with: [1])
        XCTAssertEqual(symlink("real/target.txt", dir + "/link"), 0)
        try FileIO.replace(dir + "/link", with: [4, 5, 6])
        XCTAssertEqual(kind(dir + "/link"), S_IFLNK, "still a symlink")
        XCTAssertEqual(try contents(target), [4, 5, 6])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir + "/real"), ["target.txt"])
        // A dangling symlink: the new file appears at its end, the link stays.
        XCTAssertEqual(symlink("real/later.txt", dir + "/dangling"), 0)
        try FileIO.replace(dir + "/dangling", with: [9])
        XCTAssertEqual(kind(dir + "/dangling"), S_IFLNK)
        XCTAssertEqual(try contents(dir + "/real/later.txt"), [9])
        XCTAssertEqual(try names(), ["dangling", "link", "real"])
    }

    func testMissingDirectoryNamesThePath() throws {
        let path = dir + "/no/such/x.bin"
        XCTAssertThrowsError(try FileIO.replace(path, with: [1])) { assertKind($0, .system, naming: path) }
        XCTAssertThrowsError(try FileIO.replace(dir, with: [1])) { assertKind($0, .usage, naming: dir) }
    }

    // MARK: - Devices and FIFOs are written in place

    func testCharacterDeviceStaysADeviceAndNothingIsCreatedBesideIt() throws {
        let dev = dir + "/null"
        guard makeNullDevice(dev) else { return }
        try FileIO.checkWritable(dev, option: "--metrics-out")
        try FileIO.replace(dev, with: Array("metrics\n".utf8))
        XCTAssertEqual(kind(dev), S_IFCHR, "still a character device")
        XCTAssertEqual(try names(), ["null"], "no probe or temporary file beside the device")
        // Through a symlink to it.
        XCTAssertEqual(symlink("null", dir + "/link"), 0)
        try FileIO.checkWritable(dir + "/link")
        try FileIO.replace(dir + "/link", with: [1, 2])
        XCTAssertEqual(kind(dir + "/link"), S_IFLNK)
        XCTAssertEqual(kind(dev), S_IFCHR)
        XCTAssertEqual(try names(), ["link", "null"])
    }

    func testFIFOWithReaderReceivesTheBytesAndStaysAFIFO() throws {
        let fifo = dir + "/pipe"
        try makeFIFO(fifo)
        // The reader is attached before the write (non-blocking open needs no writer); the bytes
        // fit in the pipe buffer, so they are read after the writer closed.
        let reader = open(fifo, O_RDONLY | O_NONBLOCK)
        XCTAssertGreaterThanOrEqual(reader, 0, errnoText())
        defer { close(reader) }
        try FileIO.checkWritable(fifo)
        let message = Array("{\"type\":\"epoch\"}\n".utf8)
        try FileIO.replace(fifo, with: message)
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = read(reader, &buffer, buffer.count)
        XCTAssertEqual(n, message.count, errnoText())
        XCTAssertEqual(Array(buffer.prefix(max(0, n))), message)
        XCTAssertEqual(kind(fifo), S_IFIFO, "still a FIFO")
        XCTAssertEqual(try names(), ["pipe"])
    }

    func testFIFOWithoutReaderFailsAtOnce() throws {
        let fifo = dir + "/pipe"
        try makeFIFO(fifo)
        let start = ContinuousClock.now
        XCTAssertThrowsError(try FileIO.replace(fifo, with: [1])) { e in
            assertKind(e, .system, naming: fifo)
            XCTAssertTrue("\(e)".contains("no reader"), "\(e)")
        }
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(5), "no hang")
        XCTAssertEqual(kind(fifo), S_IFIFO)
        XCTAssertEqual(try names(), ["pipe"])
    }

    func testDiskFullIsASystemErrorNamingTheFile() throws {
        guard access("/dev/full", W_OK) == 0 else { return XCTFail("/dev/full is missing: \(errnoText())") }
        XCTAssertThrowsError(try FileIO.replace("/dev/full", with: [UInt8](repeating: 1, count: 100))) { e in
            assertKind(e, .system, naming: "/dev/full")
            XCTAssertTrue("\(e)".contains(errnoText(ENOSPC)), "\(e)")
        }
        XCTAssertEqual(kind("/dev/full"), S_IFCHR)
    }

    // MARK: - Positioned writes

    func testPositionedWriteAssemblesPiecesAndRenames() throws {
        let path = dir + "/p.bin"
        let a = PositionedFile(path: path, tag: "t1"), b = PositionedFile(path: path, tag: "t1")
        XCTAssertEqual(a, b, "every writer names the same temporary file")
        try a.create(size: 6, header: [9, 9])
        XCTAssertTrue(b.isVisible)
        try b.write([3, 4], at: 4)
        try a.write([1, 2], at: 2)
        XCTAssertEqual(try names(), [".p.bin.tmp-t1"], "only the hidden temporary before the rename")
        try a.commit()
        XCTAssertEqual(try contents(path), [9, 9, 1, 2, 3, 4])
        XCTAssertEqual(try names(), ["p.bin"])
        let c = PositionedFile(path: path, tag: "t2")
        try c.create(size: 1, header: [])
        c.discard()
        XCTAssertEqual(try names(), ["p.bin"])
    }

    func testPositionedWriteRefusesDevicesAndFIFOs() throws {
        let fifo = dir + "/pipe"
        try makeFIFO(fifo)
        XCTAssertThrowsError(try PositionedFile(path: fifo, tag: "t").create(size: 8, header: [1])) {
            assertKind($0, .usage, naming: fifo)
        }
        let dev = dir + "/null"
        guard makeNullDevice(dev) else { return }
        XCTAssertThrowsError(try PositionedFile(path: dev, tag: "t").create(size: 8, header: [1])) {
            assertKind($0, .usage, naming: dev)
        }
        XCTAssertEqual(kind(fifo), S_IFIFO)
        XCTAssertEqual(kind(dev), S_IFCHR)
        XCTAssertEqual(try names(), ["null", "pipe"], "no temporary file created")
    }

    // MARK: - Checks before the run

    func testPreRunChecksOnMissingOrReadOnlyDirectoriesAreDataErrors() throws {
        let missing = dir + "/absent/m.jsonl"
        XCTAssertThrowsError(try FileIO.checkWritable(missing, option: "--metrics-out")) {
            assertKind($0, .data, naming: missing)
            XCTAssertTrue("\($0)".hasPrefix("--metrics-out "), "\($0)")
        }
        // sysfs refuses new files even to root (root's access() says yes to a chmod 0555 directory).
        XCTAssertThrowsError(try FileIO.checkWritable("/sys/focal-ddp-test.jsonl")) {
            assertKind($0, .data, naming: "/sys/focal-ddp-test.jsonl")
        }
        XCTAssertThrowsError(try FileIO.checkWritable(dir)) { assertKind($0, .data, naming: dir) }
        XCTAssertThrowsError(try FileIO.checkCreatableDirectory(dir + "/a/b", option: "--plots")) {
            assertKind($0, .data, naming: dir + "/a/b")
        }
        try FileIO.checkWritable(dir + "/fine.jsonl")
        try FileIO.checkCreatableDirectory(dir + "/new", option: "--plots")
        XCTAssertEqual(try names(), [], "checks leave nothing behind")
        try FileIO.ensureDirectory(dir + "/new", option: "--plots")
        XCTAssertEqual(try names(), ["new"])
    }

    func testReadAll() throws {
        XCTAssertThrowsError(try FileIO.readAll(dir + "/none")) { assertKind($0, .data, naming: dir + "/none") }
        XCTAssertThrowsError(try FileIO.readAll(dir)) { assertKind($0, .data, naming: dir) }
        try FileIO.replace(dir + "/f", with: [1, 2])
        XCTAssertEqual(try FileIO.readAll(dir + "/f"), [1, 2])
        let dev = dir + "/null"
        guard makeNullDevice(dev) else { return }
        XCTAssertThrowsError(try FileIO.readAll(dev)) { assertKind($0, .data, naming: dev) }
        XCTAssertEqual(try FileIO.readAll(dev, streams: true), [])
    }

    // MARK: - DType

    func testDTypeNames() {
        XCTAssertEqual(DType.allCases.map(\.npyDescr), ["<f4", "<f8", "<i4", "<i8"])
        XCTAssertEqual(DType.allCases.map(\.safetensorsName), ["F32", "F64", "I32", "I64"])
        XCTAssertEqual(DType.allCases.map(\.size), [4, 8, 4, 8])
        XCTAssertEqual(DType(npyDescr: "<f8"), .float64)
        XCTAssertEqual(DType(safetensorsName: "I32"), .int32)
        XCTAssertNil(DType(npyDescr: ">f8"))
        XCTAssertNil(DType(safetensorsName: "BF16"))
    }
}
