// CheckpointLineage: which checkpoints belong to one run (its identity and run id), and pruning that
// deletes only the older files of that run — never the file just written, never another run's.
import FocalFormats
#if canImport(Glibc)
import Glibc
#endif

extension Checkpoint {
    /// The metadata key of the run id.
    static let runIdKey = "run_id"

    /// A run lineage: the identity (everything a resume must share) plus the run id, made once by
    /// rank 0 at a fresh start and carried over by every resume (it is read from the checkpoint).
    /// Two runs with the same settings started separately are two lineages.
    public struct Lineage: Equatable, Sendable {
        public var identity: String
        public var runId: String

        /// The lineage recorded in a checkpoint's metadata; nil for a file without a run id
        /// (format 1, or not a checkpoint), which no pruning ever claims.
        public init?(metadata: [String: String]) {
            guard let identity = metadata["identity"], let run = metadata[runIdKey], !run.isEmpty else { return nil }
            self.identity = identity
            self.runId = run
        }

        init?(_ file: SafetensorsFile) { self.init(metadata: file.metadata) }
    }

    /// A fresh run id: 64 random bits as 16 hex digits (rank 0 makes it; it is not part of any result).
    public static func newRunId() -> String {
        var rng = SystemRandomNumberGenerator()
        let hex = String(rng.next() as UInt64, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// The global step in a checkpoint file name (`ckpt-step0000000042-epoch000003.safetensors`).
    static func step(ofFileName name: String) -> Int? {
        guard name.hasPrefix("ckpt-step") else { return nil }
        return Int(name.dropFirst("ckpt-step".count).prefix { $0.isNumber })
    }

    /// Deletes the checkpoints of `lineage` in `dir` older than `written` (by step) beyond the
    /// newest `keep - 1` of them, so `keep` files of the lineage remain counting `written`. Files
    /// of another lineage, files without a lineage, unreadable files, later-step files (of a branch
    /// abandoned by resuming from an older checkpoint) and `written` itself are never touched.
    static func prune(dir: String, written: String, lineage: Lineage?, keep: Int) throws {
        guard let lineage, keep > 0, let current = step(ofFileName: written) else { return }
        var older: [(step: Int, name: String)] = []
        for name in try list(dir) where name != written {
            guard let s = step(ofFileName: name), s < current,
                  let metadata = try? SafetensorsFile.readMetadata(path: dir + "/" + name),
                  Lineage(metadata: metadata) == lineage else { continue }
            older.append((s, name))
        }
        older.sort { ($0.step, $0.name) < ($1.step, $1.name) }
        for old in older.dropLast(keep - 1) { _ = unlink(dir + "/" + old.name) }
    }
}
