// CPUFeatures: the CPU's feature flags, and what a FocalCore compiled for AVX2 needs of them.
//
// Package.swift compiles FocalCore for `-target-cpu haswell` on a build host with AVX2; that code
// would stop with SIGILL on a CPU without those features. This module is always compiled for the
// x86-64 baseline, so the command line checks the flags here, before any FocalCore code runs, and
// ends with one line instead.
#if canImport(Glibc)
import Glibc
#endif

/// The CPU's feature flags from `/proc/cpuinfo` (the first processor's `flags` line; empty elsewhere).
public func cpuFlags() -> Set<String> {
    guard let f = fopen("/proc/cpuinfo", "r") else { return [] }
    defer { fclose(f) }
    var buffer = [CChar](repeating: 0, count: 1 << 14)
    while fgets(&buffer, Int32(buffer.count), f) != nil {
        let line = String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard line.hasPrefix("flags") else { continue }
        guard let colon = line.firstIndex(of: ":") else { return [] }
        return Set(line[line.index(after: colon)...].split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init))
    }
    return []
}

/// The `/proc/cpuinfo` flags that `-target-cpu haswell` code may use (x86-64-v3: AVX, AVX2, FMA,
/// BMI1/2, F16C, MOVBE, and LZCNT, which Linux lists as `abm`). Package.swift tests the same list
/// on the build host (`CPUFeaturesTests` checks that the two lists agree).
public let haswellFlags = ["avx", "avx2", "fma", "bmi1", "bmi2", "f16c", "movbe", "abm"]

/// The error for a binary whose FocalCore was compiled for `haswell` on a CPU whose `flags` lack
/// some of `haswellFlags`, or nil (also when the flags are unknown: no `/proc/cpuinfo`).
public func missingCPUFeaturesMessage(flags: Set<String>) -> String? {
    guard !flags.isEmpty else { return nil }
    let missing = haswellFlags.filter { !flags.contains($0) }
    guard !missing.isEmpty else { return nil }
    return "this build of focal-ddp was compiled for AVX2 CPUs (-target-cpu haswell, chosen on its build host), "
        + "but this CPU lacks \(missing.joined(separator: ", ")); rebuild it with FOCAL_TARGET_CPU=generic "
        + "(e.g. FOCAL_TARGET_CPU=generic ./launch install)"
}
