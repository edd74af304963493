// bench_generator: rows/s of SklearnDataSource (all rows of a make_classification data set).
//
// Build and run from the repository root (release, whole-module):
//   swiftc -O -wmo Sources/FocalData/*.swift scripts/bench_generator/main.swift -o /tmp/bench_generator
//   /tmp/bench_generator [samples] [features] [threads]

#if canImport(Glibc)
import Glibc
#endif

func seconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}

let args = CommandLine.arguments
var spec = DatasetSpec()
spec.classification.samples = args.count > 1 ? Int(args[1])! : 1_000_000
spec.classification.features = args.count > 2 ? Int(args[2])! : 20
let n = spec.classification.samples
let threads = args.count > 3 ? Int(args[3])! : 1
for trial in 1...3 {
    let t0 = seconds()
    var source = try SklearnDataSource(spec)
    source.threads = threads
    let t1 = seconds()
    let rows = try source.rows(train: [0..<source.trainCount], test: [0..<source.testCount])
    let t2 = seconds()
    var check = 0.0
    for v in rows.train.x.prefix(1000) { check += v }
    print("trial \(trial): \(n) x \(spec.classification.features), \(threads) thread(s): pass 1 \(String(format: t1 - t0)) s, " +
          "pass 2 \(String(format: t2 - t1)) s, total \(String(format: t2 - t0)) s, " +
          "\(Int(Double(n) / (t2 - t0))) rows/s (checksum \(check))")
}

extension String {
    init(format value: Double) {
        self = String(Double(Int(value * 1000)) / 1000)
    }
}
