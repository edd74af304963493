// swift-tools-version:6.0
// focal-ddp: a distributed data-parallel trainer (class-weighted focal loss) in Swift on the C MPI API.
//
// Layers, each depending only on those above it (docs/ARCHITECTURE.md says more):
//   CMPI, CBLAS        C system libraries (pkg-config ompi-c, openblas) + tiny header shims
//   Collectives        the `Communicator` protocol, an in-process implementation (no MPI), `agree`
//                      and the failure kinds (exit codes), the one clock, the CPU's flags
//   SwiftMPI           the MPI implementation of `Communicator` and launcher detection (the only
//                      library touching C MPI; the focal-bench tool calls C MPI too, to time the
//                      wrapper against plain MPI_Allreduce)
//   FocalFormats       the file layer (read all, replace, positioned write, pre-run checks), one
//                      JSON, Npy, Safetensors, Csv, one DType, DataError
//   FocalData          one ClassificationPlan for both generators, data sources, split, chunk plan
//   FocalCore          model, focal loss, reduction, Adam, trainer (sees `Communicator`, never MPI)
//   FocalReport        evaluation and ranking metrics, metric records, SVG plots
//   FocalRun           a training run as named phases, checkpoints, model files, the run's
//                      description, the sharded .npy writer (generate, predict)
//   focal-ddp          the command line (swift-argument-parser): options -> RunConfig -> TrainingRun
import PackageDescription
#if os(Linux)
import Foundation
#endif

let strict: [SwiftSetting] = [.swiftLanguageMode(.v6)]

/// FocalCore's own loops (the exact reduction's passes, Adam, ReLU and its mask, the weight copy)
/// are written as SIMD8 lanes; for the x86-64 baseline the compiler emits them as 128-bit SSE2.
/// On a build host with AVX2 and FMA (Intel Haswell and newer, AMD Zen) FocalCore is compiled for
/// `-target-cpu haswell`: 256-bit lanes, the same results (Swift never fuses a multiply and an add,
/// and every operation in these loops is exact or correctly rounded at any vector width; checked
/// bit for bit with scripts/refactor_compare.sh). `FOCAL_TARGET_CPU=NAME` overrides it (a CPU name
/// swiftc knows; `generic` for the baseline, e.g. when the hosts that run the binary are older
/// than the one that builds it). The flag list is Collectives' `haswellFlags`; focal-ddp checks it at
/// start-up when FocalCore was built this way (FOCAL_CORE_HASWELL) and ends with one line, not SIGILL.
let coreCPU: [String] = {
    #if arch(x86_64) && os(Linux)
    if let chosen = ProcessInfo.processInfo.environment["FOCAL_TARGET_CPU"] {
        return chosen.isEmpty || chosen == "generic" ? [] : ["-target-cpu", chosen]
    }
    guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
          let line = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return [] }
    let flags = Set(line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == ":" }).map(String.init))
    return ["avx", "avx2", "fma", "bmi1", "bmi2", "f16c", "movbe", "abm"].allSatisfy(flags.contains) ? ["-target-cpu", "haswell"] : []
    #else
    return []
    #endif
}()

let package = Package(
    name: "focal-ddp",
    products: [
        .executable(name: "focal-ddp", targets: ["focal-ddp"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c",
                       providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .target(name: "Collectives", swiftSettings: strict),
        .target(name: "SwiftMPI", dependencies: ["CMPI", "Collectives"], swiftSettings: strict),
        .target(name: "FocalFormats", dependencies: ["Collectives"], swiftSettings: strict),
        .target(name: "FocalData", dependencies: ["FocalFormats", "Collectives"], swiftSettings: strict),
        // `-fno-math-errno` for the C side of the Swift standard library that FocalCore inlines:
        // `Float.squareRoot()` calls a C inline function whose `__builtin_sqrtf` otherwise keeps
        // glibc's errno path (a scalar sqrtss and a branch per value), so Adam's square roots never
        // vectorised. The results are the same correctly rounded square roots; only errno, which
        // nothing reads, is dropped.
        .target(name: "FocalCore", dependencies: ["FocalFormats", "FocalData", "Collectives", "CBLAS"],
                swiftSettings: strict + [.unsafeFlags(["-Xcc", "-fno-math-errno"] + coreCPU)]),
        .target(name: "FocalReport", dependencies: ["FocalCore", "FocalFormats", "FocalData", "Collectives"], swiftSettings: strict),
        .target(name: "FocalRun", dependencies: ["FocalReport", "FocalCore", "FocalFormats", "FocalData", "Collectives"], swiftSettings: strict),
        .executableTarget(
            name: "focal-ddp",
            dependencies: ["FocalRun", "FocalReport", "FocalCore", "FocalFormats", "FocalData", "Collectives", "SwiftMPI",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: strict + (coreCPU == ["-target-cpu", "haswell"] ? [.define("FOCAL_CORE_HASWELL")] : [])),
        // Runs the wrapper's collectives under `mpirun -n N` and prints one verdict line (used by tests).
        .executableTarget(name: "focal-mpi-check", dependencies: ["SwiftMPI", "Collectives"], swiftSettings: strict),
        // Benchmarks: training throughput against the sgemm peak, step split, data generation, memory,
        // exact vs plain reduction; the Swift allreduce wrapper against plain C MPI_Allreduce.
        .executableTarget(name: "focal-bench", dependencies: ["FocalCore", "FocalData", "FocalFormats", "SwiftMPI", "Collectives", "CMPI", "CBLAS"], swiftSettings: strict),
        .testTarget(name: "CollectivesTests", dependencies: ["Collectives"], swiftSettings: strict),
        // Spawning mpirun (or a built product) from tests, safely: shared by the test targets below.
        .target(name: "TestSupport", path: "Tests/TestSupport", swiftSettings: strict),
        .testTarget(name: "SwiftMPITests", dependencies: ["SwiftMPI", "Collectives", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "FocalFormatsTests", dependencies: ["FocalFormats", "FocalData", "Collectives"], swiftSettings: strict),
        .testTarget(name: "FocalDataTests", dependencies: ["FocalData", "FocalFormats", "Collectives"],
                    resources: [.copy("Fixtures")], swiftSettings: strict),
        .testTarget(name: "FocalCoreTests", dependencies: ["FocalCore", "FocalReport", "FocalRun", "FocalFormats", "FocalData", "Collectives"],
                    resources: [.copy("Fixtures")], swiftSettings: strict),
        .testTarget(name: "EndToEndTests", dependencies: ["TestSupport", "FocalRun", "FocalData", "FocalFormats"], swiftSettings: strict),
    ]
)
