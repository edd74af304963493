// CheckpointIntegrity: the format-2 checksum over the whole header and every tensor, and the check
// that a checkpoint's position can occur in this run (a crafted position is refused, never trapped on).
import FocalCore
import FocalFormats

extension Checkpoint {
    /// `file` with its format-2 checksum set (`wholeChecksum`).
    public static func sealed(_ file: SafetensorsFile) -> SafetensorsFile {
        var f = file
        f.metadata["format"] = format
        f.metadata["checksum"] = wholeChecksum(f)
        return f
    }

    /// The format-2 checksum: FNV-1a 64 over every metadata entry but "checksum" (key and value,
    /// in key order: format, identity, run id, the model's shape and precision), then the format-1
    /// sum over every tensor (name, dtype, shape, bytes; the position is the `state.*` tensors).
    /// Any edit of the header or of a tensor changes it.
    public static func wholeChecksum(_ file: SafetensorsFile) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        func eat(_ bytes: some Sequence<UInt8>) { for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 } }
        for key in file.metadata.keys.sorted() where key != "checksum" {
            eat(Array(key.utf8) + [0] + Array(file.metadata[key]!.utf8) + [0])
        }
        eat(Array(checksum(file).utf8))
        let hex = String(h, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// Refuses (one line naming the file, `DataError`, exit 3) a state whose position cannot occur
    /// in this run: `batches` steps per epoch, `epochs` epochs, `batchRows` rows per batch at most.
    /// What `Trainer.train` produces: `0 <= epoch <= epochs`, `0 <= batchesDone < batches`,
    /// `globalStep == epoch * batches + batchesDone`, `rows <= batchesDone * batchRows`,
    /// `skipped <= batchesDone`, `adamStep <= globalStep`, finite non-negative sums.
    public static func checkPosition<T>(_ s: CheckpointState<T>, path: String, epochs: Int, batches: Int,
                                        batchRows: Int) throws {
        let p = s.position
        func refuse(_ why: String) -> DataError {
            DataError("--resume \(path): impossible position (\(why)): the checkpoint is corrupted or crafted")
        }
        guard p.epoch >= 0, p.batchesDone >= 0, p.globalStep >= 0, p.rows >= 0, p.skipped >= 0, s.adamStep >= 0 else {
            throw refuse("negative counter: epoch \(p.epoch), batch \(p.batchesDone), step \(p.globalStep), rows \(p.rows), skipped \(p.skipped), optimizer step \(s.adamStep)")
        }
        guard p.epoch <= epochs else {
            throw DataError("--resume \(path): the checkpoint is at epoch \(p.epoch), beyond --epochs \(epochs); pass --epochs \(p.epoch) or more")
        }
        guard p.batchesDone < max(1, batches) else { throw refuse("\(p.batchesDone) batches done of \(batches) per epoch") }
        let (product, o1) = p.epoch.multipliedReportingOverflow(by: batches)
        let (expected, o2) = product.addingReportingOverflow(p.batchesDone)
        guard !o1, !o2, p.globalStep == expected else {
            throw refuse("step \(p.globalStep) is not epoch \(p.epoch) x \(batches) batches + \(p.batchesDone)")
        }
        let (rowLimit, o3) = p.batchesDone.multipliedReportingOverflow(by: batchRows)
        guard !o3, p.rows <= rowLimit else { throw refuse("\(p.rows) rows counted in \(p.batchesDone) batches") }
        guard p.skipped <= p.batchesDone else { throw refuse("\(p.skipped) skipped steps in \(p.batchesDone) batches") }
        guard s.adamStep <= p.globalStep else { throw refuse("optimizer step \(s.adamStep) beyond step \(p.globalStep)") }
        guard p.lossSum.isFinite, p.weightSum.isFinite, p.lossSum >= 0, p.weightSum >= 0 else {
            throw refuse("running sums \(p.lossSum), \(p.weightSum)")
        }
    }
}
