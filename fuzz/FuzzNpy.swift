// FuzzNpy: feeds arbitrary bytes to the .npy header parser and, through a scratch file, to the reader.

/// Never crashes on any input: errors are thrown `DataError`s. A header that parses must describe
/// itself consistently, and a file that reads must hold exactly the promised elements.
func fuzzNpy(_ bytes: [UInt8]) {
    if let h = try? Npy.parseHeader(bytes, fileName: "fuzz.npy") {
        precondition(h.shape.count == 1 || h.shape.count == 2, "parseHeader accepted shape \(h.shape)")
        precondition(h.dataOffset <= bytes.count, "data offset beyond the header bytes")
    }
    let path = fuzzScratchPath(".npy")
    guard fuzzWriteFile(path, bytes) else { return }
    guard let h = try? Npy.readHeader(path: path) else { return }
    if let whole = try? Npy.read(path: path) {
        precondition(whole.values.count == h.elementCount, "read \(whole.values.count) values, header promises \(h.elementCount)")
    }
    // A row range inside the array, and one past its end (must be refused, not crash).
    if h.rows > 0 {
        let mid = h.rows / 2
        if let part = try? Npy.readRows(path: path, rows: mid..<h.rows) {
            precondition(part.count == (h.rows - mid) * h.rowLength, "readRows returned \(part.count) values")
        }
    }
    precondition((try? Npy.readRows(path: path, rows: 0..<(h.rows + 1))) == nil, "readRows accepted a range past the end")
}
