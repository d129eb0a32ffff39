#!/usr/bin/env bash
# A GPU session rehearsed on this machine: the device calls of REPRODUCE.md's
# "GPU session procedure", one per part, each in a fresh copy of what a call
# carries (the working tree, .devpack/MANIFEST.tsv and that one part; the
# earlier parts are gone, as on a device whose carried files did not stay),
# with bench/gpu_device.sh under DRY_RUN=cpu and a state folder shared by the
# calls (the device's /tmp). Checks what each call carries (at most 64 MiB,
# measured on the copy: du --apparent-size) and returns ($OUT: at most 8
# files of at most 16 MiB, plain names), and prints each call's size and time.
#
#   bench/gpu_dryrun.sh [WORK]        the real pack (.devpack/, bench/gpu_pack.sh first)
#   bench/gpu_dryrun.sh --pack BUILD [WORK]  the same, but first packs BUILD's programs and
#                       $CIFAR10_DIR into WORK/pack (xz -1; kept for the next rehearsal: the
#                       data parts are re-used while unchanged): the CTest test gpu_dryrun
#                       (exit 77 without CIFAR-10). Call 1 carries the programs and runs the
#                       check (bench/gpu_verify.sh on the cpu backend), whose fp32 runs
#                       bench/gpu_compare.py then compares with CPU twins, as after a real
#                       call; the data calls measure the K table one row per call
#                       (KT_ROWS=1: cut short, kept, continued) and run every other stage at
#                       the devtest scale; a last call finishes the K table; then
#                       bench/gpu_results.sh imports what came back into a copy of the tree
#   bench/gpu_dryrun.sh --fake WORK   packing and the procedure's logic only, in seconds (the
#                       CTest test gpu_pack): fake programs and data packed into tiny parts
#                       (a small --limit), each call's size checked; a pack over the limit
#                       refused; the data parts byte-identical after a rebuild (re-used) and
#                       when made anew; packing in a tree whose tracked files were deleted
#                       (rm -r results/smoke/adam-s1); on the device side one part per call,
#                       reassembled and verified, a corrupted part and a wrong file sum
#                       refused, and a failing check (fake test_cuda and daoe-train) named in
#                       the summary, its runs re-run with --debug-sync, and the procedure
#                       stopped before anything trains
# WORK defaults to .devdry/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$(pwd)
. bench/gpu_env.sh
FAKE=0
PACK_FROM=""
[ "${1:-}" = --fake ] && { FAKE=1; shift; }
[ "${1:-}" = --pack ] && { PACK_FROM=$2; shift 2; }
WORK=${1:-.devdry}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
fail() { echo "gpu_dryrun.sh: FAIL: $*" >&2; exit 1; }
t_start=$(date +%s)

PACK=$SRC/.devpack
LIMIT=$DAOE_CALL_LIMIT
if [ -n "$PACK_FROM" ]; then
    [ -n "${CIFAR10_DIR:-}" ] && [ -f "$CIFAR10_DIR/test_batch.bin" ] || { echo "gpu_dryrun.sh: no CIFAR-10 (CIFAR10_DIR): skipped"; exit 77; }
    PACK=$WORK/pack
    t=$(date +%s)
    bench/gpu_pack.sh --build "$PACK_FROM" --out "$PACK" --level 1 --allow-missing
    echo "gpu_dryrun.sh: packed in $(( $(date +%s) - t )) s"
fi
if [ $FAKE = 1 ]; then
    # fake programs (scripts: ldd finds no libraries) and incompressible fake data
    rm -rf "$WORK"; mkdir -p "$WORK/build/bin" "$WORK/build/tests" "$WORK/data"
    for p in bin/daoe-sweep bin/daoe-stats bin/daoe-bench-gpu; do
        printf '#!/bin/sh\necho fake %s\n' "$p" > "$WORK/build/$p"
    done
    # a test_cuda and a daoe-train that fail; with --debug-sync the error names a kernel
    printf '#!/bin/sh\necho "FAIL fake.c:1: a fake failure"\n[ "$DAOE_DEBUG_SYNC" = 1 ] && echo "daoe: CUDA error (fake) after k_fake_test at fake.cu:7"\nexit 1\n' > "$WORK/build/tests/test_cuda"
    printf '#!/bin/sh\ncase "$*" in *--debug-sync*) echo "daoe: CUDA error (fake) after k_fake_step at fake.cu:9" >&2 ;; esac\nexit 1\n' > "$WORK/build/bin/daoe-train"
    chmod +x "$WORK"/build/bin/* "$WORK/build/tests/test_cuda"
    for f in data_batch_1 data_batch_2 data_batch_3 data_batch_4 data_batch_5 test_batch; do
        head -c 150000 /dev/urandom > "$WORK/data/$f.bin"
    done
    PACK=$WORK/pack
    # a call of the tree, the manifest and ~300 KiB: several data parts
    LIMIT=$(( $(daoe_tree_bytes) + 64 * 1024 + 64 * 1024 + 320 * 1024 ))
    FAKE_PACK="bench/gpu_pack.sh --build $WORK/build --data $WORK/data --out $PACK --level 1 --no-official --limit $LIMIT --margin 64K --quantum 64K"
    $FAKE_PACK | tee "$WORK/pack.log"
    export DAOE_PACK_TEST=1
fi
[ -f "$PACK/MANIFEST.tsv" ] || fail "$PACK/MANIFEST.tsv missing: run bench/gpu_pack.sh first"
parts_of() { awk -F'\t' -v p="$1" '$1 == "part" && $2 ~ "^" p "-" {print $2}' "$PACK/MANIFEST.tsv"; }
sum_of() { awk -F'\t' -v n="$1" '$1 == "part" && $2 == n {print $4}' "$PACK/MANIFEST.tsv"; }
STATE=$WORK/state
rm -rf "$STATE" "$WORK"/call-* "$WORK"/out-* "$WORK/calls.txt"
CALL_ENV=""

# call NAME PART [STAGE...]: one simulated device call (environment: the caller's)
call() {
    local name=$1 part=$2; shift 2
    local dev=$WORK/call-$name out=$WORK/out-$name t0
    rm -rf "$dev" "$out"; mkdir -p "$dev/.devpack" "$out"
    (cd "$SRC" && git ls-files -z -co --exclude-standard | while IFS= read -r -d '' f; do
        if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi; done | tar -c --null -T - | tar -x -C "$dev")
    cp "$PACK/MANIFEST.tsv" "$dev/.devpack/"
    [ -n "$part" ] && cp "$PACK/$part" "$dev/.devpack/"
    local carried; carried=$(du -sb --apparent-size "$dev" | cut -f1)
    echo "=== simulated device call $name: carry [.devpack/MANIFEST.tsv${part:+, .devpack/$part}]${*:+, stages: $*}: $(daoe_mib "$carried") carried"
    [ "$carried" -le "$LIMIT" ] || fail "call $name carries $(daoe_mib "$carried"), over the $(daoe_mib "$LIMIT") a call may"
    local rc=0
    t0=$(date +%s)
    # shellcheck disable=SC2086
    (cd "$dev" && env $CALL_ENV OUT="$out" DAOE_GPU_STATE="$STATE" DRY_RUN=cpu PACKDIR=.devpack bench/gpu_device.sh "$@") || rc=$?
    echo "call $name: carried $(daoe_mib "$carried") [MANIFEST.tsv${part:+ $part}], exit $rc, $(( $(date +%s) - t0 )) s" | tee -a "$WORK/calls.txt"
    echo "=== returned: $(cd "$out" && ls | tr '\n' ' ')"
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
    NP=$(parts_of data | wc -l)
    [ "$NP" -ge 3 ] || fail "the fake data pack should have several parts (has $NP)"
    [ "$(parts_of prog | wc -l)" = 1 ] || fail "the fake programs should be one part"
    # refused: parts over the budget, and a tree that leaves no room
    if $FAKE_PACK --part-size 1M > "$WORK/over.log" 2>&1; then fail "a pack with parts over the limit was not refused"; fi
    grep -q "refused: the calls carrying" "$WORK/over.log" || fail "no refusal message: $(tail -2 "$WORK/over.log")"
    [ ! -f "$PACK/MANIFEST.tsv" ] || fail "a refused pack left a manifest"
    if $FAKE_PACK --limit 1M > "$WORK/over2.log" 2>&1; then fail "a limit below the tree was not refused"; fi
    grep -q "leaves no room" "$WORK/over2.log" || fail "no message for a tree over the limit"
    # a rebuild re-packs the programs and keeps the data parts; made anew, they are the same bytes
    $FAKE_PACK > /dev/null
    before=$(grep '^part	data' "$PACK/MANIFEST.tsv")
    prog_before=$(sum_of prog-01)
    echo 'echo rebuilt' >> "$WORK/build/bin/daoe-stats"
    $FAKE_PACK > "$WORK/repack.log"
    grep -q "data parts reused" "$WORK/repack.log" || fail "a rebuild re-packed the data"
    [ "$(grep '^part	data' "$PACK/MANIFEST.tsv")" = "$before" ] || fail "the data parts changed with the programs"
    [ "$(sum_of prog-01)" != "$prog_before" ] || fail "the programs' part did not change with the programs"
    rm -f "$PACK"/data-[0-9][0-9]
    $FAKE_PACK > /dev/null
    [ "$(grep '^part	data' "$PACK/MANIFEST.tsv")" = "$before" ] || fail "the data parts made anew differ (not deterministic)"
    # packing in a tree with deleted tracked files (the documented re-run of a run): a
    # repository of what gpu_pack.sh reads and a committed run folder, then deleted
    T=$WORK/tree
    rm -rf "$T"; mkdir -p "$T/lib/core" "$T/results/smoke/adam-s1"
    cp -r bench "$T/"; cp lib/core/cifar10.sha256 "$T/lib/core/"
    echo '{"status": "finished"}' > "$T/results/smoke/adam-s1/summary.json"; echo epoch > "$T/results/smoke/adam-s1/epochs.csv"
    (cd "$T" && git init -q && git add -A && git -c user.name=t -c user.email=t@t commit -qm tree && rm -r results/smoke/adam-s1 &&
        [ -n "$(git ls-files -d)" ]) || fail "could not make a tree with deleted tracked files"
    (cd "$T" && bench/gpu_pack.sh --build "$WORK/build" --data "$WORK/data" --out "$WORK/pack-deleted" --level 1 --no-official \
        --limit "$LIMIT" --margin 64K --quantum 64K) > "$WORK/deleted.log" 2>&1 \
        || fail "gpu_pack.sh in a tree with deleted tracked files: $(tail -2 "$WORK/deleted.log")"
    rm -rf "$T"
    echo "gpu_dryrun.sh --fake: packing: over-limit packs refused, data parts kept and deterministic, deleted tracked files fine"

    # the device side: the programs' part, then the data parts one per call (a corrupted one first)
    call prog prog-01 verify | tee "$WORK/log-prog"
    grep -q "programs: sha256 ok" "$WORK/log-prog" || fail "the programs' part did not yield the programs"
    i=0
    for p in $(parts_of data); do
        i=$((i + 1))
        if [ $i = 2 ]; then
            cp "$PACK/$p" "$WORK/good"; printf 'X' | dd of="$PACK/$p" bs=1 seek=100 conv=notrunc status=none
            call "$i-corrupt" "$p" verify | tee "$WORK/log-corrupt" || true
            grep -q "part $p: sha256 .* differs" "$WORK/log-corrupt" || fail "a corrupted part was not refused"
            [ ! -f "$STATE/parts/$(sum_of "$p")" ] || fail "a corrupted part was kept"
            mv "$WORK/good" "$PACK/$p"
        fi
        call "$i" "$p" verify > "$WORK/log-$i" 2>&1 || [ "$i" -lt "$NP" ] || { cat "$WORK/log-$i"; fail "the last data call failed"; }
    done
    grep -q "files: .* checked against the manifest's sha256, all equal" "$WORK/log-$NP" || fail "the files were not verified"
    cmp -s "$(ls -d "$STATE"/pk/data-*)/data/cifar-10-batches-bin/test_batch.bin" "$WORK/data/test_batch.bin" || fail "reassembled data differ"
    # the check: it fails; its name and the --debug-sync reruns are in the summary, and nothing trains
    call check "" | tee "$WORK/log-check" || true
    grep -q "check FAILED: test_cuda" "$WORK/log-check" || fail "the failing check was not named"
    S=$WORK/out-check/verify_summary.tsv
    grep -q "^test_cuda	FAIL.*rerun with DAOE_DEBUG_SYNC=1: daoe: CUDA error (fake) after k_fake_test" "$S" || fail "test_cuda was not re-run with DAOE_DEBUG_SYNC=1"
    grep -q "^fp32_daoe_two	FAIL.*rerun with --debug-sync: daoe: CUDA error (fake) after k_fake_step" "$S" || fail "a failing run was not re-run with --debug-sync"
    if grep -q -- "---- ktable" "$WORK/log-check"; then fail "stages ran after a failed check"; fi
    call after "" ktable tune | tee "$WORK/log-after" || true
    grep -q "stopped before ktable: the check failed for these programs (test_cuda" "$WORK/log-after" || fail "a later call trained after the check failed"
    # a file whose content differs from the manifest is refused (the kept parts extracted
    # anew under a manifest so edited)
    rm -rf "$STATE"/pk/data-*
    cp "$PACK/MANIFEST.tsv" "$WORK/manifest.good"
    awk -F'\t' 'BEGIN {OFS = "\t"} $2 == "data/cifar-10-batches-bin/data_batch_3.bin" {$4 = "0000000000000000000000000000000000000000000000000000000000000000"} {print}' \
        "$WORK/manifest.good" > "$PACK/MANIFEST.tsv"
    call bad "" verify > "$WORK/log-bad" 2>&1 || true
    mv "$WORK/manifest.good" "$PACK/MANIFEST.tsv"
    grep -q "data_batch_3.bin: sha256 differs" "$WORK/log-bad" || fail "a file with a wrong sum was not refused"
    grep -q "the data did not verify: nothing trains on them" "$WORK/log-bad" || fail "the script went on after a failed verification"
    echo "gpu_dryrun.sh --fake: OK (1 + $NP parts: kept one per call, reassembled, every sum checked; a corrupted part and a wrong file sum refused; a failing check named, re-run with --debug-sync, and the procedure stopped; $(( $(date +%s) - t_start )) s)"
    exit 0
fi

# ------------------------------------------------------------------ the whole procedure on the cpu backend
t=$(date +%s)
call 1 prog-01 | tee "$WORK/log-1" || fail "call 1 (the check) failed"
grep -q "check: every verification passed" "$WORK/log-1" || fail "the check did not pass"
for c in synthetic_data bf16_sgd bf16_daoe fp32_daoe_two fp32_daoe_hidden resume debug_sync; do
    grep -q "^$c	ok	" "$WORK/out-1/verify_summary.tsv" || fail "check $c did not pass: $(grep "^$c	" "$WORK/out-1/verify_summary.tsv")"
done
t=$(date +%s)
python3 bench/gpu_compare.py "$WORK/out-1" --build "${PACK_FROM:-build}" --work "$WORK/compare" || fail "bench/gpu_compare.py failed"
echo "=== the return comparison (bench/gpu_compare.py, here): $(( $(date +%s) - t )) s"
i=1
for p in $(parts_of data); do
    i=$((i + 1))
    CALL_ENV="KT_ROWS=1" call "$i" "$p" | tee "$WORK/log-$i"
done
CALL_ENV=""
# the procedure's last call: what remains, on the warm machine, nothing carried but the manifest
call "$((i + 1))-again" ""
LOG=$WORK/out-$i/gpu_device.log
grep -q "CIFAR-10: the six files have the official sha256" "$LOG" || fail "the official CIFAR-10 sums were not checked"
A=$WORK/out-$((i + 1))-again
grep -q "row(s) kept from an earlier call, not measured again" "$A/gpu_device.log" || fail "the K table did not keep its rows"
dups=$(grep -v '^#' "$A/ktable.tsv" | awk -F'\t' '$1 != "optimizer" {print $1, $2, $3}' | sort | uniq -d)
[ -z "$dups" ] || fail "K-table rows measured twice: $dups"
grep -q '^# chosen for the sweeps' "$A/ktable.tsv" || fail "the K table was not completed and chosen from"
list=$(tar -tJf "$A/results.tar.xz")
for p in tune quick paper; do
    echo "$list" | grep -q "^results/$p/sgd.*/summary.json" || fail "results/$p missing from results.tar.xz"
done
echo "$list" | grep -q "^results/tune/tuned.json" || fail "results/tune/tuned.json missing from results.tar.xz"
if echo "$list" | grep -q safetensors; then fail "weights in results.tar.xz"; fi
# the returned files into a copy of the tree, as after a real session (statistics, figures, REPRODUCE.md)
dev=$WORK/call-$((i + 1))-again
mkdir -p "$WORK/build/stamps"
B=${PACK_FROM:-build}
[ -x "$SRC/$B/bin/daoe-stats" ] && ln -sfn "$SRC/$B/bin" "$WORK/build/bin"
[ -x "$B/bin/daoe-stats" ] && [ ! -e "$WORK/build/bin" ] && ln -sfn "$(cd "$B" && pwd)/bin" "$WORK/build/bin"
if [ -e "$WORK/build/bin" ] && command -v gnuplot > /dev/null; then
    (cd "$dev" && bench/gpu_results.sh "$WORK/out-1" "$A" --build "$WORK/build") > "$WORK/results.log" 2>&1 \
        || { tail -20 "$WORK/results.log"; fail "bench/gpu_results.sh failed"; }
    grep -q "REPRODUCE.md section quick updated" "$WORK/results.log" || fail "gpu_results.sh did not update REPRODUCE.md"
    ls "$dev"/results/gpu_session/*/ktable.tsv "$dev"/results/gpu_session/*/verify/summary.tsv > /dev/null \
        || fail "gpu_results.sh: no results/gpu_session/*/ktable.tsv or verify/summary.tsv"
    echo "gpu_results.sh: $(grep -c 'section .* updated' "$WORK/results.log") REPRODUCE.md sections updated in the copy $dev"
else
    echo "gpu_dryrun.sh: note: no daoe-stats build or no gnuplot here: bench/gpu_results.sh not tried"
fi
grep -q "identical final.safetensors" "$WORK"/out-*/gpu_device.log || fail "no determinism check"
echo "gpu_dryrun.sh: the calls:"
sed 's/^/  /' "$WORK/calls.txt"
echo "gpu_dryrun.sh: OK ($(parts_of prog | wc -l) + $(parts_of data | wc -l) parts, $((i + 1)) calls; returned files in $WORK/out-*; $(( $(date +%s) - t_start )) s)"
