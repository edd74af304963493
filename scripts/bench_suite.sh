#!/usr/bin/env bash
# bench_suite.sh: runs every focal-bench measurement of docs/PERFORMANCE.md once, printing the load
# average before each (the machine may be shared). Usage, from the repository root:
#   scripts/bench_suite.sh [path/to/focal-bench] [runs for the large configuration]
# Default binary: .build/release/focal-bench (swift build -c release --product focal-bench).
set -euo pipefail
bench="${1:-.build/release/focal-bench}"
runs="${2:-3}"
[ -x "$bench" ] || { echo "bench_suite.sh: '$bench' is not an executable (swift build -c release --product focal-bench)" >&2; exit 2; }

mpi=(mpirun -q --mca pml ob1 -x OPENBLAS_NUM_THREADS=1)
[ "$(id -u)" -eq 0 ] && mpi+=(--allow-run-as-root)
export OPENBLAS_NUM_THREADS=1

step() { echo; echo "### $(date -u '+%Y-%m-%d %H:%M:%S UTC') load average: $(cut -d' ' -f1-3 /proc/loadavg) :: $*"; "$@"; }

lscpu | grep -i 'model name' || true
step "${mpi[@]}" -n 1 "$bench" train --config tutorial --optimizer-on both
step "${mpi[@]}" -n 2 "$bench" train --config tutorial --optimizer-on both
step "${mpi[@]}" -n 1 "$bench" train --config large --runs "$runs"
step "${mpi[@]}" -n 2 "$bench" train --config large --runs "$runs" --optimizer-on both
for g in counter sklearn; do
    step "${mpi[@]}" -n 1 "$bench" datagen --generator "$g"
    step "${mpi[@]}" -n 2 "$bench" datagen --generator "$g"
done
step "${mpi[@]}" -n 1 "$bench" reduce
step "${mpi[@]}" -n 2 "$bench" reduce
step "${mpi[@]}" -n 2 "$bench" allreduce
