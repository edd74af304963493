// SafetensorsMetadata: a safetensors file's `__metadata__` alone, read from its header without the tensors.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension SafetensorsFile {
    /// The `__metadata__` strings of the safetensors file at `path`, reading only the 8-byte length
    /// and the JSON header (the tensors are not read or checked). Problems are one line naming `path`.
    public static func readMetadata(path: String) throws -> [String: String] {
        let fd = retryingEINTR { open(path, O_RDONLY | O_CLOEXEC) }
        guard fd >= 0 else { throw FileError.check(path, "cannot open: \(errnoText())") }
        defer { close(fd) }
        func readExactly(_ count: Int, at offset: Int) throws -> [UInt8] {
            var out = [UInt8](repeating: 0, count: count)
            var done = 0
            while done < count {
                let r = out.withUnsafeMutableBytes { b in
                    retryingEINTR { pread(fd, b.baseAddress! + done, count - done, off_t(offset + done)) }
                }
                guard r > 0 else { throw DataError("\(path): truncated safetensors header") }
                done += r
            }
            return out
        }
        let length = try readExactly(8, at: 0)
        var n: UInt64 = 0
        for i in 0..<8 { n |= UInt64(length[i]) << (8 * UInt64(i)) }
        guard n >= 2, n <= UInt64(maxHeaderLength) else { throw DataError("\(path): bad safetensors header length \(n)") }
        let header: JSON
        do { header = try JSON.parse(try readExactly(Int(n), at: 8), maxDepth: 32) } catch let e as JSONParseError {
            throw DataError("\(path): garbled safetensors header (\(e))")
        }
        guard case .object(let entries) = header else { throw DataError("\(path): garbled safetensors header: not a JSON object") }
        var metadata: [String: String] = [:]
        for (key, value) in entries where key == "__metadata__" {
            guard case .object(let pairs) = value else { throw DataError("\(path): safetensors __metadata__ must be an object of strings") }
            for (k, v) in pairs {
                guard case .string(let s) = v else { throw DataError("\(path): safetensors __metadata__ value of '\(k)' is not a string") }
                metadata[k] = s
            }
        }
        return metadata
    }
}
