// ShardedNpyWriter: .npy files that every rank writes at its own rows' offsets (no gather), appearing complete or not at all.
import Collectives
import FocalFormats

/// Writes .npy files shared by all ranks (`generate`'s data set, `predict`'s outputs):
///
/// 1. `open` (collective): a token from rank 0 names hidden temporary files beside the outputs;
///    rank 0 creates each at full size with its header (refusing a device or FIFO, exit 2);
///    every rank checks that it sees them (the output directory must be shared by all hosts);
/// 2. `finish` (collective): every rank `pwrite`s the bytes of its rows at their offset and
///    fsyncs; then rank 0 renames every file into place.
///
/// On any failure every rank throws the same error and rank 0 removes the temporary files. The
/// bytes are those of `Npy.write` for the whole array, whatever the number of ranks.
public struct ShardedNpyWriter: Sendable {
    /// One output file: where it goes and its header (dtype and full shape).
    public struct Output: Sendable {
        public var path: String
        public var header: NpyHeader
        public init(path: String, header: NpyHeader) {
            self.path = path
            self.header = header
        }
    }

    public let outputs: [Output]
    let files: [PositionedFile]

    /// Collective. Creates the temporary files (rank 0) and checks that every rank sees them;
    /// `notShared(path, rank, host)` is the one-line message of a rank that does not (`DataError`).
    public static func open(_ outputs: [Output], comm: Communicator,
                            notShared: (_ path: String, _ rank: Int, _ host: String) -> String) throws -> ShardedNpyWriter {
        var rng = SystemRandomNumberGenerator()
        var token = [comm.rank == 0 ? Int64(bitPattern: rng.next()) : 0]
        try comm.broadcast(&token, root: 0)
        let tag = String(UInt64(bitPattern: token[0]), radix: 36)
        let writer = ShardedNpyWriter(outputs: outputs, files: outputs.map { PositionedFile(path: $0.path, tag: tag) })
        do {
            try comm.agree {
                guard comm.rank == 0 else { return }
                for (o, f) in zip(outputs, writer.files) {
                    let h = o.header.encoded()
                    try f.create(size: h.count + o.header.elementCount * o.header.dtype.size, header: h)
                }
            }
            try comm.agree {
                for (o, f) in zip(outputs, writer.files) where !f.isVisible {
                    throw DataError(notShared(o.path, comm.rank, comm.processorName))
                }
            }
        } catch {
            writer.discard(comm: comm)
            throw error
        }
        return writer
    }

    /// Collective. Writes this rank's rows of every output (`rows[i]` for `outputs[i]`: the first
    /// row and the bytes of the rows, row-major, little-endian; empty bytes write nothing), then
    /// rank 0 renames the files into place.
    public func finish(rows: [(firstRow: Int, bytes: () -> [UInt8])], comm: Communicator) throws {
        precondition(rows.count == outputs.count, "ShardedNpyWriter: one row block per output")
        do {
            try comm.agree {
                for ((o, f), r) in zip(zip(outputs, files), rows) {
                    let bytes = r.bytes()
                    if !bytes.isEmpty { try f.write(bytes, at: o.header.offset(ofRow: r.firstRow)) }
                }
            }
            try comm.agree {
                guard comm.rank == 0 else { return }
                for f in files { try f.commit() }
            }
        } catch {
            discard(comm: comm)
            throw error
        }
    }

    /// Rank 0 removes the temporary files (after a failure between `open` and `finish`).
    public func discard(comm: Communicator) {
        if comm.rank == 0 { for f in files { f.discard() } }
    }
}
