// bench_counter: times CounterDataSource at the tutorial's parameters and reports peak memory.
// Usage: bench_counter SAMPLES RANKS RANK   (materialises rank RANK's share of RANKS contiguous shards)
import FocalData
import Foundation

let args = CommandLine.arguments
let samples = args.count > 1 ? Int(args[1])! : 1_000_000
let ranks = args.count > 2 ? Int(args[2])! : 1
let rank = args.count > 3 ? Int(args[3])! : 0

var spec = DatasetSpec()
spec.generator = .counter
spec.classification.samples = samples   // the tutorial's other parameters are the defaults

/// Seconds of CPU time of this process (the machine is shared: wall time would count other jobs).
func now() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}
func shard(_ n: Int) -> Range<Int> { (n * rank / ranks)..<(n * (rank + 1) / ranks) }

let t0 = now()
let source = try CounterDataSource(spec)
let t1 = now()
let (train, test) = try source.rows(train: [shard(source.trainCount)], test: [shard(source.testCount)])
let t2 = now()
var usage = rusage()
getrusage(RUSAGE_SELF.rawValue, &usage)
let rows = train.count + test.count
var checksum = 0.0
for v in train.x { checksum += v }
let setup = String(format: "%.4f", t1 - t0)
let generate = String(format: "%.3f", t2 - t1)
let rate = String(format: "%.2f", Double(rows) / (t2 - t1) / 1e6)
let peak = usage.ru_maxrss / 1024
print("counter samples=\(samples) ranks=\(ranks) rank=\(rank): rows=\(rows) x \(source.features)", terminator: "")
print("  setup \(setup) s  generate \(generate) s (CPU)  -> \(rate) M rows/s  peak RSS \(peak) MiB  (checksum \(checksum))")
