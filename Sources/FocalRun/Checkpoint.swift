// Checkpoint: the whole training state in one self-describing safetensors file — parameters,
// Adam's m and v, the step, the data position and the epoch's running sums — with the run's
// identity (everything that must not change on resume) and a checksum of the payload in its
// metadata. Written by rank 0 atomically; read back only if complete, intact and compatible.
import FocalCore
import FocalData
import FocalFormats
import FocalReport

public struct CheckpointState<T: TrainScalar>: Sendable {
    /// `[parameterCount]` in model layout.
    public var params: [T]
    /// `[parameterCount]` Adam first and second moments.
    public var m: [T]
    public var v: [T]
    public var adamStep: Int
    public var position: TrainingPosition
    /// The run lineage's id (see `CheckpointLineage.swift`); "" in a format-1 file.
    public var runId: String
    /// Further state by tensor name (early stopping's best parameters and counters), stored as is.
    public var extra: [String: SafetensorsFile.Tensor] = [:]

    public init(params: [T], m: [T], v: [T], adamStep: Int, position: TrainingPosition, runId: String = "") {
        self.params = params
        self.m = m
        self.v = v
        self.adamStep = adamStep
        self.position = position
        self.runId = runId
    }
}

public enum Checkpoint {
    /// Format 2 (0.2.0): the checksum covers the metadata (identity, run id) and every tensor.
    static let format = "focal-ddp-checkpoint-2"
    /// Format 1 (0.1.0): the checksum covers the tensors only; still read.
    static let format1 = "focal-ddp-checkpoint-1"

    /// File name of the checkpoint after `globalStep` steps (sorts by step).
    public static func fileName(epoch: Int, globalStep: Int) -> String {
        func padded(_ v: Int, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "ckpt-step\(padded(globalStep, 10))-epoch\(padded(epoch, 6)).safetensors"
    }

    /// The safetensors file of a state. `identity` is a JSON object of the settings a resume must
    /// share (see `differences`).
    public static func encode<T: TrainScalar>(_ s: CheckpointState<T>, shape: MLPShape, identity: JSON) -> SafetensorsFile {
        var file = ModelFile.encode(s.params, shape: shape)
        func tensor(_ v: [T]) -> SafetensorsFile.Tensor {
            if let f = v as? [Float] { return .init(shape: [v.count], floats: f) }
            return .init(shape: [v.count], doubles: v.map { Double($0) })
        }
        file.tensors["optimizer.m"] = tensor(s.m)
        file.tensors["optimizer.v"] = tensor(s.v)
        let p = s.position
        file.tensors["state.counters"] = .init(shape: [6], int64s: [p.epoch, p.batchesDone, p.globalStep, p.rows, p.skipped, s.adamStep].map(Int64.init))
        file.tensors["state.sums"] = .init(shape: [2], doubles: [p.lossSum, p.weightSum])
        for (name, t) in s.extra { file.tensors[name] = t }
        file.metadata["format"] = format
        file.metadata["identity"] = identity.text
        file.metadata[runIdKey] = s.runId
        return sealed(file)
    }

    /// The format-1 checksum: FNV-1a 64 over every tensor's name, dtype, shape and bytes, in name order.
    public static func checksum(_ file: SafetensorsFile) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        func eat(_ bytes: [UInt8]) { for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 } }
        for name in file.tensors.keys.sorted() {
            let t = file.tensors[name]!
            eat(Array(name.utf8) + [0] + Array(t.dtype.safetensorsName.utf8) + [0])
            for d in t.shape { eat(Array(String(d).utf8) + [0]) }
            eat(t.bytes)
        }
        let hex = String(h, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// Reads and validates a checkpoint: format, checksum, identity (every difference named in one
    /// line), shapes. Nothing is returned unless everything holds.
    public static func read<T: TrainScalar>(path: String, shape: MLPShape, identity: JSON, as: T.Type = T.self) throws -> CheckpointState<T> {
        let file = try SafetensorsFile.read(path: path)
        let version = file.metadata["format"]
        guard version == format || version == format1 else {
            throw DataError("--resume \(path): not a focal-ddp checkpoint (metadata format is \(file.metadata["format"] ?? "missing"))")
        }
        let expected = version == format ? wholeChecksum(file) : checksum(file)
        guard let stored = file.metadata["checksum"], stored == expected else {
            throw DataError("--resume \(path): checksum mismatch: the checkpoint is corrupted")
        }
        guard let text = file.metadata["identity"], let saved = try? JSON.parse(text) else {
            throw DataError("--resume \(path): the checkpoint's configuration is unreadable")
        }
        // Both sides through the same parser, so numbers compare in one canonical form.
        let diff = differences(saved: saved, current: (try? JSON.parse(identity.text)) ?? identity)
        guard diff.isEmpty else {
            let hint = diff.contains { $0.hasPrefix("exact_reduction: checkpoint absent") }
                ? " (a float32 checkpoint of 0.2.0 or earlier continues with --wide-reduce)" : ""
            throw DataError("--resume \(path): the run differs from the checkpoint in " + diff.joined(separator: "; ") + hint)
        }
        let params: [T] = try ModelFile.parameters(from: modelPart(file), shape: shape, path: path)
        let n = shape.parameterCount
        func values(_ name: String) throws -> [T] {
            let v = try file.doubles(name)
            guard v.count == n else { throw DataError("--resume \(path): \(name) holds \(v.count) values, expected \(n)") }
            return v.map { T($0) }
        }
        let c = try file.int64s("state.counters")
        let sums = try file.doubles("state.sums")
        guard c.count == 6, sums.count == 2 else { throw DataError("--resume \(path): malformed state tensors") }
        var p = TrainingPosition()
        p.epoch = Int(c[0]); p.batchesDone = Int(c[1]); p.globalStep = Int(c[2]); p.rows = Int(c[3]); p.skipped = Int(c[4])
        p.lossSum = sums[0]; p.weightSum = sums[1]
        var state = CheckpointState(params: params, m: try values("optimizer.m"), v: try values("optimizer.v"),
                                    adamStep: Int(c[5]), position: p, runId: file.metadata[runIdKey] ?? "")
        for (name, t) in file.tensors where name.hasPrefix("early_stopping.") { state.extra[name] = t }
        return state
    }

    private static func modelPart(_ file: SafetensorsFile) -> SafetensorsFile {
        var f = file
        for name in file.tensors.keys where name.hasPrefix("optimizer.") || name.hasPrefix("state.") || name.hasPrefix("early_stopping.") { f.tensors[name] = nil }
        return f
    }

    /// "key: checkpoint X, now Y" for every top-level key whose value differs.
    public static func differences(saved: JSON, current: JSON) -> [String] {
        guard case .object(let a) = saved, case .object(let b) = current else { return ["configuration"] }
        var out: [String] = []
        let keys = (a.map(\.0) + b.map(\.0)).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        for k in keys {
            let x = a.first { $0.0 == k }?.1, y = b.first { $0.0 == k }?.1
            if x?.text != y?.text { out.append("\(k): checkpoint \(x?.text ?? "absent"), now \(y?.text ?? "absent")") }
        }
        return out
    }

    /// Writes `file` into `dir` atomically and keeps the newest `keep` checkpoints of its lineage
    /// there (`prune`: never the file just written, never another lineage's). Returns the path written.
    @discardableResult
    public static func write(_ file: SafetensorsFile, dir: String, name: String, keep: Int) throws -> String {
        let path = dir + "/" + name
        try file.write(path: path)
        if keep > 0 { try prune(dir: dir, written: name, lineage: Lineage(file), keep: keep) }
        return path
    }

    /// Checkpoint file names in `dir`, oldest first (complete files only: temporaries are hidden).
    public static func list(_ dir: String) throws -> [String] {
        guard let d = opendir(dir) else { throw DataError("\(dir): cannot open the checkpoint directory") }
        defer { closedir(d) }
        var names: [String] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name.hasPrefix("ckpt-step") && name.hasSuffix(".safetensors") { names.append(name) }
        }
        return names.sorted()
    }

    /// A checkpoint file, or the newest complete checkpoint of a directory.
    public static func resolve(_ path: String) throws -> String {
        var st = stat()
        guard stat(path, &st) == 0 else { throw DataError("--resume \(path): no such file or directory") }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            guard let newest = try list(path).last else { throw DataError("--resume \(path): the directory holds no checkpoint") }
            return path + "/" + newest
        }
        return path
    }
}

#if canImport(Glibc)
import Glibc
#endif
