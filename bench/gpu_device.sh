#!/usr/bin/env bash
# The one device script of a GPU session (REPRODUCE.md, "GPU session
# procedure"). Each device call carries .devpack/MANIFEST.tsv and one part
# made by bench/gpu_pack.sh: prog-NN (the programs and the libraries the
# device lacks) or data-NN (CIFAR-10). The script checks the part's sha256
# and keeps it, named by its sha256, in $DAOE_GPU_STATE (default
# /tmp/daoe-gpu), which lives as long as the machine stays warm; a part
# already kept is not needed again, whichever manifest names it (a re-pack
# after a rebuild changes the programs' part only). Once the programs are
# complete (every file's sha256 checked) the first stage, check, verifies
# the GPU path on synthetic data (bench/gpu_verify.sh: test_cuda, short runs,
# kill and resume, memcheck); a failing check stops the procedure with its
# name, and nothing trains with those programs, in this call or a later one.
# The data parts so far yield what they hold: the first ones the files that
# short runs read (the K table, the determinism check); the complete set is
# reassembled and checked (the archive, every file, the official CIFAR-10
# sums of lib/core/cifar10.sha256) before anything trains on it. Stages, in
# order, while time remains:
#   check        bench/gpu_verify.sh (about 3 minutes; needs the programs only)
#   ktable       aggregate training img/s of K concurrent runs (bf16, real data, SGD and
#                DAO-E), without and with CUDA MPS; picks the K (and MPS) for the sweeps.
#                Each row is kept when measured: a table cut short by the deadline goes on
#                in the next call, and no row is measured twice
#   determinism  a run alone and the same run among K-1 others (--deterministic): same bytes?
#   tune         the tune profile, then daoe-stats -> results/tune/tuned.json
#   torch        the same recipe in PyTorch (bench/torch_train.py, SGD at the tuned rate)
#   quick        the quick profile with the tuned rates
#   paper        paper runs while time remains (only if one can finish)
# A stage done on this machine is not redone by a later call (markers in the
# state folder): calling again on the warm machine continues where the last
# call stopped. What comes back ($OUT, at most 8 files): gpu_device.log,
# verify_summary.tsv and verify.tar.xz (the check), ktable.tsv,
# determinism.tsv, torch_train.json, results.tar.xz (results/tune, quick,
# paper without weights) and checks.tar.xz (the K-table and determinism run
# folders without weights).
#
#   bench/gpu_device.sh [STAGE ...]     default: store the part, then every stage not yet done;
#                                       "verify": store, reassemble and verify only
#   DEADLINE=S   seconds from the start after which nothing new starts and the
#                running sweep is stopped (default 550: inside a 600-s call)
#   DRY_RUN=cpu  the same on this machine with the cpu backend and the devtest profile:
#                K = 1, 2; GPU-only steps say "skipped: no GPU" (bench/gpu_dryrun.sh)
#   CHECK_PASSED_FOR=SHA  the check passed for the programs archive of that sha256 in an
#                earlier session (its verify_summary.tsv says so): not run again
#   PACKDIR (.devpack), DAOE_GPU_STATE, SWEEP_J / SWEEP_MPS (override the K table's choice),
#   KT_K ("1 2 4 8"), KT_OPTS ("sgd daoe"), KT_IMAGES (12800), KT_EPOCHS (3), KT_MPS (1),
#   KT_ROWS (rows measured at most per call; tests), DET_K (4), TORCH_EPOCHS (10),
#   PAPER_RUN_S (estimate of one paper run when no K table)
set -u
cd "$(dirname "$0")/.." || exit 2
REPO=$(pwd)
T0=$(date +%s)
DEADLINE=${DEADLINE:-550}
RESERVE=${RESERVE:-20}
DRY=${DRY_RUN:-}
[ -z "$DRY" ] || [ "$DRY" = cpu ] || { echo "gpu_device.sh: DRY_RUN must be cpu or empty" >&2; exit 2; }
OUT=${OUT:-gpu_device_out}
PACKDIR=${PACKDIR:-.devpack}
STATE=${DAOE_GPU_STATE:-/tmp/daoe-gpu}
mkdir -p "$OUT" "$STATE/parts" "$STATE/done" "$STATE/failed" "$STATE/work"
OUT=$(cd "$OUT" && pwd)
STATE=$(cd "$STATE" && pwd)
MPS_DIR=/tmp/daoe-mps
NCPU=$(nproc)
ORIG_LD=${LD_LIBRARY_PATH:-}
. bench/gpu_env.sh

if [ -n "$DRY" ]; then
    KT_K=${KT_K:-"1 2"}; KT_IMAGES=${KT_IMAGES:-256}; KT_EPOCHS=${KT_EPOCHS:-2}; DET_K=${DET_K:-2}
    TRAIN_KT="--backend cpu --width 8 --batch 128 --val 0 --test-subset 128"
    TRAIN_DET="--backend cpu --width 8 --batch 128 --train-subset 256 --epochs 1 --val 0 --test-subset 128 --threads 1"
    PROF_TUNE=("$REPO/bench/profiles/tune.json" --base devtest)
    PROF_QUICK=("$REPO/bench/profiles/devtest.json" --lr-from results/tune/tuned.json)
    PROF_PAPER=("$REPO/bench/profiles/devtest.json" --lr-from results/tune/tuned.json)
else
    KT_K=${KT_K:-"1 2 4 8"}; KT_IMAGES=${KT_IMAGES:-12800}; KT_EPOCHS=${KT_EPOCHS:-3}; DET_K=${DET_K:-4}
    TRAIN_KT="--backend cuda --precision bf16 --width 64 --batch 128 --val 0 --test-subset 1000"
    TRAIN_DET="--backend cuda --precision bf16 --deterministic --width 64 --batch 128 --train-subset 5120 --epochs 1 --val 0 --test-subset 1000"
    PROF_TUNE=("$REPO/bench/profiles/tune.json")
    PROF_QUICK=("$REPO/bench/profiles/quick.json")
    PROF_PAPER=("$REPO/bench/profiles/paper.json")
fi
KT_OPTS=${KT_OPTS:-"sgd daoe"}
KT_MPS=${KT_MPS:-1}
KT_ROWS=${KT_ROWS:-1000}
TORCH_EPOCHS=${TORCH_EPOCHS:-10}
PAPER_RUN_S=${PAPER_RUN_S:-400}
ALL_STAGES="check ktable determinism tune torch quick paper"

elapsed() { echo $(( $(date +%s) - T0 )); }
left() { echo $(( DEADLINE - RESERVE - $(date +%s) + T0 )); }
tleft() { local l; l=$(left); [ "$l" -lt 1 ] && l=1; echo "$l"; }   # for timeout, where 0 would mean none
say() { echo "[$(elapsed) s] $*"; }
# need SECONDS WHAT: is there time for WHAT?
need() {
    local l; l=$(left)
    if [ "$l" -lt "$1" ]; then say "skipped: $2: not enough time (needs ~$1 s, $l s left)"; return 1; fi
}
no_gpu() { [ -n "$DRY" ] && { say "skipped: $1: no GPU"; return 0; }; return 1; }
mark() { date -u +%FT%TZ > "$STATE/done/$1"; }
done_already() { [ -f "$STATE/done/$1" ]; }
sha() { sha256sum < "$1" | cut -d' ' -f1; }

# ------------------------------------------------------------------ parts and packs
# Parts are kept as $STATE/parts/SHA256; a pack (prog, data) is complete when
# every part its manifest rows name is kept. The programs are extracted into
# $STATE/pk/prog-SHA (SHA: the archive's), the complete data into
# $STATE/pk/data-SHA; each folder gets .ok once every file's sha256 matched.
MAN=$STATE/MANIFEST.tsv
store_parts() {
    local m=$PACKDIR/MANIFEST.tsv
    [ -f "$m" ] && cp "$m" "$MAN"
    [ -f "$MAN" ] || { say "error: no $PACKDIR/MANIFEST.tsv carried and none stored: carry it with every call"; return 2; }
    say "pack: $(head -1 "$MAN" | sed 's/^# //')"
    local kind name size want have
    while IFS=$'\t' read -r kind name size want; do
        [ "$kind" = part ] || continue
        [ -f "$PACKDIR/$name" ] || continue
        if [ -f "$STATE/parts/$want" ]; then say "part $name: kept already"; continue; fi
        have=$(sha "$PACKDIR/$name")
        if [ "$have" = "$want" ]; then
            cp "$PACKDIR/$name" "$STATE/parts/$want.tmp" && mv "$STATE/parts/$want.tmp" "$STATE/parts/$want"
            say "part $name: sha256 ok ($size bytes), kept in $STATE/parts"
        else
            say "part $name: sha256 $have differs from the manifest's $want: NOT kept (re-carry it)"
        fi
    done < "$MAN"
}
# pack_parts PACK: the kept files of its parts, in order, as far as they go
pack_parts() {
    local kind name size want
    while IFS=$'\t' read -r kind name size want; do
        [ "$kind" = part ] && [ "${name%-[0-9][0-9]}" = "$1" ] || continue
        [ -f "$STATE/parts/$want" ] || return 0
        echo "$STATE/parts/$want"
    done < "$MAN"
}
missing_parts() {   # missing_parts PACK...: names of the parts not kept
    local kind name size want p
    while IFS=$'\t' read -r kind name size want; do
        [ "$kind" = part ] || continue
        for p in "$@"; do [ "${name%-[0-9][0-9]}" = "$p" ] && [ ! -f "$STATE/parts/$want" ] && echo "$name"; done
    done < "$MAN"
}
in_manifest() { grep -q "^archive	$1	" "$MAN"; }
archive_sha() { awk -F'\t' -v p="$1" '$1 == "archive" && $2 == p {print $4}' "$MAN"; }
unxz() {
    if command -v xz > /dev/null; then xz -dc -T1
    else python3 -c 'import lzma, sys, shutil; shutil.copyfileobj(lzma.LZMAFile(sys.stdin.buffer), sys.stdout.buffer, 1 << 20)'; fi
}
# verify_files DIR REGEX: every manifest file matching REGEX, under DIR
verify_files() {
    local bad=0 n=0 kind name size want
    while IFS=$'\t' read -r kind name size want; do
        [ "$kind" = file ] || continue
        echo "$name" | grep -Eq "$2" || continue
        n=$((n + 1))
        if [ ! -f "$1/$name" ] || [ "$(sha "$1/$name")" != "$want" ]; then say "file $name: sha256 differs from the manifest"; bad=1; fi
    done < "$MAN"
    [ $bad = 0 ] && say "files: $n checked against the manifest's sha256, all equal"
    return $bad
}
# unpack PACK: the complete pack reassembled (archive sha256) and extracted into $STATE/pk/PACK-SHA
unpack() {
    local want have dir
    want=$(archive_sha "$1"); dir=$STATE/pk/$1-$want
    [ -f "$dir/.ok" ] && { echo "$dir"; return 0; }
    have=$(pack_parts "$1" | xargs cat | sha256sum | cut -d' ' -f1)
    [ "$have" = "$want" ] || { say "error: the reassembled $1 archive's sha256 $have is not the manifest's $want" >&2; return 1; }
    rm -rf "$dir"; mkdir -p "$dir"
    pack_parts "$1" | xargs cat | unxz | tar -x -C "$dir" || { say "error: extracting the $1 archive failed" >&2; return 1; }
    say "$1 archive: sha256 ok, extracted into $dir" >&2
    echo "$dir"
}
PK=""        # the verified programs: $PK/bin, $PK/tests, $PK/lib
PROG_SHA=""
DATA_DIR=""  # the verified CIFAR-10 folder (complete), or the partial one
DATA_FULL=0
DATA_BAD=0   # the complete data failed a sum
setup_programs() {
    in_manifest prog || { say "error: the manifest has no programs pack"; return 1; }
    [ -z "$(missing_parts prog)" ] || return 1
    local dir; dir=$(unpack prog) || return 1
    if [ ! -f "$dir/.ok" ]; then
        verify_files "$dir" '^(bin|tests|lib)/' || { say "error: the programs did not verify: nothing runs"; return 1; }
        touch "$dir/.ok"
    fi
    PK=$dir; PROG_SHA=$(archive_sha prog)
    say "programs: sha256 ok (archive ${PROG_SHA:0:12}); $(head -1 "$MAN" | sed 's/.*programs of //')"
    export LD_LIBRARY_PATH=$(daoe_gpu_libpath "$PK")${ORIG_LD:+:$ORIG_LD}
    BIN=$PK/bin
    local l
    l=$(ldd "$BIN/daoe-train" 2>&1)
    if echo "$l" | grep -q "not found"; then say "error: libraries not found: $(echo "$l" | grep 'not found' | tr '\n' ' ')"; return 1; fi
    say "daoe-train loads: $(echo "$l" | awk '$2 == "=>" {print $1 " -> " $3}' | grep -E "$PK|cudnn|cublas" | sed "s|$PK|PACK|" | tr '\n' ' ')"
}
official_sums() {   # the official CIFAR-10 sums, read from the source (not from the manifest)
    local dir=$1 sums i=0 f want have
    sums=$(cut -d' ' -f1 lib/core/cifar10.sha256)
    for f in data_batch_1.bin data_batch_2.bin data_batch_3.bin data_batch_4.bin data_batch_5.bin test_batch.bin; do
        i=$((i + 1))
        want=$(echo "$sums" | sed -n "${i}p")
        have=$(sha "$dir/$f" 2> /dev/null)
        if [ "$have" != "$want" ]; then
            if [ -n "${DAOE_PACK_TEST:-}" ]; then say "$f: not the official CIFAR-10 (accepted: DAOE_PACK_TEST)"
            else say "error: $f: sha256 $have is not the official $want"; return 1; fi
        fi
    done
    [ -n "${DAOE_PACK_TEST:-}" ] || say "CIFAR-10: the six files have the official sha256 (lib/core/cifar10.sha256)"
}
# Before the data are complete, the data parts present so far (1..m, in
# order) yield what they hold: test_batch and the training files in order,
# so the first two give the files the K-table and determinism runs read (the
# first 12,800 training images, the first 1,000 test images). The training
# files not here yet are stood in for by links to data_batch_1.bin in
# $STATE/partdata, which those runs never read (daoe-train reads only the
# first --train-subset images). Every file used is checked against the manifest.
PARTDATA=$STATE/partdata
setup_data() {
    in_manifest data || { say "data: none in this pack (programs only)"; return 1; }
    local D=data/cifar-10-batches-bin
    if [ -z "$(missing_parts data)" ]; then
        local dir; dir=$(unpack data) || { say "error: the data did not verify: nothing trains on them"; DATA_BAD=1; return 1; }
        if [ ! -f "$dir/.ok" ]; then
            { verify_files "$dir" "^$D/" && official_sums "$dir/$D"; } || { say "error: the data did not verify: nothing trains on them"; DATA_BAD=1; return 1; }
            touch "$dir/.ok"
        fi
        DATA_DIR=$dir/$D; DATA_FULL=1
        export CIFAR10_DIR=$DATA_DIR
        return 0
    fi
    local m; m=$(pack_parts data | wc -l)
    [ "$m" -gt 0 ] || return 1
    local key="$(archive_sha data) $m"
    if [ "$(cat "$PARTDATA/.key" 2> /dev/null)" != "$key" ]; then
        rm -rf "$PARTDATA" "$STATE/early"; mkdir -p "$STATE/early" "$PARTDATA"
        pack_parts data | xargs cat | unxz 2> /dev/null | tar -x -C "$STATE/early" 2> /dev/null
        local kind name size want good=" "
        while IFS=$'\t' read -r kind name size want; do
            [ "$kind" = file ] && [ "${name#$D/}" != "$name" ] || continue
            [ -f "$STATE/early/$name" ] && [ "$(sha "$STATE/early/$name")" = "$want" ] && good="$good${name#$D/} "
        done < "$MAN"
        say "data parts 1..$m: complete files with the manifest's sha256:${good% }"
        case $good in *" test_batch.bin "*" data_batch_1.bin "*" data_batch_2.bin "*) ;; *) return 1 ;; esac
        local f stand=""
        for f in test_batch data_batch_1 data_batch_2 data_batch_3 data_batch_4 data_batch_5; do
            case $good in
                *" $f.bin "*) ln -s "$STATE/early/$D/$f.bin" "$PARTDATA/$f.bin" ;;
                *) ln -s "$STATE/early/$D/data_batch_1.bin" "$PARTDATA/$f.bin"; stand="$stand $f.bin" ;;
            esac
        done
        echo "$key" > "$PARTDATA/.key"
        say "partial data: test_batch, data_batch_1, data_batch_2 here (at most 20,000 training images per run);${stand:+ stood in for by links to data_batch_1.bin, never read by those runs:$stand}"
    fi
    [ -f "$PARTDATA/.key" ] || return 1
    DATA_DIR=$PARTDATA; DATA_FULL=0
    export CIFAR10_DIR=$DATA_DIR
}

# ------------------------------------------------------------------ MPS
MPS_ON=0
start_mps() {
    command -v nvidia-cuda-mps-control > /dev/null || { say "MPS: nvidia-cuda-mps-control not found"; return 1; }
    mkdir -p "$MPS_DIR/pipe" "$MPS_DIR/log"
    export CUDA_MPS_PIPE_DIRECTORY=$MPS_DIR/pipe CUDA_MPS_LOG_DIRECTORY=$MPS_DIR/log
    # the control daemon runs in the card's present compute mode; nothing on the card is changed
    if ! nvidia-cuda-mps-control -d; then
        say "MPS: the daemon did not start"; unset CUDA_MPS_PIPE_DIRECTORY CUDA_MPS_LOG_DIRECTORY; return 1
    fi
    MPS_ON=1; sleep 1; say "MPS: daemon started (pipe $MPS_DIR/pipe)"
}
stop_mps() {
    [ $MPS_ON = 1 ] || return 0
    echo quit | nvidia-cuda-mps-control; sleep 1
    MPS_ON=0; unset CUDA_MPS_PIPE_DIRECTORY CUDA_MPS_LOG_DIRECTORY; say "MPS: daemon stopped"
}

# ------------------------------------------------------------------ stages
# The check belongs to the programs archive: new programs are checked anew.
check_key() { echo "check.${PROG_SHA:0:16}"; }
check_passed() { done_already "$(check_key)" || [ "${CHECK_PASSED_FOR:-}" = "$PROG_SHA" ]; }
check_failed() { [ -f "$STATE/failed/$(check_key)" ]; }
stage_check() {
    need 120 "check" || return 3
    local w=$STATE/verify rc
    rm -rf "$w"
    say "check: bench/gpu_verify.sh (test_cuda, short runs on synthetic data, kill and resume, memcheck)"
    VERIFY_DEADLINE=$(left) DRY_RUN=$DRY bench/gpu_verify.sh "$PK" "$w"
    rc=$?
    cp "$w/summary.tsv" "$OUT/verify_summary.tsv" 2> /dev/null
    [ -d "$w" ] && (cd "$w" && tar -c --exclude='*.safetensors' --exclude='synthetic' --exclude='*.tmp.*' . | xz -6 -T0 > "$OUT/verify.tar.xz")
    case $rc in
        0) rm -f "$STATE/failed/$(check_key)"; mark "$(check_key)"; say "check: every verification passed" ;;
        3) say "check: not every verification ran before the deadline: run the call again" ;;
        *) awk -F'\t' '$2 == "FAIL" {printf "%s ", $1}' "$w/summary.tsv" > "$STATE/failed/$(check_key)" 2> /dev/null
           [ -s "$STATE/failed/$(check_key)" ] || echo "gpu_verify.sh(exit $rc) " > "$STATE/failed/$(check_key)"
           say "check FAILED: $(cat "$STATE/failed/$(check_key)")- the procedure stops here: nothing trains with these programs" ;;
    esac
    return $rc
}

# steady img/s of one run: mean images_per_second of the epochs after the first
run_ips() {
    awk -F, 'NR == 1 {for (i = 1; i <= NF; i++) if ($i == "images_per_second") c = i; next}
             $1 > 1 && c {s += $c; n++} END {if (n) printf "%.0f", s / n; else print "nan"}' "$1/epochs.csv" 2> /dev/null || echo nan
}
# one K-table row: K concurrent runs of OPT, started together
ktable_row() {
    local mps=$1 opt=$2 K=$3 dir=$STATE/work/ktable/mps$1-$2-K$3
    local thr=$(( NCPU / K > 0 ? NCPU / K : 1 )) i t0 t1 pids="" ok=0 steady=0 mn="" mx="" v
    rm -rf "$dir"; mkdir -p "$dir"
    t0=$(date +%s.%N)
    for i in $(seq 1 "$K"); do
        timeout "$(tleft)" "$BIN/daoe-train" $TRAIN_KT --optimizer "$opt" --seed "$i" --train-subset "$KT_IMAGES" \
            --epochs "$KT_EPOCHS" --threads "$thr" --checkpoint-minutes 1000 --trace-every 10 --quiet \
            --out "$dir/r$i" > "$dir/r$i.log" 2>&1 &
        pids="$pids $!"
    done
    for i in $pids; do wait "$i"; done
    t1=$(date +%s.%N)
    for i in $(seq 1 "$K"); do
        v=$(run_ips "$dir/r$i")
        [ "$v" = nan ] && continue
        ok=$((ok + 1)); steady=$((steady + v))
        [ -z "$mn" ] || [ "$v" -lt "$mn" ] && mn=$v
        [ -z "$mx" ] || [ "$v" -gt "$mx" ] && mx=$v
    done
    local wall e2e
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}')
    e2e=$(awk -v k="$ok" -v n="$KT_IMAGES" -v e="$KT_EPOCHS" -v w="$wall" 'BEGIN {printf "%.0f", k * n * e / w}')
    if [ $ok != "$K" ] && [ "$(left)" -le 0 ]; then
        say "ktable: $opt MPS $([ "$mps" = 1 ] && echo on || echo off) K=$K cut short by the deadline: not kept (measured again next call)"
        return 1
    fi
    [ $ok = "$K" ] || steady=nan
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$opt" "$([ "$mps" = 1 ] && echo on || echo off)" "$K" "$ok" \
        "$steady" "${mn:-nan}" "${mx:-nan}" "$e2e" "$wall" >> "$STATE/ktable.tsv"
    say "ktable: $opt MPS $([ "$mps" = 1 ] && echo on || echo off) K=$K: $ok/$K runs, sum of steady img/s $steady (per run ${mn:-?}..${mx:-?}), end to end $e2e img/s, wall $wall s"
}
stage_ktable() {
    local per=${KT_SECONDS:-25}   # what one row may take
    if [ ! -f "$STATE/ktable.tsv" ]; then
        printf '# K concurrent daoe-train runs on one %s, started together: %s, %s training images x %s epochs each, seeds 1..K.\n' \
            "$([ -n "$DRY" ] && echo "CPU (dry run)" || nvidia-smi --query-gpu=name --format=csv,noheader 2> /dev/null | head -1)" \
            "$TRAIN_KT" "$KT_IMAGES" "$KT_EPOCHS" > "$STATE/ktable.tsv"
        printf '# steady: sum over the runs of their mean images_per_second (training steps only) in epochs 2..; e2e: K x images x epochs / wall (start-up and evaluation included)\n' >> "$STATE/ktable.tsv"
        printf 'optimizer\tmps\tK\truns_ok\tsteady_img_s\tmin_run_img_s\tmax_run_img_s\te2e_img_s\twall_s\n' >> "$STATE/ktable.tsv"
    fi
    local mps opt K modes=0 complete=1 rows=0 kept=0
    [ -z "$DRY" ] && [ "$KT_MPS" = 1 ] && modes="0 1"
    [ -n "$DRY" ] && say "skipped: ktable with MPS: no GPU"
    for mps in $modes; do
        local mpsname; mpsname=$([ "$mps" = 1 ] && echo on || echo off)
        # the rows still to measure in this mode
        local todo=""
        for K in $KT_K; do
            [ "$mps" = 1 ] && [ "$K" = 1 ] && continue
            for opt in $KT_OPTS; do
                if awk -F'\t' -v o="$opt" -v m="$mpsname" -v k="$K" '$1 == o && $2 == m && $3 == k {f = 1} END {exit !f}' "$STATE/ktable.tsv"; then
                    kept=$((kept + 1))
                else todo="$todo $opt:$K"; fi
            done
        done
        [ -n "$todo" ] || continue
        if [ "$mps" = 1 ]; then
            start_mps || { grep -q '^# MPS: the daemon' "$STATE/ktable.tsv" || printf '# MPS: the daemon could not be started\n' >> "$STATE/ktable.tsv"; continue; }
        fi
        local row
        for row in $todo; do
            opt=${row%:*}; K=${row#*:}
            if [ "$rows" -ge "$KT_ROWS" ]; then say "ktable: KT_ROWS=$KT_ROWS rows measured in this call: the rest in the next"; complete=0; break 2; fi
            need "$per" "ktable $opt MPS $mpsname K=$K" || { complete=0; break 2; }
            ktable_row "$mps" "$opt" "$K" || { complete=0; break 2; }
            rows=$((rows + 1))
        done
        [ "$mps" = 1 ] && stop_mps
    done
    stop_mps
    [ $kept = 0 ] || say "ktable: $kept row(s) kept from an earlier call, not measured again"
    # a table cut short: its rows stay, the next call measures the rest (and then chooses)
    [ $complete = 1 ] || return 1
    # the choice: the highest mean (over the optimizers) of steady img/s; the
    # smallest K within 3 % of it (fewer runs: less memory, finer granularity)
    awk -F'\t' '!/^#/ && $1 != "optimizer" && $5 != "nan" {s[$2 "\t" $3] += $5; n[$2 "\t" $3]++}
        END {for (k in s) if (n[k] == nopt) print k "\t" s[k] / n[k]}' nopt="$(echo $KT_OPTS | wc -w)" "$STATE/ktable.tsv" \
        | sort -t$'\t' -k3,3gr > "$STATE/ktable_scores"
    local best
    best=$(awk -F'\t' 'NR == 1 {top = $3} {if ($3 >= 0.97 * top) print $2 "\t" $1 "\t" $3}' "$STATE/ktable_scores" | sort -t$'\t' -k1,1n -k2,2 | head -1)
    if [ -n "$best" ]; then
        echo "$best" > "$STATE/ktable_best"
        sed -i '/^# chosen for the sweeps/d' "$STATE/ktable.tsv"
        printf '# chosen for the sweeps: K=%s MPS %s (mean steady img/s %s; the smallest K within 3%% of the best)\n' $best >> "$STATE/ktable.tsv"
        say "ktable: chosen K=$(cut -f1 "$STATE/ktable_best") MPS $(cut -f2 "$STATE/ktable_best")"
    fi
    mark ktable
}
stage_determinism() {
    need 60 "determinism" || return 1
    local dir=$STATE/work/determinism i pids="" opt
    rm -rf "$dir"; mkdir -p "$dir"
    printf '# the same run (seed 7) alone (K=1) and among K-1 other concurrent runs: sha256 of final.safetensors\n# %s\nrun\tK\tmps\tsha256\tsame_as_K1\n' "$TRAIN_DET" > "$STATE/determinism.tsv"
    for opt in daoe sgd; do
        timeout "$(tleft)" "$BIN/daoe-train" $TRAIN_DET --optimizer $opt --seed 7 --quiet --out "$dir/$opt-K1" > "$dir/$opt-K1.log" 2>&1
    done
    local groups="0"
    [ -z "$DRY" ] && [ "$(cut -f2 "$STATE/ktable_best" 2> /dev/null)" = on ] && groups="0 1"
    local mps
    for mps in $groups; do
        [ "$mps" = 1 ] && { start_mps || continue; }
        pids=""
        for opt in daoe sgd; do
            timeout "$(tleft)" "$BIN/daoe-train" $TRAIN_DET --optimizer $opt --seed 7 --quiet --out "$dir/$opt-K$DET_K-mps$mps" > "$dir/$opt-K$DET_K-mps$mps.log" 2>&1 &
            pids="$pids $!"
        done
        for i in $(seq 3 "$DET_K"); do
            timeout "$(tleft)" "$BIN/daoe-train" $TRAIN_DET --optimizer daoe --seed $((7 + i)) --quiet --out "$dir/other$i-mps$mps" > "$dir/other$i-mps$mps.log" 2>&1 &
            pids="$pids $!"
        done
        for i in $pids; do wait "$i"; done
        [ "$mps" = 1 ] && stop_mps
    done
    local a b same all=1
    for opt in daoe sgd; do
        a=$(sha "$dir/$opt-K1/final.safetensors" 2> /dev/null || echo missing)
        printf '%s\t1\toff\t%s\t-\n' $opt "$a" >> "$STATE/determinism.tsv"
        for mps in $groups; do
            b=$(sha "$dir/$opt-K$DET_K-mps$mps/final.safetensors" 2> /dev/null || echo missing)
            same=no; [ "$a" = "$b" ] && [ "$a" != missing ] && same=yes
            [ $same = yes ] || all=0
            printf '%s\t%s\t%s\t%s\t%s\n' $opt "$DET_K" "$([ $mps = 1 ] && echo on || echo off)" "$b" $same >> "$STATE/determinism.tsv"
            say "determinism: $opt K=1 vs K=$DET_K (MPS $([ $mps = 1 ] && echo on || echo off)): $([ $same = yes ] && echo "identical final.safetensors" || echo "DIFFERENT ($a vs $b)")"
        done
    done
    mark determinism
    [ $all = 1 ]
}
# the sweeps' -j and MPS: SWEEP_J / SWEEP_MPS, else the K table's choice, else the profile's runs_per_gpu
sweep_jobs() {
    if [ -n "${SWEEP_J:-}" ]; then echo "-j $SWEEP_J"
    elif [ -f "$STATE/ktable_best" ]; then echo "-j $(cut -f1 "$STATE/ktable_best")"; fi
}
sweep_mps() {
    local m=${SWEEP_MPS:-$(cut -f2 "$STATE/ktable_best" 2> /dev/null)}
    [ -z "$DRY" ] && [ "$m" = on ]
}
# The sweeps run in $STATE (results/<profile> there, so that they outlive a
# call whose tree is fresh), seeded with the tree's committed results/<profile>
# (finished runs of earlier sessions are skipped); lr_from (results/tune/tuned.json)
# resolves there too.
RES=$STATE/results
seed_results() {
    [ -d "$RES/$1" ] && return 0
    mkdir -p "$RES"
    if [ -d "results/$1" ]; then cp -r "results/$1" "$RES/$1"; say "$1: seeded from the tree's results/$1 ($(ls -d results/$1/*/ 2> /dev/null | wc -l) run folders)"; fi
}
timing() {   # append a row to RESULTS/timings.tsv as Makefile.artifact does (REPRODUCE.md quotes it)
    [ -f "$1/timings.tsv" ] || printf '#step\tseconds\tfinished\thost\n' > "$1/timings.tsv"
    printf '%s\t%s\t%s\t%s\n' "$2" "$3" "$(date -Iseconds)" "$(uname -n)" >> "$1/timings.tsv"
}
# run_sweep NAME RESULTS PROFILE-ARGS...: daoe-sweep, stopped cleanly (SIGTERM) at the deadline
run_sweep() {
    local name=$1 res=$2; shift 2
    local t0 t1 rc j
    j=$(sweep_jobs)
    seed_results "$name"
    mkdir -p "$STATE/$res"
    sweep_mps && start_mps
    say "$name: (in $STATE) daoe-sweep $* --results $res $j (stops at the deadline; a later call or session resumes)"
    t0=$(date +%s.%N)
    (cd "$STATE" && timeout -s TERM -k 30 "$(tleft)" "$BIN/daoe-sweep" "$@" --results "$res" $j)
    rc=$?
    t1=$(date +%s.%N)
    stop_mps
    timing "$STATE/$res" sweep "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}')"
    say "$name: daoe-sweep exit $rc ($(ls -d "$STATE/$res"/*/ 2> /dev/null | wc -l) run folders, $(grep -l '"finished"' "$STATE/$res"/*/summary.json 2> /dev/null | wc -l) finished)"
    return $rc
}
stage_tune() {
    need 60 "tune" || return 1
    run_sweep tune results/tune "${PROF_TUNE[@]}" || return 1
    local t0; t0=$(date +%s.%N)
    (cd "$STATE" && "$BIN/daoe-stats" results/tune) > "$STATE/work/tune_stats.log" 2>&1 || { say "tune: daoe-stats failed: $(tail -2 "$STATE/work/tune_stats.log")"; return 1; }
    timing "$RES/tune" stats "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')"
    [ -f "$RES/tune/tuned.json" ] && say "tune: results/tune/tuned.json written: $(python3 -c 'import json, sys; w = json.load(open(sys.argv[1]))["winners"]; print(", ".join("%s %s" % (k, " ".join(v["args"])) for k, v in w.items() if v))' "$RES/tune/tuned.json" 2> /dev/null)"
    mark tune
}
tuned_sgd_lr() {
    python3 -c 'import json, sys
a = json.load(open(sys.argv[1]))["winners"]["sgd"]["args"]
print(a[a.index("--lr") + 1])' "$RES/tune/tuned.json" 2> /dev/null || echo 0.1
}
stage_torch() {
    if [ -n "$DRY" ]; then
        python3 -c 'import ast, sys; ast.parse(open(sys.argv[1]).read())' bench/torch_train.py && say "torch: bench/torch_train.py parses"
        say "skipped: torch training: no GPU"; mark torch; return 0
    fi
    need 90 "torch" || return 1
    local lr t=$(( $(left) < 300 ? $(left) : 300 ))
    lr=$(tuned_sgd_lr)
    say "torch: bench/torch_train.py, SGD lr $lr, $TORCH_EPOCHS epochs (eager, AMP bf16, channels_last, data on the GPU)"
    LD_LIBRARY_PATH=$ORIG_LD PYTHONUNBUFFERED=1 timeout "$t" python3 bench/torch_train.py --data "$CIFAR10_DIR" \
        --epochs "$TORCH_EPOCHS" --lr "$lr" --json "$STATE/torch_train.json" 2>&1 | grep -v Warning | tee "$STATE/work/torch_train.log"
    [ -f "$STATE/torch_train.json" ] && mark torch
}
stage_quick() {
    seed_results tune
    [ -f "$RES/tune/tuned.json" ] || { say "skipped: quick: no results/tune/tuned.json (tune has not finished)"; return 1; }
    need 60 "quick" || return 1
    run_sweep quick results/quick "${PROF_QUICK[@]}" && mark quick
}
stage_paper() {
    seed_results tune
    [ -f "$RES/tune/tuned.json" ] || { say "skipped: paper: no results/tune/tuned.json"; return 1; }
    # a paper run that cannot finish in this call is lost (its checkpoint is too large to carry back)
    local est=$PAPER_RUN_S
    if [ -z "$DRY" ] && [ -f "$STATE/ktable_scores" ] && [ -f "$STATE/ktable_best" ]; then
        local k agg
        k=$(cut -f1 "$STATE/ktable_best"); agg=$(cut -f3 "$STATE/ktable_best")
        est=$(awk -v k="$k" -v a="$agg" 'BEGIN {printf "%d", 100 * 45000 * k / a * 1.15 + 30}')
    fi
    [ -n "$DRY" ] && est=10
    need "$est" "paper (one 100-epoch run: ~$est s at the chosen K)" || return 1
    run_sweep paper results/paper "${PROF_PAPER[@]}"
}

# ------------------------------------------------------------------ results
finish() {
    say "packing the results into $OUT"
    local r=()
    for p in tune quick paper; do [ -d "$RES/$p" ] && r+=("results/$p"); done
    [ ${#r[@]} -gt 0 ] && (cd "$STATE" && tar -c --exclude='*.safetensors' "${r[@]}" | xz -6 -T0 > "$OUT/results.tar.xz")
    [ -d "$STATE/work" ] && (cd "$STATE" && tar -c --exclude='*.safetensors' --exclude='checkpoint*' work $(ls ktable_scores ktable_best 2> /dev/null) | xz -6 -T0 > "$OUT/checks.tar.xz")
    for f in ktable.tsv determinism.tsv torch_train.json; do [ -f "$STATE/$f" ] && cp "$STATE/$f" "$OUT/"; done
    echo "===================================================== summary (this call: $(elapsed) s)"
    echo "stages done on this machine: $(cd "$STATE/done" && ls 2> /dev/null | tr '\n' ' ')"
    [ -f "$OUT/verify_summary.tsv" ] && { echo "check (verify_summary.tsv):"; sed 's/^/  /' "$OUT/verify_summary.tsv"; }
    ls "$STATE/failed"/check.* > /dev/null 2>&1 && echo "FAILED checks: $(cat "$STATE/failed"/check.* | tr '\n' ' ')"
    if [ -f "$STATE/ktable.tsv" ]; then
        if command -v column > /dev/null; then grep -v '^#' "$STATE/ktable.tsv" | column -t -s$'\t'
        else grep -v '^#' "$STATE/ktable.tsv"; fi
        grep '^# chosen\|^# MPS' "$STATE/ktable.tsv"
    fi
    [ -f "$STATE/determinism.tsv" ] && grep -v '^#' "$STATE/determinism.tsv"
    [ -f "$STATE/torch_train.json" ] && python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); print("torch: final test acc %.4f, training %.1f s, wall %.1f s, %.0f img/s" % (r["final_test_acc"], r["train_seconds"], r["wall_seconds"], r["images_per_second"]))' "$STATE/torch_train.json"
    for p in tune quick paper; do
        [ -d "$RES/$p" ] || continue
        echo "results/$p: $(grep -l '"finished"' "$RES/$p"/*/summary.json 2> /dev/null | wc -l) finished runs:"
        for s in "$RES/$p"/*/summary.json; do
            [ -f "$s" ] && python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); print("  %-22s %-9s test %.4f  val %.4f  %6.0f img/s  %6.1f s" % (sys.argv[1].split("/")[-2], r.get("status"), r.get("final_test_acc") or 0, r.get("final_val_acc") or 0, r.get("images_per_second") or 0, r.get("wall_seconds") or 0))' "$s" 2> /dev/null
        done
    done
    [ -f "$STATE/torch_train.json" ] && python3 - "$STATE/torch_train.json" "$RES/quick" << 'PY'
import glob, json, sys
t = json.load(open(sys.argv[1]))
runs = [json.load(open(p)) for p in sorted(glob.glob(sys.argv[2] + "/sgd-s*/summary.json"))]
runs = [r for r in runs if r.get("status") == "finished"]
if runs:
    acc = sum(r["final_test_acc"] for r in runs) / len(runs)
    wall = sum(r["wall_seconds"] for r in runs) / len(runs)
    print("SGD, %d epochs: daoe-train (quick, %d seeds, concurrent runs) test acc %.4f, wall %.1f s per run; "
          "PyTorch (alone) test acc %.4f, wall %.1f s" % (t["epochs"], len(runs), acc, wall, t["final_test_acc"], t["wall_seconds"]))
PY
    echo "files in \$OUT: $(cd "$OUT" && ls | tr '\n' ' ')"
}

main() {
    trap 'stop_mps' EXIT
    say "gpu_device.sh ${DRY:+(DRY_RUN=$DRY) }on $(uname -n), deadline $DEADLINE s, state $STATE, stages: ${*:-auto}"
    [ -n "$DRY" ] || nvidia-smi --query-gpu=name,driver_version,memory.total,compute_mode,clocks.sm --format=csv 2>&1 | head -3
    store_parts || return 2
    local miss; miss=$(missing_parts prog data | tr '\n' ' ')
    [ -z "$miss" ] || say "pack incomplete: missing part(s) $miss- carry the next one in the next call, at once (carried files live ~30 s)"
    if ! setup_programs; then
        [ -n "$(missing_parts prog)" ] || return 1   # here but not verified
        say "the programs are not complete (carry $(missing_parts prog | tr '\n' ' ')): nothing runs"; return 0
    fi
    setup_data
    local stages="$*" s
    if [ "$stages" = verify ]; then
        [ "$DATA_FULL" = 1 ] && say "verify only: the pack is complete and verified"
        return $DATA_BAD
    fi
    if [ -z "$stages" ]; then
        for s in $ALL_STAGES; do
            if [ $s = check ]; then check_passed || stages=check; else done_already "$s" || stages="$stages $s"; fi
        done
    fi
    say "stages to run:${stages:- none (all done on this machine)}"
    for s in $stages; do
        case " $ALL_STAGES " in *" $s "*) ;; *) say "unknown stage $s (known: $ALL_STAGES)"; continue ;; esac
        [ "$(left)" -gt 0 ] || { say "deadline reached: stopping before $s"; break; }
        if [ $s = check ]; then
            if check_passed; then say "check: passed already for these programs"; continue; fi
        elif check_failed; then
            say "stopped before $s: the check failed for these programs ($(cat "$STATE/failed/$(check_key)")): nothing trains with a failing binary; fix, rebuild, re-pack (bench/gpu_pack.sh) and start again with the programs' call"
            return 1
        elif ! check_passed; then
            say "stopped before $s: the check has not passed for these programs (stage check first, or CHECK_PASSED_FOR=<sha256 of the programs archive> when an earlier session's check passed)"
            return 1
        fi
        case $s in
            ktable|determinism)
                if [ -z "$DATA_DIR" ]; then say "skipped: $s: needs the first data parts (test_batch, data_batch_1, data_batch_2)"; continue; fi
                if [ "$DATA_FULL" = 0 ] && [ "$KT_IMAGES" -gt 20000 ]; then say "skipped: $s: KT_IMAGES > 20000 needs the complete data"; continue; fi ;;
            tune|torch|quick|paper)
                if [ "$DATA_FULL" = 0 ]; then say "skipped: $s: the data are not complete"; continue; fi ;;
        esac
        say "---- $s${DATA_DIR:+ (data: $([ "$DATA_FULL" = 1 ] && echo complete || echo partial))}"
        "stage_$s"
        local rc=$?
        if [ $s = check ] && [ $rc != 0 ]; then return 1; fi
    done
}

main "$@" 2>&1 | tee -a "$STATE/gpu_device.log"
rc=${PIPESTATUS[0]}
finish 2>&1 | tee -a "$STATE/gpu_device.log"
cp "$STATE/gpu_device.log" "$OUT/gpu_device.log"
exit "$rc"
