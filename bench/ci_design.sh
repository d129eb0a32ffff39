#!/usr/bin/env bash
# The candidates measured for the CI regression check's setting, as a Markdown
# table on stdout (REPRODUCE.md quotes it), from the raw run folders in
# results/ci_design/<candidate>/ (their profiles: results/ci_design/profiles/).
# Each candidate ran 8 seeds of every optimizer; its minimum detectable drop is
# for 8 CI seeds against a reference of those 8 (daoe-stats --power).
#   bench/ci_design.sh [DIR]      DIR default results/ci_design
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$root/results/ci_design}
bin=${DAOE_BIN:-$root/build/bin}
echo "| candidate | setting | finished runs | sd per group: SGD / Adam / RMSProp / Lion / DAO-E | pooled sd (df) | MDD, 8 vs 8 seeds | mean run wall time |"
echo "|---|---|--:|---|--:|--:|--:|"
for d in "$dir"/*/; do
    [ -f "$d/sweep.json" ] || continue
    c=$(basename "$d")
    p=$("$bin/daoe-stats" --power "$d" --n-new 8)
    setting=$(sed -n 's/^Setting: ResNet-18 \(.*\); backend.*/\1/p' <<< "$p")
    sds=$(awk -F'|' '/^\| (SGD|Adam|RMSProp|Lion|DAO-E) \|/ {gsub(/ /, "", $5); printf "%s%s", sep, $5; sep=" / "}' <<< "$p")
    s=$(sed -n 's/.*pooled within-group sd = \*\*\([0-9.]*\) points\*\* (df = \([0-9]*\)).*/\1 (\2)/p' <<< "$p")
    mdd=$(sed -n 's/^Largest MDD: \*\*\([0-9.]*\) points.*/\1/p' <<< "$p")
    wall=$(cat "$d"/*/summary.json | awk '/"wall_seconds"/ {gsub(/,/, "", $2); s += $2; n++} END {printf "%.1f s (%d runs: %.0f s)", s / n, n, s}')
    nfin=$(grep -l '"status":[[:space:]]*"finished"' "$d"/*/summary.json | wc -l)
    echo "| $c | $setting | $nfin | $sds | $s | $mdd | $wall |"
done
