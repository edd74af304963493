// FileIO: read a whole file; replace a file's contents (atomically for files, in place for devices and FIFOs).
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Whole-file reads and writes. Every failure is a `FileError` naming the file.
public enum FileIO {
    // MARK: - Reading

    /// The whole file at `path`. Failures are `.data` (an unreadable input). A regular file is
    /// read at its size; with `streams`, a FIFO or a character device (`/dev/stdin`) is read to
    /// its end; anything else is refused.
    public static func readAll(_ path: String, streams: Bool = false) throws -> [UInt8] {
        let fd = retryingEINTR { open(path, O_RDONLY | O_CLOEXEC) }
        guard fd >= 0 else { throw FileError.check(path, "cannot open: \(errnoText())") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw FileError.check(path, "cannot stat: \(errnoText())") }
        let kind = FileTarget.Kind(mode: UInt32(st.st_mode))
        if streams && (kind == .fifo || kind == .characterDevice) { return try readToEnd(fd, path: path) }
        guard kind == .regular else { throw FileError.check(path, "not a regular file") }
        var out = [UInt8](repeating: 0, count: Int(st.st_size))
        var done = 0
        while done < out.count {
            let r = out.withUnsafeMutableBytes { b in retryingEINTR { read(fd, b.baseAddress! + done, b.count - done) } }
            guard r >= 0 else { throw FileError.check(path, "read failed: \(errnoText())") }
            if r == 0 { break }
            done += r
        }
        guard done == out.count else {
            throw FileError.check(path, "file shrank while being read (\(done) of \(out.count) bytes)")
        }
        return out
    }

    private static func readToEnd(_ fd: Int32, path: String) throws -> [UInt8] {
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { b in retryingEINTR { read(fd, b.baseAddress!, b.count) } }
            guard n >= 0 else { throw FileError.check(path, "read failed: \(errnoText())") }
            if n == 0 { return out }
            out += buffer[0..<n]
        }
    }

    // MARK: - Writing

    /// Makes `bytes` the contents of `path`, deciding by what the path finally names:
    /// - a regular file or a new path: atomically (a temporary file in the final target's
    ///   directory, write, fsync, rename, fsync of the directory); readers see the old contents
    ///   or the new, never a mix; a symlink stays a symlink and its target is replaced;
    /// - a character device or a FIFO (`/dev/null`, `/dev/stdout`, a named pipe): written in
    ///   place, nothing created beside it; a FIFO without a reader fails at once (no hang);
    /// - anything else (directory, socket, block device): refused (`.usage`).
    /// Write failures (disk full, I/O error) are `.system`: they happen after the run's work.
    public static func replace(_ path: String, with bytes: [UInt8]) throws {
        let target: FileTarget
        do {
            target = try FileTarget.resolve(path)
        } catch let e as FileError {
            throw FileError.system(path, "cannot create temporary file: \(e.reason)")
        }
        if target.isStream {
            try writeInPlace(target, bytes)
        } else if target.isReplaceable {
            try replaceAtomically(target, bytes)
        } else {
            throw FileError.usage(path, "is a \(target.kind.rawValue); expected a file, a character device or a FIFO")
        }
    }

    private static func writeInPlace(_ target: FileTarget, _ bytes: [UInt8]) throws {
        let path = target.path
        // O_NONBLOCK so that opening a FIFO without a reader fails (ENXIO) instead of blocking;
        // cleared right after, so the writes themselves block as usual. No O_CREAT, no O_TRUNC.
        let fd = retryingEINTR { open(path, O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC) }
        guard fd >= 0 else {
            let code = errno
            if code == ENXIO && target.kind == .fifo {
                throw FileError.system(path, "the FIFO has no reader (start the reader first)")
            }
            throw FileError.system(path, "cannot open for writing: \(errnoText(code))")
        }
        let flags = fcntl(fd, F_GETFL)
        if flags >= 0 { _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) }
        do {
            try writeAll(fd, bytes, path: path)
        } catch {
            close(fd)
            throw error
        }
        guard close(fd) == 0 || errno == EINTR else { throw FileError.system(path, "close failed: \(errnoText())") }
    }

    private static func replaceAtomically(_ target: FileTarget, _ bytes: [UInt8]) throws {
        let path = target.path
        let tmp = temporaryName(beside: target.resolved, tag: "\(getpid())-\(randomHex())")
        let fd = retryingEINTR { open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644) }
        guard fd >= 0 else {
            throw FileError.system(path, "cannot create temporary file in \(target.directory): \(errnoText())")
        }
        var placed = false
        defer { if !placed { unlink(tmp) } }
        do {
            if let p = target.permissions, fchmod(fd, mode_t(p)) != 0 {
                throw FileError.system(path, "cannot set permissions: \(errnoText())")
            }
            try writeAll(fd, bytes, path: path)
            guard fsync(fd) == 0 else { throw FileError.system(path, "fsync failed: \(errnoText())") }
        } catch {
            close(fd)
            throw error
        }
        guard close(fd) == 0 else { throw FileError.system(path, "close failed: \(errnoText())") }
        guard rename(tmp, target.resolved) == 0 else {
            throw FileError.system(path, "cannot rename the temporary file into place: \(errnoText())")
        }
        placed = true
        try syncDirectory(target.directory, naming: path)
    }

    // MARK: - Shared helpers

    /// The hidden temporary file beside `final`: `<dir>/.<name>.tmp-<tag>`.
    static func temporaryName(beside final: String, tag: String) -> String {
        let (dir, base) = FileTarget.split(final)
        return FileTarget.join(dir, ".\(base).tmp-\(tag)")
    }

    static func randomHex() -> String {
        var rng = SystemRandomNumberGenerator()
        return String(rng.next() as UInt64, radix: 16)
    }

    /// `write(2)` until every byte is out; failures `.system`.
    static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws {
        var done = 0
        while done < bytes.count {
            let w = bytes.withUnsafeBytes { b in retryingEINTR { write(fd, b.baseAddress! + done, b.count - done) } }
            guard w > 0 else { throw FileError.system(path, "write failed: \(w < 0 ? errnoText() : "no progress")") }
            done += w
        }
    }

    /// `pwrite(2)` of all of `bytes` at `offset`; failures `.system`.
    static func pwriteAll(_ fd: Int32, _ bytes: [UInt8], at offset: Int, path: String) throws {
        var done = 0
        while done < bytes.count {
            let w = bytes.withUnsafeBytes { b in
                retryingEINTR { pwrite(fd, b.baseAddress! + done, b.count - done, off_t(offset + done)) }
            }
            guard w > 0 else { throw FileError.system(path, "write failed: \(w < 0 ? errnoText() : "no progress")") }
            done += w
        }
    }

    /// fsync of a directory, making a rename in it durable. Filesystems that cannot sync a
    /// directory (EINVAL) are accepted; a real I/O error is not.
    static func syncDirectory(_ dir: String, naming path: String) throws {
        let dfd = retryingEINTR { open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        guard dfd >= 0 else { return }
        defer { close(dfd) }
        if fsync(dfd) != 0 && errno != EINVAL && errno != EROFS {
            throw FileError.system(path, "fsync of the directory \(dir) failed: \(errnoText())")
        }
    }
}
