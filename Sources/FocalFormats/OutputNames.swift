// OutputNames: output names that are too long for their temporary file, and outputs that are the
// same file as an input or as another output — both refused before the run.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension FileIO {
    /// The longest file name component Linux and macOS file systems accept (NAME_MAX).
    public static let nameMax = 255
    /// The longest tag of a temporary file (`"<pid>-<16 hex>"`, or ShardedNpyWriter's 13 base-36
    /// digits), padded to this length by `paddedTag` for probes.
    static let maxTagLength = 24
    /// Bytes a temporary file name adds to the final name: `.` + name + `.tmp-` + tag.
    public static let temporaryNameOverhead = 1 + 5 + maxTagLength

    static func paddedTag(_ tag: String) -> String {
        String(repeating: "0", count: max(0, maxTagLength - tag.utf8.count)) + tag
    }

    /// Refuses (`.data`, before the run) a final name whose temporary file could not be created:
    /// a name longer than `nameMax - temporaryNameOverhead` bytes, or a path longer than PATH_MAX.
    static func checkNameLength(_ t: FileTarget, name: String) throws {
        let base = FileTarget.split(t.resolved).base.utf8.count
        let limit = nameMax - temporaryNameOverhead
        guard base <= limit else {
            throw FileError.check(name, "the file name is \(base) bytes; an output name may have at most \(limit) (NAME_MAX \(nameMax), less \(temporaryNameOverhead) for the temporary file written beside it)")
        }
        let length = t.resolved.utf8.count + temporaryNameOverhead
        guard length < Int(PATH_MAX) else {
            throw FileError.check(name, "the path is too long (\(t.resolved.utf8.count) bytes resolved; at most \(Int(PATH_MAX) - 1 - temporaryNameOverhead))")
        }
    }

    // MARK: - Same file

    /// What identifies a file: its resolved path and, when it exists, its (device, inode).
    struct FileKey {
        var resolved: String
        var node: (dev: UInt64, ino: UInt64)?

        func same(as other: FileKey) -> Bool {
            if let a = node, let b = other.node, a.dev == b.dev && a.ino == b.ino { return true }
            return resolved == other.resolved
        }
    }

    /// The key of `path`; nil for a character device or a FIFO (`/dev/null`, `/dev/stdout`, a pipe:
    /// streams that several outputs may share) and for an empty path.
    static func fileKey(_ path: String) -> FileKey? {
        guard !path.isEmpty else { return nil }
        var st = stat()
        if stat(path, &st) == 0 {
            let kind = FileTarget.Kind(mode: UInt32(st.st_mode))
            if kind == .characterDevice || kind == .fifo { return nil }
            let real = realpath(path, nil)
            defer { free(real) }
            return FileKey(resolved: real.map { String(cString: $0) } ?? path,
                           node: (UInt64(st.st_dev), UInt64(st.st_ino)))
        }
        var trimmed = path
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        let resolved = (try? FileTarget.resolve(trimmed))?.resolved ?? trimmed
        return FileKey(resolved: resolved, node: nil)
    }

    /// Refuses (`.usage`, exit 2, one line naming both options) an output that is the same file as
    /// an input or as another output, compared by resolved path and by (device, inode) when the
    /// file exists. Pairs are `(option, path)`; devices and FIFOs are exempt.
    public static func checkDistinct(inputs: [(option: String, path: String)],
                                     outputs: [(option: String, path: String)]) throws {
        let ins = inputs.compactMap { i in fileKey(i.path).map { (i, $0) } }
        var seen: [((option: String, path: String), FileKey)] = []
        for o in outputs {
            guard let key = fileKey(o.path) else { continue }
            if let (i, _) = ins.first(where: { $0.1.same(as: key) }) {
                throw FileError.usage("\(o.option) \(o.path)", "is the same file as the input \(i.option) \(i.path); it would be overwritten")
            }
            if let (p, _) = seen.first(where: { $0.1.same(as: key) }) {
                throw FileError.usage("\(o.option) \(o.path)", "is the same file as the output \(p.option) \(p.path); one would overwrite the other")
            }
            seen.append((o, key))
        }
    }
}
