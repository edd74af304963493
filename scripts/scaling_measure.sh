#!/usr/bin/env bash
# scaling_measure: time each reduction scheme's collectives (focal-bench collectives) on the
# simulated hosts of scripts/testcluster, for each link setting and ranks:hosts layout; appends one
# JSON record per run (the bench's RESULT line plus the link and the mpirun options) to OUT.
#
#   scripts/scaling_measure.sh OUT [LINKS] [LAYOUTS]
#     LINKS    space-separated: none (unshaped veth), a tbf rate such as 1gbit, 100mbit, or a rate
#              with a one-way delay, RATE@DELAY such as 1gbit@0.2ms, 100mbit@1ms (`testcluster
#              shape RATE DELAY`; the records then hold the delay daemons' statistics)
#              (default: "none 1gbit 100mbit")
#     LAYOUTS  space-separated RANKS:HOSTS (default: "2:2 4:2 4:4 8:4"); ranks fill the hosts in
#              order (hostfile slots = RANKS/HOSTS, Open MPI's default by-slot mapping), so ranks
#              r*k .. r*k+k-1 share host r+1 and talk through shared memory (vader), and neighbours
#              in the ring cross a host link only between hosts.
# Environment: FOCAL_BENCH (default .build/release/focal-bench), FOCAL_ALLREDUCE_ALGORITHM
#   (Open MPI coll_tuned allreduce algorithm, default 4 = ring, with broadcast algorithm 9 =
#   scatter + ring allgather; 0 = Open MPI's own choice for both),
#   PARAMS (default "1474,84488,10508296"), SCHEMES (default "exact,wide,fast,float32,broadcast",
#   see `focal-bench collectives`), BUDGET seconds per point (default 10), EXTRA_MCA
#   (more mpirun options, e.g. "--mca btl_tcp_links 2", recorded with the results),
#   FOCAL_CLUSTER_PREFIX / FOCAL_CLUSTER_SUBNET as for scripts/testcluster.
# Brings the hosts up itself (4) and leaves them up; run `scripts/testcluster down` afterwards.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:?usage: scripts/scaling_measure.sh OUT [LINKS] [LAYOUTS]}"
links="${2:-none 1gbit 100mbit}"
layouts="${3:-2:2 4:2 4:4 8:4}"
bench="${FOCAL_BENCH:-$here/../.build/release/focal-bench}"
algorithm="${FOCAL_ALLREDUCE_ALGORITHM:-4}"
params="${PARAMS:-1474,84488,10508296}"
budget="${BUDGET:-10}"
schemes="${SCHEMES:-exact,wide,fast,float32,broadcast}"
tc="$here/testcluster"
export FOCAL_CLUSTER_PREFIX FOCAL_CLUSTER_SUBNET
[ -x "$bench" ] || { echo "scaling_measure: no $bench (swift build -c release --product focal-bench)" >&2; exit 2; }
[ "$($tc status | wc -l)" -ge 4 ] || "$tc" up 4
hostfile=$(mktemp); trap 'rm -f "$hostfile"' EXIT
for link in $links; do
    if [ "$link" = none ]; then "$tc" unshape; else "$tc" shape ${link/@/ }; fi
    for layout in $layouts; do
        ranks="${layout%%:*}"; hosts="${layout##*:}"
        # The hostfile lists the first HOSTS hosts, RANKS/HOSTS slots each.
        "$tc" hostfile $((ranks / hosts)) | grep -v '^#' | head -n "$hosts" >"$hostfile"
        mca=(--mca pml ob1 --mca btl self,vader,tcp --mca mpi_yield_when_idle 1)
        # shellcheck disable=SC2206
        [ -z "${EXTRA_MCA:-}" ] || mca+=(${EXTRA_MCA})
        [ "$algorithm" = 0 ] || mca+=(--mca coll_tuned_use_dynamic_rules 1 --mca coll_tuned_allreduce_algorithm "$algorithm" --mca coll_tuned_bcast_algorithm 9)
        # shellcheck disable=SC2046
        line=$(mpirun --allow-run-as-root -q -n "$ranks" --hostfile "$hostfile" "${mca[@]}" $("$tc" mpi-args) \
                   -x FOCAL_CLUSTER_PREFIX -x OPENBLAS_NUM_THREADS=1 \
                   "$bench" collectives --params "$params" --schemes "$schemes" --budget "$budget" --min-reps 3 --reps 21 \
                   --label "link $link, ranks:hosts $layout" | tee /dev/stderr | grep '^RESULT ' | sed 's/^RESULT //')
        # The delay daemons' counters since `shape` (cpu, packets, how late the verdicts were).
        stats=""
        if [ "$link" != "${link#*@}" ]; then
            stats=$("$tc" shape-status | sed -n 's/.*; \(linkdelay queue .*\)/\1/p')
        fi
        python3 - "$out" "$link" "$algorithm" "$line" "${mca[*]}" "$stats" <<'PY'
import json, sys
out, link, algorithm, line, mca, stats = sys.argv[1:]
record = json.loads(line)
record.update({"link": link, "allreduce_algorithm": int(algorithm), "mpirun_mca": mca})
if stats:
    record["linkdelay"] = stats.splitlines()
with open(out, "a") as f:
    f.write(json.dumps(record) + "\n")
PY
    done
done
"$tc" unshape
