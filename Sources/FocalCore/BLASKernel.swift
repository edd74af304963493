// BLASKernel: which kernels OpenBLAS chose, and a one-line notice when they are older than the CPU.
//
// OpenBLAS picks its kernels at start-up from the CPU model. A CPU model it does not know (a newer
// CPU, or a virtual machine that reports a generic model) makes it fall back to its oldest x86-64
// kernels ("Prescott", SSE3): measured on a 2-core AVX-512 virtual machine with OpenBLAS 0.3.21,
// sgemm 4096x256x256 ran 17-31 GFLOP/s with them and about 150 with OPENBLAS_CORETYPE=SkylakeX
// (docs/PERFORMANCE.md). The kernel changes the bits of the results (not their independence of the
// number of ranks), so focal-ddp never switches it by itself: it says so, once, on rank 0.
import CBLAS
import Collectives  // cpuFlags
#if canImport(Glibc)
import Glibc
#endif

/// OpenBLAS's kernel family for this CPU (`openblas_get_corename`), e.g. "SkylakeX", "Prescott".
public var blasCoreName: String {
    guard let name = openblas_get_corename() else { return "unknown" }
    return String(cString: name)
}

/// The notice for kernels older than the CPU's vector extensions, or nil. `flags` are the CPU's
/// feature flags (`/proc/cpuinfo`), `pinned` whether OPENBLAS_CORETYPE is set (then the choice
/// was the user's).
public func blasKernelNotice(core: String, flags: Set<String>, pinned: Bool) -> String? {
    guard !pinned else { return nil }
    /// Kernel families without AVX2 (OpenBLAS's x86-64 DYNAMIC_ARCH list).
    let old: Set<String> = ["prescott", "core2", "penryn", "dunnington", "nehalem", "atom", "opteron",
                            "opteron_sse3", "barcelona", "bobcat", "sandybridge", "bulldozer", "piledriver",
                            "steamroller", "excavator", "katmai", "coppermine", "northwood", "banias", "unknown"]
    guard old.contains(core.lowercased()) else { return nil }
    let better: String
    if flags.contains("avx512f") && flags.contains("avx512bw") && flags.contains("avx512vl") {
        better = "SkylakeX"
    } else if flags.contains("avx2") && flags.contains("fma") {
        better = "Haswell"
    } else {
        return nil
    }
    return "note: OpenBLAS chose its \(core) kernels, but this CPU has \(better == "SkylakeX" ? "AVX-512" : "AVX2"); "
        + "OPENBLAS_CORETYPE=\(better) is several times faster here (set it on every host: the kernel changes the bits of the results)"
}

/// The notice for this process: OpenBLAS's choice, this CPU's flags, OPENBLAS_CORETYPE.
public func blasKernelNotice() -> String? {
    blasKernelNotice(core: blasCoreName, flags: cpuFlags(), pinned: getenv("OPENBLAS_CORETYPE") != nil)
}
