#!/usr/bin/env bash
# How a sweep should use the cores: one run with every core's thread (daoe-sweep -j 1)
# against one single-thread run per core side by side (-j N), measured with daoe-train
# itself (data loading, augmentation and the optimizer included) on the profile recipe's
# network, into results/bench_cpu/DATE_TAG-jobs.txt: a header naming the CPU, the commit
# and the command, then per repeat each run's training img/s of its last epoch (epochs.csv's
# images_per_second) and the two ways' totals; the last line is the median of each total and
# of the ratio (each ratio measured within one repeat). Run it with nothing else running.
#
#   bench/jobs_throughput.sh TAG
# Environment: BIN (default build/bin), CIFAR10_DIR, WIDTH (default 16), OPTIMIZER (default
# sgd), IMAGES (training images an epoch, default 7680), EPOCHS (default 2: the first warms
# up), REPEAT (default 3), CORES (default nproc), OUT (default results/bench_cpu).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
[ $# -eq 1 ] || { sed -n '2,13p' "$0"; exit 2; }
tag=$1
bin=${BIN:-$here/build/bin}
data=${CIFAR10_DIR:-$here/../shared/data/cifar-10-batches-bin}
[ -x "$bin/daoe-train" ] || { echo "jobs_throughput: no $bin/daoe-train (build first)" >&2; exit 2; }
[ -f "$data/test_batch.bin" ] || { echo "jobs_throughput: no CIFAR-10 in $data (set CIFAR10_DIR)" >&2; exit 2; }
cores=${CORES:-$(nproc)}
[ "$cores" -ge 2 ] || { echo "jobs_throughput: $cores core(s): nothing to compare" >&2; exit 2; }
out=${OUT:-$here/results/bench_cpu}/$(date -u +%F)_$tag-jobs.txt
mkdir -p "$(dirname "$out")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
common=(--data "$data" --width "${WIDTH:-16}" --batch 128 --epochs "${EPOCHS:-2}" --train-subset "${IMAGES:-7680}"
        --val 0 --test-subset 256 --eval-every 0 --optimizer "${OPTIMIZER:-sgd}" --quiet)
ips() { # the last epoch's training img/s of run folder $1
    tail -n 1 "$1/epochs.csv" | awk -F, -v h="$(head -n 1 "$1/epochs.csv")" \
        'BEGIN { n = split(h, c, ","); for (i = 1; i <= n; i++) if (c[i] == "images_per_second") k = i } { print $k }'
}
model=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
fam=$(grep -m1 '^cpu family' /proc/cpuinfo | cut -d: -f2 | tr -d ' ')
mod=$(grep -m1 '^model[[:space:]]*:' /proc/cpuinfo | cut -d: -f2 | tr -d ' ')
{
    echo "# jobs_throughput on $model (family $fam, model $mod), $cores cores"
    echo "# date: $(date -u -Iseconds), commit $(git -C "$here" rev-parse --short HEAD), OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-unset}"
    echo "# command: daoe-train ${common[*]} --threads $cores (one run), then $cores runs of --threads 1 side by side"
    echo "repeat  one_run_img_s  side_by_side_img_s  ratio  (side by side: each run's img/s)"
} > "$out"
for rep in $(seq 1 "${REPEAT:-3}"); do
    echo "jobs_throughput: repeat $rep ..." >&2
    "$bin/daoe-train" "${common[@]}" --threads "$cores" --out "$work/one-$rep"
    pids=()
    for j in $(seq 1 "$cores"); do
        "$bin/daoe-train" "${common[@]}" --threads 1 --out "$work/side-$rep-$j" & pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p"; done
    one=$(ips "$work/one-$rep")
    each=$(for j in $(seq 1 "$cores"); do ips "$work/side-$rep-$j"; done | tr '\n' ' ')
    echo "$rep $one $each" | awk '{ s = 0; for (i = 3; i <= NF; i++) s += $i
        printf "%-7d %13.1f  %18.1f  %5.2fx  (", $1, $2, s, s / $2
        for (i = 3; i <= NF; i++) printf "%s%.1f", (i > 3 ? " " : ""), $i; print ")" }' >> "$out"
done
/usr/bin/python3 - "$out" <<'EOF' | tee -a "$out"
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l[:1].isdigit()]
one, side, ratio = ([float(r[i].rstrip("x")) for r in rows] for i in (1, 2, 3))
print(f"median  {statistics.median(one):13.1f}  {statistics.median(side):18.1f}  {statistics.median(ratio):5.2f}x"
      f"  ({len(rows)} repeats: one run of every core's thread against one 1-thread run per core)")
EOF
echo "jobs_throughput: $out" >&2
