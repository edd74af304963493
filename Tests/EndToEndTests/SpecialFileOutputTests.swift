// SpecialFileOutputTests: metrics and a model written to a character device, a symlink to it and a FIFO leave each one what it was.
//
// As root, `--metrics-out /dev/null` once replaced /dev/null with a regular file for the whole
// machine (the atomic write renamed its temporary file over the device). This test makes its own
// device node (major 1, minor 3, the null device) with mknod(2) in a temporary directory, a symlink
// to it and a FIFO with a reader attached, and points `--metrics-out` and `--save-model` at each,
// one run each (mpirun -n 2, 2 epochs). Afterwards the device is still a character device with the
// same numbers, the symlink still a symlink to it, the FIFO still a FIFO whose reader got the
// bytes (JSON lines; a safetensors header), and nothing else (a probe or temporary file) is left
// in the directory; /dev/null itself is still a character device.
// Needs root with CAP_MKNOD: without root it skips (fails under CI=true, see `Prerequisite`);
// as root without CAP_MKNOD (mknod gives EPERM) it fails naming the capability.

import Foundation
import XCTest
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

final class SpecialFileOutputTests: XCTestCase {
    /// The null device's numbers (Linux: major 1, minor 3), in the kernel's `dev_t` encoding for
    /// small numbers (glibc's `makedev` is a macro Swift does not import).
    static let nullMajor = 1, nullMinor = 3
    static let nullDevice = dev_t((nullMajor << 8) | nullMinor)

    enum Kind: String, CaseIterable { case device, symlink, fifo }

    /// One file's type from lstat(2) (the link itself, not its target).
    static func fileType(_ path: String) -> mode_t? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        return st.st_mode & S_IFMT
    }

    static func describe(_ type: mode_t?) -> String {
        switch type {
        case nil: return "missing"
        case S_IFCHR: return "a character device"
        case S_IFLNK: return "a symlink"
        case S_IFIFO: return "a FIFO"
        case S_IFREG: return "a regular file"
        case S_IFDIR: return "a directory"
        default: return "file type \(String(type!, radix: 8))"
        }
    }

    /// Makes the null device node at `path`; throws on failure, naming CAP_MKNOD on EPERM.
    static func makeDevice(_ path: String) throws {
        guard mknod(path, S_IFCHR | 0o666, nullDevice) == 0 else {
            let e = errno
            if e == EPERM {
                throw MissingPrerequisite(description: "mknod(\(path), S_IFCHR, 1:3) failed with EPERM: this test needs "
                    + "the CAP_MKNOD capability (root in a container that keeps it)")
            }
            throw MPIRunError(description: "mknod(\(path)) failed: \(String(cString: strerror(e)))")
        }
    }

    func testOutputsToDeviceSymlinkAndFIFOStayWhatTheyWere() throws {
        guard getuid() == 0 else {
            try Prerequisite.missing("not root: making a character device with mknod needs root (CAP_MKNOD)")
        }
        defer {
            XCTAssertEqual(Self.describe(Self.fileType("/dev/null")), "a character device", "/dev/null changed")
        }
        // The capability first, in a directory of its own, so EPERM fails the test with its name.
        let probe = try FocalRun.scratch()
        defer { try? FileManager.default.removeItem(at: probe) }
        do {
            try Self.makeDevice(probe.appendingPathComponent("null").path)
        } catch let missing as MissingPrerequisite {
            return XCTFail(missing.description)
        }

        for kind in Kind.allCases {
            for option in ["--metrics-out", "--save-model"] {
                try check(kind, option)
            }
        }
    }

    /// One run with `option` pointed at a fresh node of `kind` in a directory of its own.
    private func check(_ kind: Kind, _ option: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let dir = try FocalRun.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let device = dir.appendingPathComponent("null-device").path
        let link = dir.appendingPathComponent("null-link").path
        let fifo = dir.appendingPathComponent("pipe").path
        let what = "\(option) to a \(kind.rawValue)"

        var expected: [String]
        var target: String
        var reader: FIFOReader?
        switch kind {
        case .device:
            try Self.makeDevice(device)
            expected = ["null-device"]
            target = device
        case .symlink:
            try Self.makeDevice(device)
            guard symlink(device, link) == 0 else { throw MPIRunError(description: "symlink \(link): errno \(errno)") }
            expected = ["null-device", "null-link"]
            target = link
        case .fifo:
            guard mkfifo(fifo, 0o600) == 0 else { throw MPIRunError(description: "mkfifo \(fifo): errno \(errno)") }
            reader = try FIFOReader(path: fifo)
            expected = ["pipe"]
            target = fifo
        }

        let r = try FocalRun.run(["--epochs", "2", option, target], ranks: 2, timeout: 60)
        let received = reader?.finish() ?? Data()
        XCTAssertFalse(r.timedOut, "\(what): timed out: \(r.command)", file: file, line: line)
        XCTAssertEqual(r.status, 0, "\(what): \(r.command)\nstdout:\n\(r.stdout)\nstderr:\n\(r.stderr)", file: file, line: line)

        switch kind {
        case .device:
            assertNullDevice(device, what, file: file, line: line)
        case .symlink:
            let type = Self.fileType(link)
            XCTAssertEqual(Self.describe(type), "a symlink", "\(what): the symlink changed", file: file, line: line)
            if type == S_IFLNK {
                let destination = try FileManager.default.destinationOfSymbolicLink(atPath: link)
                XCTAssertEqual(destination, device, "\(what): the symlink now points elsewhere", file: file, line: line)
            }
            assertNullDevice(device, what, file: file, line: line)
        case .fifo:
            let type = Self.fileType(fifo)
            XCTAssertEqual(Self.describe(type), "a FIFO", "\(what): the FIFO changed", file: file, line: line)
            XCTAssertFalse(received.isEmpty, "\(what): the FIFO's reader received no bytes", file: file, line: line)
            if option == "--metrics-out" {
                let text = String(decoding: received, as: UTF8.self)
                XCTAssertTrue(text.hasPrefix("{") && text.contains("\"type\""),
                              "\(what): the reader did not receive JSON lines: \(text.prefix(200))", file: file, line: line)
            } else if received.count >= 9 {
                // safetensors: an 8-byte little-endian header length, then the JSON header.
                let n = received.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
                XCTAssertEqual(received[received.startIndex + 8], UInt8(ascii: "{"), "\(what): not a safetensors header",
                               file: file, line: line)
                XCTAssertLessThanOrEqual(8 + n, UInt64(received.count), "\(what): header length \(n) beyond the \(received.count) bytes received",
                                         file: file, line: line)
            } else {
                XCTFail("\(what): \(received.count) bytes are too few for a safetensors file", file: file, line: line)
            }
        }
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        XCTAssertEqual(left, expected, "\(what): files left in the directory (probe or temporary files?)", file: file, line: line)
    }

    private func assertNullDevice(_ path: String, _ what: String, file: StaticString, line: UInt) {
        var st = stat()
        guard lstat(path, &st) == 0 else { return XCTFail("\(what): \(path) is gone", file: file, line: line) }
        XCTAssertEqual(Self.describe(st.st_mode & S_IFMT), "a character device", "\(what): the device changed",
                       file: file, line: line)
        XCTAssertEqual(st.st_rdev, Self.nullDevice, "\(what): the device numbers changed", file: file, line: line)
    }
}

/// Reads a FIFO on a thread from before the run until `finish()`: opened without blocking (so no
/// writer is needed to start), it collects every writer's bytes, also when the run opens the FIFO
/// more than once, and never blocks a writer (the FIFO has a reader throughout).
private final class FIFOReader: @unchecked Sendable {
    private let fd: Int32
    private let lock = NSLock()
    private var bytes = Data()
    private var stop = false
    private let done = DispatchSemaphore(value: 0)

    init(path: String) throws {
        fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw MPIRunError(description: "open \(path) for reading: errno \(errno)") }
        Thread.detachNewThread { [self] in
            run()
            done.signal()
        }
    }

    private var stopped: Bool { lock.withLock { stop } }

    private func run() {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let finishing = stopped
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            // Linux reports no event before the first writer, and POLLHUP once the last one closed.
            _ = poll(&p, 1, 50)
            var gotData = false
            if p.revents & Int16(POLLIN | POLLHUP) != 0 {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n > 0 {
                    lock.withLock { bytes.append(contentsOf: buffer[0..<n]) }
                    gotData = true
                } else {
                    usleep(10_000)  // no writer now; another may open the FIFO later
                }
            }
            if finishing && !gotData { break }
        }
        close(fd)
    }

    /// Stops reading once what is buffered is read; returns every byte received.
    func finish() -> Data {
        lock.withLock { stop = true }
        done.wait()
        return lock.withLock { bytes }
    }
}
