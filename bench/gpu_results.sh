#!/usr/bin/env bash
# Brings what a GPU session's device calls returned into the repository
# (REPRODUCE.md, "GPU session procedure"):
#   results.tar.xz   -> results/tune, results/quick, results/paper (raw run files, no weights)
#   the rest         -> results/gpu_session/<date>_<gpu>/ (K table, determinism check,
#                       PyTorch run, the device log, the check's verify_summary.tsv and
#                       verify.tar.xz unpacked into verify/: test_cuda and memcheck logs, the
#                       check's run folders; checks.tar.xz unpacked: the K-table run folders)
# then, for each of tune, quick and paper that has runs, the statistics, the
# figures and REPRODUCE.md's generated section (make -f Makefile.artifact
# report, with the sweep step left out: the sweeps ran on the device).
#
#   bench/gpu_results.sh DIR... [--build DIR] [--no-report]
# DIR: a folder holding the files a device call returned (files_at), e.g. the
# check's call and the last call; a later DIR's file replaces an earlier one's.
set -euo pipefail
cd "$(dirname "$0")/.."
IN=""
BUILD=build
REPORT=1
while [ $# -gt 0 ]; do
    case $1 in
        --build) BUILD=$2; shift 2 ;;
        --no-report) REPORT=0; shift ;;
        -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) IN="$IN $1"; shift ;;
    esac
done
[ -n "$IN" ] || { echo "usage: bench/gpu_results.sh DIR... (folders with gpu_device.log, results.tar.xz, ...)" >&2; exit 2; }
for d in $IN; do [ -f "$d/gpu_device.log" ] || { echo "gpu_results.sh: $d/gpu_device.log missing: not a call's files" >&2; exit 2; }; done

gpu=$(cat $(for d in $IN; do echo "$d/ktable.tsv"; done) 2> /dev/null | sed -n 's/^# K concurrent daoe-train runs on one \(.*\), started together.*/\1/p' | head -1 || true)
gpu=$(echo "${gpu:-unknown}" | tr -c 'A-Za-z0-9\n' '_' | sed 's/__*/_/g; s/_$//')
SESSION=results/gpu_session/$(date -u +%F)_$gpu
mkdir -p "$SESSION"
for d in $IN; do
    for f in gpu_device.log ktable.tsv determinism.tsv torch_train.json verify_summary.tsv; do
        if [ -f "$d/$f" ]; then cp "$d/$f" "$SESSION/"; fi
    done
    if [ -f "$d/checks.tar.xz" ]; then tar -xJf "$d/checks.tar.xz" -C "$SESSION"; fi
    if [ -f "$d/verify.tar.xz" ]; then mkdir -p "$SESSION/verify" && tar -xJf "$d/verify.tar.xz" -C "$SESSION/verify"; fi
done
echo "gpu_results.sh: $SESSION: $(ls "$SESSION" | tr '\n' ' ')"

profiles=""
RES=""
for d in $IN; do if [ -f "$d/results.tar.xz" ]; then RES=$d/results.tar.xz; fi; done
if [ -n "$RES" ]; then
    tmp=$(mktemp -d)
    tar -xJf "$RES" -C "$tmp"
    for p in tune quick paper; do
        [ -d "$tmp/results/$p" ] || continue
        mkdir -p "results/$p"
        cp -r "$tmp/results/$p/." "results/$p/"
        n=$(grep -l '"finished"' results/$p/*/summary.json 2> /dev/null | wc -l)
        echo "gpu_results.sh: results/$p: $n finished runs"
        [ "$n" -gt 0 ] && profiles="$profiles $p"
    done
    rm -rf "$tmp"
fi
[ $REPORT = 1 ] || exit 0
# statistics, figures and REPRODUCE.md: the artifact's own steps, the sweep and build steps left out
[ -x "$BUILD/bin/daoe-stats" ] || { echo "gpu_results.sh: build $BUILD first (cmake -S . -B $BUILD -DDAOE_CUDA=OFF && cmake --build $BUILD -j2)" >&2; exit 1; }
for p in $profiles; do
    make -f Makefile.artifact PROFILE=$p BUILD="$BUILD" -o sweep -o "$BUILD/stamps/build" report
done
