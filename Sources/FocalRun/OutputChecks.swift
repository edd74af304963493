// OutputChecks: refuse unwritable outputs before the first step.
import FocalData
#if canImport(Glibc)
import Glibc
#endif

/// Throws a one-line error naming `path` if a file cannot be created in its directory (tried for
/// real with a probe file: `access()` says yes to root even on a read-only filesystem).
public func checkWritable(_ path: String) throws {
    let dir: String
    if let slash = path.lastIndex(of: "/") { dir = slash == path.startIndex ? "/" : String(path[..<slash]) } else { dir = "." }
    var st = stat()
    guard stat(dir, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
        throw DataError("\(path): '\(dir)' does not exist or is not a directory")
    }
    if stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR { throw DataError("\(path): is a directory") }
    let probe = "\(dir)/.focal-ddp-write-probe-\(getpid())"
    let fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0o600)
    guard fd >= 0 else { throw DataError("\(path): directory '\(dir)' is not writable (\(String(cString: strerror(errno))))") }
    close(fd)
    unlink(probe)
}

/// Checks, without creating anything, that `dir` exists and is writable or could be created.
public func checkCreatableDirectory(_ dir: String, option: String) throws {
    var st = stat()
    if stat(dir, &st) == 0 {
        guard (st.st_mode & S_IFMT) == S_IFDIR else { throw DataError("\(option) \(dir): not a directory") }
        do { try checkWritable(dir + "/x") } catch { throw DataError("\(option) \(dir): not writable") }
    } else {
        do { try checkWritable(dir) } catch { throw DataError("\(option) \(dir): cannot be created (\(error))") }
    }
}

/// Creates `dir` if missing (one level) and checks it is writable.
public func ensureDirectory(_ dir: String, option: String) throws {
    var st = stat()
    if stat(dir, &st) != 0 && mkdir(dir, 0o755) != 0 {
        throw DataError("\(option) \(dir): cannot create the directory (\(String(cString: strerror(errno))))")
    }
    guard stat(dir, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else { throw DataError("\(option) \(dir): not a directory") }
    do { try checkWritable(dir + "/x") } catch { throw DataError("\(option) \(dir): not writable") }
}
