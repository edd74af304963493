// FuzzMain: the libFuzzer entry point; FOCAL_FUZZ_TARGET (npy, csv, safetensors) picks the reader.
//
// One binary serves all three targets so that one sanitizer build (the slow part) covers them;
// fuzz/run.sh sets the variable. Built only by fuzz/run.sh, never by `swift build`.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Target selection

/// The target named by FOCAL_FUZZ_TARGET (read on each call: one getenv is cheap next to a parse).
private func selectedTarget() -> String {
    guard let raw = getenv("FOCAL_FUZZ_TARGET") else { return "" }
    return String(cString: raw)
}

/// A scratch file path private to this process, for the readers that take a path.
func fuzzScratchPath(_ suffix: String) -> String {
    let dir = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
    return "\(dir)/focal-fuzz-\(getpid())\(suffix)"
}

/// Writes `bytes` to `path` (created or truncated); false if the file system refused.
func fuzzWriteFile(_ path: String, _ bytes: [UInt8]) -> Bool {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var done = 0
    while done < bytes.count {
        let w = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, $0.count - done) }
        if w <= 0 { return false }
        done += w
    }
    return true
}

// MARK: - Entry point

@_cdecl("LLVMFuzzerTestOneInput")
public func llvmFuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    switch selectedTarget() {
    case "npy": fuzzNpy(bytes)
    case "csv": fuzzCsv(bytes)
    case "safetensors": fuzzSafetensors(bytes)
    default:
        fputs("FOCAL_FUZZ_TARGET must be npy, csv or safetensors\n", stderr)
        exit(2)  // a harness, not library code: stopping the fuzzer is the only sensible answer
    }
    return 0
}
