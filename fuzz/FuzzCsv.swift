// FuzzCsv: feeds arbitrary bytes to the CSV parser, split into 1 part and into 2-7 parts (as that
// many ranks would split the file), and to the file line reader with tiny read blocks.

/// Never crashes; the outcome (rows or the error message) must not depend on the number of parts,
/// and the file reader must return the same lines as the in-memory reader.
func fuzzCsv(_ bytes: [UInt8]) {
    let parts = 2 + Int(bytes.last ?? 0) % 6
    let labelColumn: String? = bytes.count % 3 == 0 ? nil : (bytes.count % 3 == 1 ? "0" : "label")
    let classes: Int? = bytes.first.map { $0 % 4 == 0 ? nil : Int($0 % 5) + 1 } ?? nil
    func outcome(_ p: Int) -> String {
        do {
            let r = try Csv.parse(bytes, labelColumn: labelColumn, classes: classes, fileName: "fuzz.csv", parts: p)
            precondition(r.rows.x.count == r.rows.count * r.rows.features, "rows of inconsistent shape")
            precondition(r.rows.x.allSatisfy(\.isFinite), "a non-finite feature was accepted")
            return "rows \(r.rows.features) \(r.rows.x.map(\.bitPattern)) \(r.rows.y)"
        } catch {
            let text = "\(error)"
            precondition(!text.contains("\n"), "a multi-line error: \(text)")
            return "error " + text
        }
    }
    let one = outcome(1)
    let many = outcome(parts)
    precondition(one == many, "1 part and \(parts) parts disagree:\n\(one.prefix(300))\n\(many.prefix(300))")

    // The pread-based reader with blocks of 1-5 bytes against the in-memory reader.
    let path = fuzzScratchPath(".csv")
    guard fuzzWriteFile(path, bytes), let file = try? CsvLineReader(path: path, block: 1 + bytes.count % 5) else { return }
    let memory = CsvLineReader(bytes: bytes, name: "memory")
    while true {
        let a = try? file.nextLine().map(Array.init)
        let b = try? memory.nextLine().map(Array.init)
        precondition(a == b, "file and memory line readers disagree")
        if b == nil || a == nil { break }
    }
}
