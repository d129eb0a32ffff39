#!/usr/bin/env bash
# A GPU session rehearsed on this machine: the device calls of REPRODUCE.md's
# "GPU session procedure", one per part, each in a fresh copy of what a call
# carries (the working tree, .devpack/MANIFEST.tsv and that one part; the
# earlier parts are gone, as on a device whose carried files did not stay),
# with bench/gpu_device.sh under DRY_RUN=cpu and a state folder shared by the
# calls (the device's /tmp). Checks what each call returns ($OUT: at most 8
# files of at most 16 MiB, plain names).
#
#   bench/gpu_dryrun.sh [WORK]        the real pack (.devpack/, bench/gpu_pack.sh first) and
#                                     every stage on the cpu backend (devtest profile, K = 1, 2)
#   bench/gpu_dryrun.sh --pack BUILD [WORK]  the same, but first packs BUILD's programs and
#                                     $CIFAR10_DIR into WORK/pack (xz -1; a CPU-only build lacks the
#                                     GPU programs, which the dry run does not run): the CTest test
#                                     gpu_dryrun (exit 77 without CIFAR-10)
#   bench/gpu_dryrun.sh --fake WORK   packing only: fake programs and data packed into tiny parts,
#                                     reassembled and verified; a corrupted part and a wrong file
#                                     sum must be refused (the CTest test gpu_pack)
# WORK defaults to .devdry/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$(pwd)
FAKE=0
PACK_FROM=""
[ "${1:-}" = --fake ] && { FAKE=1; shift; }
[ "${1:-}" = --pack ] && { PACK_FROM=$2; shift 2; }
WORK=${1:-.devdry}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
fail() { echo "gpu_dryrun.sh: FAIL: $*" >&2; exit 1; }

PACK=$SRC/.devpack
if [ -n "$PACK_FROM" ]; then
    [ -n "${CIFAR10_DIR:-}" ] && [ -f "$CIFAR10_DIR/test_batch.bin" ] || { echo "gpu_dryrun.sh: no CIFAR-10 (CIFAR10_DIR): skipped"; exit 77; }
    PACK=$WORK/pack
    bench/gpu_pack.sh --build "$PACK_FROM" --out "$PACK" --level 1 --allow-missing
fi
if [ $FAKE = 1 ]; then
    # fake programs (scripts: ldd finds no libraries) and incompressible fake data
    rm -rf "$WORK"; mkdir -p "$WORK/build/bin" "$WORK/build/tests" "$WORK/data"
    for p in bin/daoe-train bin/daoe-sweep bin/daoe-stats bin/daoe-bench-gpu tests/test_cuda; do
        { echo '#!/bin/sh'; echo "echo fake $p"; } > "$WORK/build/$p"; chmod +x "$WORK/build/$p"
    done
    for f in data_batch_1 data_batch_2 data_batch_3 data_batch_4 data_batch_5 test_batch; do
        head -c 150000 /dev/urandom > "$WORK/data/$f.bin"
    done
    PACK=$WORK/pack
    bench/gpu_pack.sh --build "$WORK/build" --data "$WORK/data" --out "$PACK" --part-size 300K --level 1 --no-official
    export DAOE_PACK_TEST=1
fi
[ -f "$PACK/MANIFEST.tsv" ] || fail "$PACK/MANIFEST.tsv missing: run bench/gpu_pack.sh first"
PARTS=$(awk -F'\t' '$1 == "part" {print $2}' "$PACK/MANIFEST.tsv")
NP=$(echo "$PARTS" | wc -l)
STATE=$WORK/state
rm -rf "$STATE" "$WORK"/call-* "$WORK"/out-*

# call DIR-SUFFIX PART [STAGE...]: one simulated device call
call() {
    local name=$1 part=$2; shift 2
    local dev=$WORK/call-$name out=$WORK/out-$name
    rm -rf "$dev" "$out"; mkdir -p "$dev/.devpack" "$out"
    (cd "$SRC" && git ls-files -z -co --exclude-standard | tar -c --null -T - | tar -x -C "$dev")
    cp "$PACK/MANIFEST.tsv" "$dev/.devpack/"
    [ -n "$part" ] && cp "$PACK/$part" "$dev/.devpack/"
    echo "=== simulated device call $name: carry [.devpack/MANIFEST.tsv${part:+, .devpack/$part}]${*:+, stages: $*}"
    local rc=0
    (cd "$dev" && OUT=$out DAOE_GPU_STATE=$STATE DRY_RUN=cpu PACKDIR=.devpack bench/gpu_device.sh "$@") || rc=$?
    # what would come back
    local n big
    n=$(find "$out" -type f | wc -l)
    [ "$n" -le 8 ] || fail "call $name: $n files under \$OUT (at most 8 come back)"
    big=$(find "$out" -type f -size +16M | head -1)
    [ -z "$big" ] || fail "call $name: $big is over 16 MiB"
    find "$out" -mindepth 1 | sed "s|^$out/||" | grep -v '^[A-Za-z0-9._/-]*$' && fail "call $name: a name with other characters"
    return $rc
}

if [ $FAKE = 1 ]; then
    [ "$NP" -ge 3 ] || fail "the fake pack should have several parts (has $NP)"
    # a corrupted part is refused and not stored
    i=0
    for p in $PARTS; do
        i=$((i + 1))
        if [ $i = 2 ]; then
            cp "$PACK/$p" "$WORK/good"; printf 'X' | dd of="$PACK/$p" bs=1 seek=100 conv=notrunc status=none
            call "$i-corrupt" "$p" verify | tee "$WORK/log-corrupt"
            grep -q "part $p: sha256 .* differs" "$WORK/log-corrupt" || fail "a corrupted part was not refused"
            [ ! -f "$STATE/parts/$p" ] || fail "a corrupted part was stored"
            mv "$WORK/good" "$PACK/$p"
        fi
        call "$i" "$p" verify | tee "$WORK/log-$i"
    done
    grep -q "files: .* checked against the manifest's sha256, all equal" "$WORK/log-$NP" || fail "the files were not verified"
    grep -q "programs: sha256 ok" "$WORK/log-1" || fail "the first part did not yield the programs"
    cmp -s "$STATE/pack/data/cifar-10-batches-bin/test_batch.bin" "$WORK/data/test_batch.bin" || fail "reassembled data differ"
    # a file whose content differs from the manifest is refused (fresh state, manifest edited)
    rm -rf "$STATE"
    cp "$PACK/MANIFEST.tsv" "$WORK/manifest.good"
    awk -F'\t' 'BEGIN {OFS = "\t"} $2 == "data/cifar-10-batches-bin/data_batch_3.bin" {$4 = "0000000000000000000000000000000000000000000000000000000000000000"} {print}' \
        "$WORK/manifest.good" > "$PACK/MANIFEST.tsv"
    for p in $PARTS; do call "bad-$p" "$p" verify > "$WORK/log-bad" 2>&1 || true; done
    mv "$WORK/manifest.good" "$PACK/MANIFEST.tsv"
    grep -q "data_batch_3.bin: sha256 differs" "$WORK/log-bad" || fail "a file with a wrong sum was not refused"
    grep -q "the pack did not verify: nothing runs" "$WORK/log-bad" || fail "the script went on after a failed verification"
    echo "gpu_dryrun.sh --fake: OK ($NP parts: stored one per call, reassembled, every sum checked; a corrupted part and a wrong file sum refused)"
    exit 0
fi

i=0
for p in $PARTS; do
    i=$((i + 1))
    call "$i" "$p"
done
# the procedure's last call: what remains, on the warm machine, nothing carried but the manifest
call "$((i + 1))-again" ""
LOG=$WORK/out-$i/gpu_device.log
grep -q "CIFAR-10: the six files have the official sha256" "$LOG" || fail "the official CIFAR-10 sums were not checked"
list=$(tar -tJf "$WORK/out-$((i + 1))-again/results.tar.xz")
for p in tune quick paper; do
    echo "$list" | grep -q "^results/$p/sgd.*/summary.json" || fail "results/$p missing from results.tar.xz"
done
echo "$list" | grep -q "^results/tune/tuned.json" || fail "results/tune/tuned.json missing from results.tar.xz"
if echo "$list" | grep -q safetensors; then fail "weights in results.tar.xz"; fi
# the returned files into a copy of the tree, as after a real session (statistics, figures, REPRODUCE.md)
dev=$WORK/call-$((i + 1))-again
mkdir -p "$WORK/build/stamps"
[ -x "$SRC/build/bin/daoe-stats" ] && ln -sfn "$SRC/build/bin" "$WORK/build/bin"
[ -x "$SRC/build-gpu/bin/daoe-stats" ] && [ ! -e "$WORK/build/bin" ] && ln -sfn "$SRC/build-gpu/bin" "$WORK/build/bin"
if [ -e "$WORK/build/bin" ] && command -v gnuplot > /dev/null; then
    (cd "$dev" && bench/gpu_results.sh "$WORK/out-$((i + 1))-again" --build "$WORK/build") > "$WORK/results.log" 2>&1 \
        || { tail -20 "$WORK/results.log"; fail "bench/gpu_results.sh failed"; }
    grep -q "report: REPRODUCE.md section quick updated" "$WORK/results.log" || fail "gpu_results.sh did not update REPRODUCE.md"
    ls "$dev"/results/gpu_session/*/ktable.tsv > /dev/null || fail "gpu_results.sh: no results/gpu_session/*/ktable.tsv"
    echo "gpu_results.sh: $(grep -c 'section .* updated' "$WORK/results.log") REPRODUCE.md sections updated in the copy $dev"
else
    echo "gpu_dryrun.sh: note: no daoe-stats build or no gnuplot here: bench/gpu_results.sh not tried"
fi
grep -q "identical final.safetensors" "$LOG" || fail "no determinism check"
echo "gpu_dryrun.sh: OK ($NP parts, $((i + 1)) calls; returned files in $WORK/out-*)"
