// swift-tools-version:6.0
// focal-ddp: a distributed data-parallel trainer (class-weighted focal loss) in Swift on the C MPI API.
//
// Layers, each depending only on those above it:
//   CMPI, CBLAS        C system libraries (pkg-config ompi-c, openblas) + tiny header shims
//   Collectives        the `Communicator` protocol and an in-process implementation (no MPI)
//   SwiftMPI           the MPI implementation of `Communicator` (the only Swift module touching C MPI)
//   FocalData          data generators (sklearn-exact, counter-based), split, chunk plan, file formats
//   FocalCore          model, focal loss, reduction, Adam, trainer (sees `Communicator`, never MPI)
//   focal-ddp          the command line (swift-argument-parser)
import PackageDescription

let strict: [SwiftSetting] = [.swiftLanguageMode(.v6)]

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
        .target(name: "FocalData", dependencies: ["Collectives"], swiftSettings: strict),
        .target(name: "FocalCore", dependencies: ["FocalData", "Collectives", "CBLAS"], swiftSettings: strict),
        .executableTarget(
            name: "focal-ddp",
            dependencies: ["FocalCore", "FocalData", "Collectives", "SwiftMPI",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: strict),
        // Runs the wrapper's collectives under `mpirun -n N` and prints one verdict line (used by tests).
        // FocalCore only for `agree` (it moves to Collectives in the restructuring; drop the dependency then).
        .executableTarget(name: "focal-mpi-check", dependencies: ["SwiftMPI", "Collectives", "FocalCore"], swiftSettings: strict),
        // Benchmarks: training throughput against the sgemm peak, step split, data generation, memory,
        // exact vs plain reduction; the Swift allreduce wrapper against plain C MPI_Allreduce.
        .executableTarget(name: "focal-bench", dependencies: ["FocalCore", "FocalData", "SwiftMPI", "Collectives", "CMPI", "CBLAS"], swiftSettings: strict),
        .testTarget(name: "CollectivesTests", dependencies: ["Collectives"], swiftSettings: strict),
        // Spawning mpirun (or a built product) from tests, safely: shared by the test targets below.
        .target(name: "TestSupport", path: "Tests/TestSupport", swiftSettings: strict),
        .testTarget(name: "SwiftMPITests", dependencies: ["SwiftMPI", "Collectives", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "FocalDataTests", dependencies: ["FocalData", "Collectives"],
                    resources: [.copy("Fixtures")], swiftSettings: strict),
        .testTarget(name: "FocalCoreTests", dependencies: ["FocalCore", "FocalData", "Collectives"],
                    resources: [.copy("Fixtures")], swiftSettings: strict),
        .testTarget(name: "EndToEndTests", dependencies: ["TestSupport"], swiftSettings: strict),
    ]
)
