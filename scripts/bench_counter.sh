#!/bin/sh
# Builds FocalData in release mode, links scripts/bench_counter.swift against it and runs it.
# Usage: scripts/bench_counter.sh [SAMPLES [RANKS [RANK]]]   (default 1000000 1 0)
set -e
cd "$(dirname "$0")/.."
SCRATCH=${SCRATCH:-.build-bench}
swift build -c release --scratch-path "$SCRATCH" --target FocalData >/dev/null
BIN="$SCRATCH/release"
swiftc -O -parse-as-library -module-name bench_counter -I "$BIN/Modules" \
    scripts/bench_counter.swift "$BIN"/FocalData.build/*.o "$BIN"/Collectives.build/*.o \
    -o "$SCRATCH/bench_counter" 2>/dev/null || \
swiftc -O -module-name bench_counter -I "$BIN/Modules" \
    scripts/bench_counter.swift "$BIN"/FocalData.build/*.o "$BIN"/Collectives.build/*.o \
    -o "$SCRATCH/bench_counter"
"$SCRATCH/bench_counter" "$@"
