// CheckpointAuto: `--resume auto` — the newest valid checkpoint of `--checkpoint-dir` (its checksum
// holds and its identity matches this run), skipping damaged newer files, or none for a fresh start.
import FocalCore
import FocalFormats

extension Checkpoint {
    /// The value of `--resume` that picks the newest valid checkpoint of `--checkpoint-dir`.
    public static let auto = "auto"

    /// What `--resume auto` found in a directory.
    public struct AutoChoice<T: TrainScalar> {
        /// The file resumed from and its state; nil for a fresh start.
        public var path: String?
        public var state: CheckpointState<T>?
        /// The one line to print, if any (damaged newer files skipped, or a fresh start past damage).
        public var note: String?
    }

    /// Newest first, the first checkpoint of `dir` that is intact (format and checksum) and belongs
    /// to this configuration (`read` succeeds). Damaged files are skipped (named in `note`); when no
    /// file is valid and at least one intact file belongs to another configuration, the directory
    /// is refused (one line, `DataError`, exit 3). A missing or empty directory is a fresh start.
    public static func newestValid<T: TrainScalar>(dir: String, shape: MLPShape, identity: JSON,
                                                   as: T.Type = T.self) throws -> AutoChoice<T> {
        var st = stat()
        guard stat(dir, &st) == 0 else { return AutoChoice(path: nil, state: nil, note: nil) }
        var damaged: [String] = []
        var foreign: (path: String, why: String)?
        for name in try list(dir).reversed() {
            let path = dir + "/" + name
            guard intact(path) else { damaged.append(name); continue }
            do {
                let state = try read(path: path, shape: shape, identity: identity, as: T.self)
                let note = damaged.isEmpty ? nil
                    : "--resume auto: skipped damaged \(damaged.joined(separator: ", ")) in \(dir); resuming from the older \(name)"
                return AutoChoice(path: path, state: state, note: note)
            } catch let e as DataError {
                if foreign == nil { foreign = (path, e.description) }
            }
        }
        if let foreign {
            throw DataError("--resume auto: no checkpoint in \(dir) belongs to this configuration (newest: \(foreign.why.hasPrefix("--resume ") ? String(foreign.why.dropFirst("--resume ".count)) : foreign.why))")
        }
        let note = damaged.isEmpty ? nil : "--resume auto: every checkpoint in \(dir) is damaged (\(damaged.joined(separator: ", "))); starting fresh"
        return AutoChoice(path: nil, state: nil, note: note)
    }

    /// True when `path` reads as a complete safetensors file of a known checkpoint format whose checksum holds.
    static func intact(_ path: String) -> Bool {
        guard let file = try? SafetensorsFile.read(path: path) else { return false }
        let version = file.metadata["format"]
        guard version == format || version == format1 else { return false }
        let expected = version == format ? wholeChecksum(file) : checksum(file)
        return file.metadata["checksum"] == expected
    }
}

#if canImport(Glibc)
import Glibc
#endif
