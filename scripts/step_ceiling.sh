#!/usr/bin/env bash
# step_ceiling.sh [BENCH] [ROUNDS] [one-slot]: how close a step of the large configuration could
# come to the concurrent 2-process sgemm limit if everything but OpenBLAS's GEMMs took no time,
# beside what focal-bench reaches, in alternating rounds (issue 14). Each round runs
#   1. two `gemm_shapes 256 step` at once (a step's eight GEMM calls per chunk, with the step's
#      memory traffic, and nothing else; scripts/gemm_shapes.c), each printing its step time and
#      the fraction of the limit (measured before and after, in the same process);
#   2. with "one-slot", the same with every chunk's gradient in one slot (what keeping every chunk's
#      gradient for the exact reduction costs the GEMMs);
#   3. `focal-bench train --config large --runs 3 --reduce exact` on 2 ranks: samples/s, its own
#      limit and fraction, and rank 0's step split into phases (ms per step).
# OPENBLAS_CORETYPE is passed through (the headline uses SkylakeX); one OpenBLAS thread per process.
#   OPENBLAS_CORETYPE=SkylakeX scripts/step_ceiling.sh .build/release/focal-bench 5 one-slot
set -euo pipefail
bench="${1:-.build/release/focal-bench}"; rounds="${2:-5}"; modes=("")
[[ "${3:-}" == one-slot ]] && modes+=(one-slot)
[[ -x "$bench" ]] || { echo "step_ceiling.sh: '$bench' is not an executable (swift build -c release --product focal-bench)" >&2; exit 2; }
here="$(cd "$(dirname "$0")" && pwd)"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
cc -O2 "$here/gemm_shapes.c" -o "$tmp/gemm_shapes" -lopenblas
export OPENBLAS_NUM_THREADS=1
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}, $rounds rounds"
for r in $(seq "$rounds"); do
    echo "--- round $r, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%H:%M:%S)"
    for mode in "${modes[@]}"; do
        "$tmp/gemm_shapes" 256 step $mode > "$tmp/p1" & p1=$!
        "$tmp/gemm_shapes" 256 step $mode > "$tmp/p2"
        wait "$p1"
        for p in 1 2; do echo "gemm-only${mode:+ $mode} process $p: $(tr '\n' ' ' < "$tmp/p$p")"; done
    done
    mpirun --allow-run-as-root --oversubscribe -n 2 -x OPENBLAS_NUM_THREADS ${OPENBLAS_CORETYPE:+-x OPENBLAS_CORETYPE} \
        "$bench" train --config large --runs 3 --reduce exact 2>&1 | grep '^RESULT ' | python3 -c '
import json, sys
for line in sys.stdin:
    d = json.loads(line[len("RESULT "):]); s = d["root_split_ms"]
    print("focal-bench: %.0f samples/s, limit %.1f GFLOP/s, fraction %.3f; rank 0 per step ms: step %.3f forward %.3f "
          "loss %.3f backward %.3f reduction %.3f optimizer %.3f broadcast %.3f"
          % (d["root_samples_per_s"], d["sgemm_limit_gflops"], d["root_gflops"] / d["sgemm_limit_gflops"], *s[:7]))'
done
