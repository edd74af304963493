// Representable: input values the training precision cannot hold are refused at load time, naming
// the file and the row, instead of turning into infinities that fail after training.
import FocalData
import FocalFormats

/// Throws a `DataError` (exit 3) naming the file and row of the first value of `converted`
/// (`[rows, features]` in the training precision, converted from `source`, `[rows, features]`
/// float64) that is not finite, e.g. 1e300 read from a float64 file and trained in float32.
/// `ranges` are the row positions of `part` that the rows hold, in order.
func checkRepresentable<T: TrainScalar>(_ converted: ArraySlice<T>, source values: [Double], features: Int,
                                        part: SplitPart, ranges: [Range<Int>], in data: DataSource) throws {
    guard T.precision != .float64, let bad = converted.firstIndex(where: { !$0.isFinite }) else { return }
    let i = bad - converted.startIndex
    var local = i / max(1, features)
    var row = local
    for r in ranges {
        if local < r.count { row = r.lowerBound + local; break }
        local -= r.count
    }
    let v = values[i]
    let what = v.isFinite ? "overflows \(T.precision.rawValue), the training precision (--precision float64 keeps it)"
                          : "is not finite"
    throw DataError("\(data.location(part, row: row)): value \(v) in column \(i % max(1, features)) \(what)")
}
