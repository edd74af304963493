#!/bin/sh
# Builds FocalData in release mode, links scripts/bench_counter.swift against it and runs it:
# CPU time, rows/s and peak RSS of CounterDataSource at the tutorial's parameters.
# Usage: scripts/bench_counter.sh [SAMPLES [RANKS [RANK]]]   (default 1000000 1 0)
# Extra compiler flags for both builds can be given in SWIFTFLAGS, e.g. "-target-cpu haswell".
set -e
cd "$(dirname "$0")/.."
SCRATCH=${SCRATCH:-.build-bench}
XFLAGS=""
for f in ${SWIFTFLAGS:-}; do XFLAGS="$XFLAGS -Xswiftc $f"; done
swift build -c release --scratch-path "$SCRATCH" --target FocalData $XFLAGS >/dev/null
BIN="$SCRATCH/release"
swiftc -O ${SWIFTFLAGS:-} -module-name bench_counter -I "$BIN/Modules" \
    scripts/bench_counter.swift "$BIN"/FocalData.build/*.o "$BIN"/Collectives.build/*.o \
    -o "$SCRATCH/bench_counter"
"$SCRATCH/bench_counter" "$@"
