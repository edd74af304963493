// PositionedFile: an output file written at byte offsets by several writers, appearing complete or not at all.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An output written in pieces at offsets (by several ranks, possibly on several hosts sharing
/// the directory): a hidden temporary file beside the final target is created at full size,
/// each writer `pwrite`s its piece and fsyncs, then one writer renames it into place.
///
/// Only a regular file or a new path can be written so: `create` refuses a device, a FIFO or
/// any other special file in one line (`.usage`, exit 2). A symlink stays a symlink: the
/// temporary file lives beside the symlink's final target and replaces it.
public struct PositionedFile: Sendable, Equatable {
    /// The path as given (named in errors).
    public let path: String
    /// Where the finished file goes (`path` with symlinks resolved when they can be).
    public let target: String
    /// The hidden temporary file: `<directory of target>/.<name>.tmp-<tag>`.
    public let temporary: String

    /// The file for `path`; `tag` (the same on every writer) names the temporary file. Does not
    /// touch the file system beyond resolving symlinks; a path that cannot be resolved here is
    /// used as written (`create` reports the problem).
    public init(path: String, tag: String) {
        self.path = path
        let resolved = (try? FileTarget.resolve(path)).flatMap { $0.isReplaceable ? $0.resolved : nil }
        self.target = resolved ?? path
        self.temporary = FileIO.temporaryName(beside: target, tag: tag)
    }

    /// Creates the temporary file at `size` bytes with `header` at offset 0, fsynced (one writer).
    /// Refuses a non-regular target (`.usage`); a missing or unwritable directory is `.data` (a
    /// check before any result exists); a failed write is `.system`.
    public func create(size: Int, header: [UInt8]) throws {
        let t = try FileTarget.resolve(path)
        guard t.isReplaceable else {
            throw FileError.usage(path, "is a \(t.kind.rawValue); this output is written at row offsets by every rank and must be a regular file")
        }
        let fd = retryingEINTR { open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644) }
        guard fd >= 0 else {
            throw FileError.check(path, "directory '\(t.directory)' is not writable (\(errnoText()))")
        }
        defer { close(fd) }
        guard retryingEINTR({ ftruncate(fd, off_t(size)) }) == 0 else {
            throw FileError.system(path, "cannot size the file: \(errnoText())")
        }
        try FileIO.pwriteAll(fd, header, at: 0, path: path)
        guard fsync(fd) == 0 else { throw FileError.system(path, "fsync failed: \(errnoText())") }
    }

    /// True when this writer sees the temporary file and may write it (a shared-directory check).
    public var isVisible: Bool { access(temporary, W_OK) == 0 }

    /// Writes `bytes` at `offset` of the temporary file and fsyncs (`.system` on failure).
    public func write(_ bytes: [UInt8], at offset: Int) throws {
        let fd = retryingEINTR { open(temporary, O_WRONLY | O_CLOEXEC) }
        guard fd >= 0 else { throw FileError.system(path, "cannot open the temporary file for writing: \(errnoText())") }
        defer { close(fd) }
        try FileIO.pwriteAll(fd, bytes, at: offset, path: path)
        guard fsync(fd) == 0 else { throw FileError.system(path, "fsync failed: \(errnoText())") }
    }

    /// Renames the finished temporary file into place and fsyncs the directory (one writer).
    public func commit() throws {
        guard rename(temporary, target) == 0 else { throw FileError.system(path, "rename failed: \(errnoText())") }
        try FileIO.syncDirectory(FileTarget.split(target).directory, naming: path)
    }

    /// Removes the temporary file (after a failure; harmless if it does not exist).
    public func discard() {
        _ = unlink(temporary)
    }
}
