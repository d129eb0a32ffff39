#!/usr/bin/env bash
# What the CI regression check catches: each patch in tests/regressions/ (a
# realistic bug: momentum or bias correction broken, augmentation off or wrong,
# BN running statistics wrong, the schedule broken, the controller's sign
# flipped, ...) is applied to a scratch copy of the committed tree (never to
# this tree), built, and the CI profile's runs of the groups it touches are
# trained; `daoe-stats --check --groups` against the committed reference gives
# the verdict. The table (REPRODUCE.md quotes it) is made by --table from the
# raw run folders, checked again by this tree's daoe-stats (DAOE_BIN, default build/bin).
#
#   bench/ci_regressions.sh [--results DIR] [--profile P] [--reference R] [NAME...]   run (default: every patch)
#   bench/ci_regressions.sh --table [--results DIR]                                  the Markdown table on stdout
#
# A patch names the groups it touches and what it breaks in its first lines:
#   # groups: sgd,daoe
#   # bug: the SGD momentum buffer is kept but never used
# Defaults: DIR results/ci_regressions, P bench/profiles/ci.json, R results/reference/ci.
# Needs CIFAR10_DIR (or ../shared beside the checkout) and what the build needs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
results=$root/results/ci_regressions
profile=$root/bench/profiles/ci.json
reference=$root/results/reference/ci
table=0
names=()
while [ $# -gt 0 ]; do
    case $1 in
    --results) results=$(realpath -m "$2"); shift 2 ;;
    --profile) profile=$(realpath "$2"); shift 2 ;;
    --reference) reference=$(realpath "$2"); shift 2 ;;
    --table) table=1; shift ;;
    -h | --help) sed -n '2,19p' "$0"; exit 0 ;;
    -*) echo "ci_regressions: unknown option $1" >&2; exit 2 ;;
    *) names+=("$1"); shift ;;
    esac
done
patches=$root/tests/regressions
field() { sed -n "s/^# $1: *//p" "$2" | head -n 1; }

if [ $table = 1 ]; then
    echo "| injected bug (tests/regressions/) | groups trained | caught | the check's line per group (mean diff, allowed, MDD, verdict; points) |"
    echo "|---|---|---|---|"
    for p in "$patches"/*.patch; do
        n=$(basename "$p" .patch)
        [ -f "$results/$n/sweep.json" ] || { echo "| $(field bug "$p") (\`$n\`) | $(field groups "$p") | not run | |"; continue; }
        rc=0
        c=$("${DAOE_BIN:-$root/build/bin}/daoe-stats" --check "$results/$n" --reference "$reference" --groups "$(field groups "$p")" 2>&1) || rc=$?
        verdict=$([ "$rc" = 1 ] && echo "**yes**" || { [ "$rc" = 0 ] && echo no || echo "error (exit $rc)"; })
        lines=$(awk '$NF == "ok" || $NF == "FAIL" || $NF == "FAIL-ROSE" || $NF == "ok-ROSE" {printf "%s%s %s, %s, %s, %s", sep, $1, $6, $7, $8, $NF; sep="; "}' <<< "$c")
        echo "| $(field bug "$p") (\`$n\`) | $(field groups "$p") | $verdict | $lines |"
    done
    exit 0
fi

: "${CIFAR10_DIR:=$root/../shared/data/cifar-10-batches-bin}"
export CIFAR10_DIR
[ -f "$reference/sweep.json" ] || { echo "ci_regressions: no reference in $reference" >&2; exit 2; }
[ ${#names[@]} -gt 0 ] || for p in "$patches"/*.patch; do names+=("$(basename "$p" .patch)"); done
scratch=$root/build/regressions
src=$scratch/src
rm -rf "$src"
mkdir -p "$src"
# the committed tree, never this working tree
git -C "$root" archive HEAD | tar -x -C "$src"
cmake -S "$src" -B "$scratch/build" -DCMAKE_BUILD_TYPE=Release > "$scratch/cmake.log"
cmake --build "$scratch/build" -j"$(nproc)" --target daoe-train daoe-sweep daoe-stats > "$scratch/build.log"
bin=$scratch/build/bin
mkdir -p "$results"
for n in "${names[@]}"; do
    p=$patches/$n.patch
    [ -f "$p" ] || { echo "ci_regressions: no patch $p" >&2; exit 2; }
    groups=$(field groups "$p")
    echo "ci_regressions: $n ($(field bug "$p")): groups $groups"
    patch -s -p1 -d "$src" < "$p"
    rc=0
    cmake --build "$scratch/build" -j"$(nproc)" --target daoe-train > "$scratch/build-$n.log" || rc=$?
    if [ $rc = 0 ]; then
        rm -rf "${results:?}/$n"
        for g in ${groups//,/ }; do
            "$bin/daoe-sweep" "$profile" --results "$results/$n" --only "$g-s" || rc=$?
        done
    fi
    patch -s -R -p1 -d "$src" < "$p"
    [ $rc = 0 ] || { echo "ci_regressions: $n: build or sweep failed (exit $rc)" >&2; exit 1; }
    rm -f "$results/$n"/*/final.safetensors "$results/$n"/*/checkpoint.safetensors
    # exit 1 (caught) is a result here, not an error
    { "$bin/daoe-stats" --check "$results/$n" --reference "$reference" --groups "$groups" 2>&1 || true; } | tail -n 1
done
"$0" --table --results "$results" --reference "$reference" > "$results/table.md"
echo "ci_regressions: $results/table.md"
