#!/usr/bin/env bash
# refactor_compare.sh BINARY OUTDIR: runs four fixed trainings with BINARY and prints, for each,
# the SHA-256 of the saved model and of the full per-epoch loss lines. Used to show that a
# restructuring changed no result: run it with the binary built before and after, then diff.
#   scripts/refactor_compare.sh .build/debug/focal-ddp /tmp/after > after.txt
set -euo pipefail
bin="$1"; out="$2"
mkdir -p "$out"
export OPENBLAS_NUM_THREADS=1
run() {
    local name="$1"; shift
    "$bin" "$@" --log-every 1 --save-model "$out/$name.safetensors" > "$out/$name.log"
    local losses model
    losses=$(grep '^Epoch: ' "$out/$name.log" | sha256sum | cut -c1-16)
    model=$(sha256sum < "$out/$name.safetensors" | cut -c1-16)
    echo "$name: model $model losses $losses ($(grep -c '^Epoch: ' "$out/$name.log") lines; last: $(grep '^Epoch: ' "$out/$name.log" | tail -1))"
}
run tutorial
run tutorial-sim3 --simulate-ranks 3
run float64-4class --precision float64 --classes 4 --samples 2000 --epochs 30
run minibatch-shuffle --batch-size 64 --shuffle-batches --epochs 20
run minibatch-shuffle-sim2 --batch-size 64 --shuffle-batches --epochs 20 --simulate-ranks 2
run counter --generator counter --samples 20000 --batch-size 1024 --epochs 5
