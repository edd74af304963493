// DirectoryLock: one running job per checkpoint directory, through an flock on a lock file inside it
// that holds "host pid"; the kernel drops the lock when the holder dies, so a crash leaves nothing stuck.
import FocalFormats
#if canImport(Glibc)
import Glibc
#endif

/// An exclusive lock on a directory, held until `release()` or deinit (rank 0 holds its
/// checkpoint directory's for the whole run).
///
/// The lock file `<dir>/.focal-ddp.lock` stays behind after the run: a later job opens it, takes
/// the free lock and writes itself in. It is never unlinked, because unlinking a lock file lets two
/// jobs each lock a different file of the same name.
public final class DirectoryLock {
    public static let fileName = ".focal-ddp.lock"
    private var fd: Int32
    /// The locked directory, and whether the caller created it for this run.
    public let directory: String
    public let createdDirectory: Bool

    /// Takes the lock of `dir` (which must exist), or throws one line naming the directory and the
    /// holder's host and pid (`FileError`, exit 3). Never waits.
    public init(_ dir: String, option: String, createdDirectory: Bool = false) throws {
        directory = dir
        self.createdDirectory = createdDirectory
        let path = dir.hasSuffix("/") ? dir + Self.fileName : dir + "/" + Self.fileName
        var descriptor: Int32
        repeat { descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644) } while descriptor < 0 && errno == EINTR
        guard descriptor >= 0 else { throw FileError.check("\(option) \(dir)", "cannot open the lock file: \(errnoText())") }
        var r: Int32
        repeat { r = flock(descriptor, LOCK_EX | LOCK_NB) } while r != 0 && errno == EINTR
        guard r == 0 else {
            let code = errno
            let holder = Self.contents(descriptor)
            close(descriptor)
            if code == EWOULDBLOCK {
                throw FileError.check("\(option) \(dir)", "in use by another running job (\(holder.isEmpty ? "holder unknown" : holder)); give each job its own directory")
            }
            throw FileError.check("\(option) \(dir)", "cannot lock \(Self.fileName): \(errnoText(code))")
        }
        fd = descriptor
        // The lock is ours: record who holds it (a stale holder's text is replaced).
        let text = Array("host \(Self.hostName()), pid \(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = text.withUnsafeBytes { pwrite(fd, $0.baseAddress!, $0.count, 0) }
    }

    /// Releases the lock (idempotent).
    public func release() {
        if fd >= 0 { close(fd) }
        fd = -1
    }

    deinit { release() }

    /// Releases the lock; a directory created for this run that holds nothing but the lock file
    /// (no checkpoint was written: the run failed early) is removed with it, so nothing is left.
    public func releaseRemovingIfUnused() {
        defer { release() }
        guard createdDirectory, fd >= 0, let d = opendir(directory) else { return }
        var others = 0
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." && name != Self.fileName { others += 1 }
        }
        closedir(d)
        guard others == 0 else { return }
        _ = unlink(directory.hasSuffix("/") ? directory + Self.fileName : directory + "/" + Self.fileName)
        release()
        _ = rmdir(directory)
    }

    private static func contents(_ fd: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: 512)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, $0.count, 0) }
        guard n > 0 else { return "" }
        return String(decoding: buffer[0..<n], as: UTF8.self).split(separator: "\n").first.map(String.init) ?? ""
    }

    private static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "unknown" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
