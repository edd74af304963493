// FileTarget: what an output path finally names once symlinks are followed, which decides how it is written.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The file a path names after following every symlink, and its kind.
///
/// Writers decide by the kind: a regular file or a new path is replaced atomically (temporary
/// file beside the final target, rename); a character device or a FIFO (`/dev/null`,
/// `/dev/stdout`, a named pipe) is written in place; anything else is refused.
public struct FileTarget: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case regular = "regular file"
        /// Nothing exists there yet (a new file, or a symlink whose target does not exist yet).
        case absent = "new file"
        case characterDevice = "character device"
        case fifo = "FIFO"
        case directory
        case socket
        case blockDevice = "block device"
        case other = "special file"
    }

    /// The path as given.
    public var path: String
    public var kind: Kind
    /// For `.regular` and `.absent`: the final file with every symlink resolved (the rename
    /// target, so a symlink stays a symlink); otherwise `path` itself (opened in place).
    public var resolved: String
    /// The directory of `resolved` (symlink-free) for `.regular` and `.absent`; else "".
    public var directory: String
    /// Permission bits of an existing regular file (kept when it is replaced).
    public var permissions: UInt32?

    /// Written atomically through a temporary file and a rename.
    public var isReplaceable: Bool { kind == .regular || kind == .absent }
    /// Written in place (no temporary file, no rename).
    public var isStream: Bool { kind == .characterDevice || kind == .fifo }

    /// Resolves `path`. Errors (`.data`: a check) say why the path cannot name an output: its
    /// directory is missing, a component is not a directory, a symlink loop.
    public static func resolve(_ path: String) throws -> FileTarget {
        guard !path.isEmpty else { throw FileError.check(path, "empty path") }
        var st = stat()
        if retryingEINTR({ stat(path, &st) }) == 0 {
            let kind = Kind(mode: UInt32(st.st_mode))
            guard kind == .regular else {
                return FileTarget(path: path, kind: kind, resolved: path, directory: "", permissions: nil)
            }
            let real = try realPath(path, for: path)
            return FileTarget(path: path, kind: .regular, resolved: real, directory: split(real).directory,
                              permissions: UInt32(st.st_mode) & 0o7777)
        }
        let code = errno
        guard code == ENOENT else { throw FileError.check(path, "cannot access: \(errnoText(code))") }

        // A new file, or a chain of symlinks ending in a name that does not exist yet: follow the
        // chain so the new file appears at its end and the links stay links.
        var last = path
        for _ in 0..<40 {
            var lst = stat()
            guard lstat(last, &lst) == 0, (UInt32(lst.st_mode) & UInt32(S_IFMT)) == UInt32(S_IFLNK) else {
                let (dir, base) = split(last)
                guard !base.isEmpty else { throw FileError.check(path, "not a file name (ends in '/')") }
                var dst = stat()
                guard stat(dir, &dst) == 0, (UInt32(dst.st_mode) & UInt32(S_IFMT)) == UInt32(S_IFDIR) else {
                    throw FileError.check(path, "'\(dir)' does not exist or is not a directory")
                }
                let realDir = try realPath(dir, for: path)
                return FileTarget(path: path, kind: .absent, resolved: join(realDir, base), directory: realDir,
                                  permissions: nil)
            }
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let n = readlink(last, &buffer, buffer.count - 1)
            guard n >= 0 else { throw FileError.check(path, "cannot read the symlink \(last): \(errnoText())") }
            let link = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            last = link.hasPrefix("/") ? link : join(split(last).directory, link)
        }
        throw FileError.check(path, "too many levels of symbolic links")
    }

    /// `(directory, last component)` of a path, lexically: "a/b" -> ("a", "b"), "b" -> (".", "b"),
    /// "/b" -> ("/", "b"), "a/" -> ("a", "").
    static func split(_ path: String) -> (directory: String, base: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let dir = slash == path.startIndex ? "/" : String(path[..<slash])
        return (dir, String(path[path.index(after: slash)...]))
    }

    static func join(_ dir: String, _ name: String) -> String {
        dir.hasSuffix("/") ? dir + name : dir + "/" + name
    }

    /// `realpath(3)` of an existing path; failures name `original`.
    private static func realPath(_ p: String, for original: String) throws -> String {
        guard let r = realpath(p, nil) else { throw FileError.check(original, "cannot resolve \(p): \(errnoText())") }
        defer { free(r) }
        return String(cString: r)
    }
}

extension FileTarget.Kind {
    init(mode: UInt32) {
        switch mode & UInt32(S_IFMT) {
        case UInt32(S_IFREG): self = .regular
        case UInt32(S_IFCHR): self = .characterDevice
        case UInt32(S_IFIFO): self = .fifo
        case UInt32(S_IFDIR): self = .directory
        case UInt32(S_IFSOCK): self = .socket
        case UInt32(S_IFBLK): self = .blockDevice
        default: self = .other
        }
    }
}
