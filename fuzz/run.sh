#!/usr/bin/env bash
# run.sh: builds the libFuzzer binary (Swift, -sanitize=fuzzer,address) and fuzzes one reader.
#
#   fuzz/run.sh TARGET [LIMIT] [libFuzzer flags...]   TARGET: npy | csv | safetensors
#       LIMIT: a number of runs (e.g. 1000000) or seconds with an "s" suffix (e.g. 60s); default 60s
#   fuzz/run.sh --check     exit 0 if this swiftc can build a libFuzzer target, 77 if not (reason on stderr)
#   fuzz/run.sh --build     build only
#
# Build products, the growing corpus and crash artifacts go under .build-fuzz/ (git-ignored);
# the committed seeds in fuzz/corpus/TARGET are read, never written.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
out="$root/.build-fuzz"
bin="$out/focal-fuzz"
swiftc="${SWIFTC:-swiftc}"
mkdir -p "$out"

# The readers under test: the FocalFormats module (compiled here under its own name, so its
# qualified names resolve), over the Collectives module it imports (built first, below).
collectives=("$root"/Sources/Collectives/*.swift)
sources=(
    "$root"/Sources/FocalFormats/*.swift
    "$here/FuzzMain.swift" "$here/FuzzNpy.swift" "$here/FuzzCsv.swift" "$here/FuzzSafetensors.swift"
)

check() {
    if ! command -v "$swiftc" >/dev/null 2>&1; then echo "swiftc not found on PATH" >&2; return 77; fi
    local probe="$out/probe"
    mkdir -p "$probe"
    printf '@_cdecl("LLVMFuzzerTestOneInput")\npublic func f(_ d: UnsafePointer<UInt8>?, _ n: Int) -> Int32 { 0 }\n' > "$probe/p.swift"
    if ! "$swiftc" -sanitize=fuzzer,address -parse-as-library "$probe/p.swift" -o "$probe/p" >"$probe/log" 2>&1; then
        echo "this swiftc cannot build libFuzzer targets (-sanitize=fuzzer,address): $(head -n 1 "$probe/log" | grep . || echo "no output, status non-zero")" >&2
        return 77
    fi
}

build() {
    local stale=0
    [[ -x "$bin" ]] || stale=1
    for s in "${sources[@]}" "${collectives[@]}"; do [[ "$s" -nt "$bin" ]] && stale=1; done
    if [[ $stale == 1 ]]; then
        echo "building $bin" >&2
        mkdir -p "$out/modules"
        "$swiftc" -sanitize=address -parse-as-library -O -g -wmo -c -module-name Collectives \
            -emit-module -emit-module-path "$out/modules/Collectives.swiftmodule" \
            "${collectives[@]}" -o "$out/Collectives.o"
        "$swiftc" -sanitize=fuzzer,address -parse-as-library -O -g -use-ld=lld -module-name FocalFormats \
            -package-name focal_ddp -I "$out/modules" "${sources[@]}" "$out/Collectives.o" -o "$bin.tmp"
        mv "$bin.tmp" "$bin"
    fi
}

case "${1:-}" in
    --check) check; exit $? ;;
    --build) check && build; exit $? ;;
    npy|csv|safetensors) target="$1" ;;
    *) echo "usage: fuzz/run.sh npy|csv|safetensors [RUNS|SECONDSs] [libFuzzer flags...] | --check | --build" >&2; exit 2 ;;
esac
limit="${2:-60s}"
shift $(( $# >= 2 ? 2 : 1 ))
if [[ "$limit" =~ ^[0-9]+s$ ]]; then
    limitFlag="-max_total_time=${limit%s}"
elif [[ "$limit" =~ ^[0-9]+$ ]]; then
    limitFlag="-runs=$limit"
else
    echo "LIMIT must be a run count (1000000) or seconds (60s), got '$limit'" >&2; exit 2
fi

check
build
work="$out/corpus/$target"
mkdir -p "$work" "$out/artifacts"
export FOCAL_FUZZ_TARGET="$target"
# The npy and csv harnesses write each input to a scratch file: keep it in memory (/dev/shm) when
# possible (on a disk-backed directory that costs 20-40x in executions per second).
scratchBase="$out"
[[ -d /dev/shm && -w /dev/shm ]] && scratchBase=/dev/shm
TMPDIR="$(mktemp -d "$scratchBase/focal-fuzz.XXXXXX")"
export TMPDIR
trap 'rm -rf "$TMPDIR"' EXIT
# New inputs go to the first (work) directory; the committed seeds are only read.
"$bin" "$limitFlag" -print_final_stats=1 -artifact_prefix="$out/artifacts/$target-" \
    -detect_leaks=0 "$@" "$work" "$here/corpus/$target"
