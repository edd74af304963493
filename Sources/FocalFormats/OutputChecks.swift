// OutputChecks: before a run, refuse outputs that could not be written, so no work is lost at the end.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension FileIO {
    /// Throws a one-line `.data` error naming `path` (and `option`) if `replace(path, ...)` could
    /// not write it: the directory is missing or not writable, the path is a directory, socket or
    /// block device, a device cannot be opened for writing.
    ///
    /// For a regular file or a new path the directory is probed for real with a probe file
    /// (root's `access()` says yes even on a read-only filesystem). Nothing is created beside a
    /// device or a FIFO: a character device is opened for writing and closed; a FIFO is only
    /// checked with `access(W_OK)`, because opening and closing it would hand its reader an
    /// end-of-file before the real write.
    public static func checkWritable(_ path: String, option: String? = nil) throws {
        let name = option.map { "\($0) \(path)" } ?? path
        let t: FileTarget
        do { t = try FileTarget.resolve(path) } catch let e as FileError { throw FileError.check(name, e.reason) }
        switch t.kind {
        case .regular, .absent:
            try checkNameLength(t, name: name)
            // The probe is as long as the longest temporary file `replace` can make there.
            let probe = temporaryName(beside: t.resolved, tag: paddedTag("\(getpid())-\(randomHex())"))
            let fd = retryingEINTR { open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600) }
            guard fd >= 0 else {
                throw FileError.check(name, "directory '\(FileTarget.split(path).directory)' is not writable (\(errnoText()))")
            }
            close(fd)
            unlink(probe)
        case .characterDevice:
            let fd = retryingEINTR { open(path, O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC) }
            guard fd >= 0 else { throw FileError.check(name, "cannot open the device for writing (\(errnoText()))") }
            close(fd)
        case .fifo:
            guard access(path, W_OK) == 0 else { throw FileError.check(name, "the FIFO is not writable (\(errnoText()))") }
        case .directory:
            throw FileError.check(name, "is a directory")
        case .socket, .blockDevice, .other:
            throw FileError.check(name, "is a \(t.kind.rawValue); expected a file, a character device or a FIFO")
        }
    }

    /// Checks, without creating anything, that `dir` exists and is writable or could be created
    /// (one level). `.data` errors start with `option dir`.
    public static func checkCreatableDirectory(_ dir: String, option: String) throws {
        var st = stat()
        if stat(dir, &st) == 0 {
            guard FileTarget.Kind(mode: UInt32(st.st_mode)) == .directory else {
                throw FileError.check("\(option) \(dir)", "not a directory")
            }
            do { try checkWritable(FileTarget.join(dir, "x")) } catch { throw FileError.check("\(option) \(dir)", "not writable") }
        } else {
            do { try checkWritable(dir) } catch { throw FileError.check("\(option) \(dir)", "cannot be created (\(error))") }
        }
    }

    /// Creates `dir` if missing (one level) and checks it is a writable directory. Called while
    /// the run writes its outputs, so failures are `.system` (the check before the run passed).
    public static func ensureDirectory(_ dir: String, option: String) throws {
        var st = stat()
        if stat(dir, &st) != 0 && mkdir(dir, 0o755) != 0 && errno != EEXIST {
            throw FileError.system("\(option) \(dir)", "cannot create the directory (\(errnoText()))")
        }
        guard stat(dir, &st) == 0, FileTarget.Kind(mode: UInt32(st.st_mode)) == .directory else {
            throw FileError.system("\(option) \(dir)", "not a directory")
        }
        do { try checkWritable(FileTarget.join(dir, "x")) } catch { throw FileError.system("\(option) \(dir)", "not writable") }
    }
}
