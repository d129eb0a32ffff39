#!/usr/bin/env bash
# The GPU path verified before any device time goes on results: the check
# stage of bench/gpu_device.sh, the first device call of a GPU session
# (REPRODUCE.md, "GPU session procedure"; about 3 minutes on an H100). One
# line per check in WORK/summary.tsv (check, ok|FAIL|skipped, seconds, what):
#   test_cuda          the GPU tests in full
#   synthetic_data     CIFAR-shaped random data, made here (bench/make_synthetic_cifar.py)
#   bf16_sgd bf16_daoe daoe-train, 2 epochs of 2,560 images, width 64, bf16; evaluation
#                      after each epoch on 500 validation and 1,000 test images (partial
#                      batches: new convolution plans between graph replays)
#   fp32_daoe_two      the same at width 16 in fp32 --deterministic, DAO-E --ctrl-pass two;
#   fp32_daoe_hidden   and --controller-hidden 8 --meta-every 4 --alpha-ema 0.9 (their traces
#                      are compared with the CPU's on return: bench/gpu_compare.sh)
#   resume             fp32_daoe_two killed by SIGKILL at step 30 (in epoch 2; DAOE_TEST_KILL),
#                      then --resume: final.safetensors, alpha.csv and epochs.csv identical
#                      to the uninterrupted run
#   debug_sync         a short bf16 DAO-E run with --debug-sync
#   config_json        bf16_daoe's config.json names the GPU, its driver, the CUDA runtime,
#                      cuDNN and cuBLAS versions and a convolution algorithm for every plan
#   memcheck           compute-sanitizer memcheck, CUDA graphs on, the cuDNN workspace moved
#                      at every new plan (DAOE_TEST_WS_MOVE=1): test_cuda --quick and a short
#                      daoe-train run evaluating between epochs: no error
# A run that fails is run again at once with --debug-sync (test_cuda with
# DAOE_DEBUG_SYNC=1), so that its error names the kernel; both logs are kept
# and the summary quotes the second's last line. Every check runs even when
# an earlier one failed (they are independent); the caller stops the
# procedure on any failure.
#
#   bench/gpu_verify.sh PREFIX WORK   PREFIX/bin, PREFIX/tests: the programs (bench/gpu_pack.sh's)
#   VERIFY_DEADLINE=S   seconds it may take (300); a check that does not fit: "skipped", exit 3
#   DRY_RUN=cpu         the cpu backend (fp32, width 8, 1 thread, 512 images, killed at step
#                       12): the procedure rehearsed; GPU-only checks say "skipped: no GPU"
# Exit 0: every check passed (or was GPU-only in a dry run); 1: a check failed; 3: not all ran.
set -u
cd "$(dirname "$0")/.." || exit 2
[ $# = 2 ] || { echo "usage: bench/gpu_verify.sh PREFIX WORK" >&2; exit 2; }
PRE=$(cd "$1" && pwd)
mkdir -p "$2"
W=$(cd "$2" && pwd)
BIN=$PRE/bin
TESTS=$PRE/tests
DRY=${DRY_RUN:-}
T0=$(date +%s)
DEADLINE=${VERIFY_DEADLINE:-$([ -n "$DRY" ] && echo 1200 || echo 300)}
. bench/gpu_env.sh
. tests/run_same.sh
export LD_LIBRARY_PATH=$(daoe_gpu_libpath "$PRE")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
SUM=$W/summary.tsv
: > "$SUM"
fails=0
incomplete=0
left() { echo $(( DEADLINE - $(date +%s) + T0 )); }
# result NAME STATUS T0 DETAIL: one summary line
result() {
    local secs=$(( $(date +%s) - $3 ))
    printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$secs" "$4" >> "$SUM"
    printf '[%s s] check %s: %s (%s s) %s\n' "$(( $(date +%s) - T0 ))" "$1" "$2" "$secs" "$4"
    [ "$2" = FAIL ] && fails=$((fails + 1))
    return 0
}
# fits NAME SECONDS: is there time for the check? (else: skipped)
fits() {
    if [ "$(left)" -lt "$2" ]; then result "$1" skipped "$(date +%s)" "not enough time (needs ~$2 s, $(left) s left)"; incomplete=1; return 1; fi
}
lastline() { grep -v '^\s*$' "$1" 2> /dev/null | tail -1 | cut -c1-300; }

SYN=$W/synthetic
if [ -n "$DRY" ]; then   # the plumbing, on 2 busy cores: smaller runs, one thread each
    BE="--backend cpu --threads 1"; BF16="--width 8"; FP32="--backend cpu --threads 1 --width 8"; RUN_S=300
    SHORT="--train-subset 512 --val 100 --test-subset 200 --epochs 2 --batch 64"; KILL=12
else
    BE="--backend cuda"; BF16="--precision bf16 --width 64"; FP32="--backend cuda --deterministic --width 16"; RUN_S=120
    SHORT="--train-subset 2560 --val 500 --test-subset 1000 --epochs 2 --batch 128"; KILL=30   # 20 steps an epoch
fi
SHORT="$SHORT --trace-every 1 --checkpoint-minutes 0 --quiet --seed 1"
COMMON="--data $SYN $SHORT"
# the fp32 runs: gentle rates for every member (at the defaults these random-label runs
# are chaotic: tests/test_cuda.c, gentle_rates); their flags (but --data) in runs.tsv,
# for the CPU twins of bench/gpu_compare.py
GENTLE="--sgd-lr 0.01 --adam-lr 1e-4 --rmsprop-lr 1e-5 --lion-lr 1e-5"
RUNS="bf16_sgd	$BE $BF16 --optimizer sgd
bf16_daoe	$BE $BF16 --optimizer daoe
fp32_daoe_two	$FP32 --optimizer daoe $GENTLE --ctrl-pass two
fp32_daoe_hidden	$FP32 --optimizer daoe $GENTLE --controller-hidden 8 --meta-every 4 --alpha-ema 0.9"
flags_of() { echo "$RUNS" | awk -F'\t' -v n="$1" '$1 == n {print $2}'; }
echo "$RUNS" | awk -F'\t' -v c="$SHORT" '/^fp32/ {print $1 "\t" $2 " " c}' > "$W/runs.tsv"
echo "gpu_verify.sh ${DRY:+(DRY_RUN=$DRY) }on $(uname -n): programs $PRE, work $W, deadline $DEADLINE s"

# ------------------------------------------------------------------ test_cuda
t=$(date +%s)
if fits test_cuda 60; then
    rc=0
    timeout $(( $(left) < 240 ? $(left) : 240 )) "$TESTS/test_cuda" > "$W/test_cuda.log" 2>&1 || rc=$?
    if [ $rc = 0 ]; then result test_cuda ok "$t" "$(lastline "$W/test_cuda.log")"
    elif [ $rc = 77 ] && [ -n "$DRY" ]; then result test_cuda skipped "$t" "no GPU (test_cuda exit 77)"
    else
        DAOE_DEBUG_SYNC=1 timeout 240 "$TESTS/test_cuda" > "$W/test_cuda.debug-sync.log" 2>&1
        result test_cuda FAIL "$t" "exit $rc: $(grep -c '^FAIL' "$W/test_cuda.log") FAIL lines, first: $(grep -m1 '^FAIL' "$W/test_cuda.log" | cut -c1-200); rerun with DAOE_DEBUG_SYNC=1: $(lastline "$W/test_cuda.debug-sync.log")"
    fi
fi

# ------------------------------------------------------------------ synthetic data
t=$(date +%s)
if python3 bench/make_synthetic_cifar.py "$SYN" > "$W/synthetic.log" 2>&1; then
    (cd "$SYN" && sha256sum *.bin) > "$W/synthetic.sha256"
    result synthetic_data ok "$t" "$(ls "$SYN" | wc -l) files, sha256 in synthetic.sha256"
else
    result synthetic_data FAIL "$t" "$(lastline "$W/synthetic.log")"
    echo "gpu_verify.sh: no data: the training checks cannot run"
fi

# ------------------------------------------------------------------ training runs
# run NAME FLAGS...: daoe-train into W/NAME; again with --debug-sync when it fails
train() {
    local name=$1; shift
    local rc=0
    rm -rf "${W:?}/$name"
    timeout $RUN_S "$BIN/daoe-train" "$@" --out "$W/$name" > "$W/$name.log" 2>&1 || rc=$?
    [ $rc = 0 ] && grep -q '"status":[[:space:]]*"finished"' "$W/$name/summary.json" 2> /dev/null && return 0
    timeout $RUN_S "$BIN/daoe-train" "$@" --debug-sync --out "$W/$name.debug-sync" > "$W/$name.debug-sync.log" 2>&1
    echo "exit $rc ($(lastline "$W/$name.log")); rerun with --debug-sync: $(lastline "$W/$name.debug-sync.log")"
    return 1
}
for name in bf16_sgd bf16_daoe fp32_daoe_two fp32_daoe_hidden; do
    t=$(date +%s)
    [ -d "$SYN" ] || { result $name FAIL "$t" "no synthetic data"; continue; }
    fits $name 30 || continue
    # shellcheck disable=SC2046
    if why=$(train $name $(flags_of $name) $COMMON); then
        result $name ok "$t" "$(awk -F, 'NR > 1 {e = $1; l = $2; v = $5; a = $7} END {printf "epoch %s: train loss %s, val acc %s, test acc %s", e, l, v, a}' "$W/$name/epochs.csv")"
    else result $name FAIL "$t" "$why"; fi
done

# ------------------------------------------------------------------ resume
t=$(date +%s)
if [ ! -f "$W/fp32_daoe_two/final.safetensors" ]; then result resume FAIL "$t" "no uninterrupted fp32_daoe_two run to compare with"
elif fits resume 40; then
    R=$W/resume
    rm -rf "$R"
    rc=0
    # shellcheck disable=SC2046
    (DAOE_TEST_KILL=step@$KILL timeout $RUN_S "$BIN/daoe-train" $(flags_of fp32_daoe_two) $COMMON --out "$R" > "$W/resume.1.log" 2>&1) 2> /dev/null || rc=$?
    rc2=0
    # shellcheck disable=SC2046
    [ $rc = 137 ] && { timeout $RUN_S "$BIN/daoe-train" $(flags_of fp32_daoe_two) $COMMON --out "$R" --resume > "$W/resume.2.log" 2>&1 || rc2=$?; }
    if [ $rc != 137 ]; then result resume FAIL "$t" "the run was not killed at step $KILL (exit $rc, want 137): $(lastline "$W/resume.1.log")"
    elif [ $rc2 != 0 ]; then result resume FAIL "$t" "--resume exit $rc2: $(lastline "$W/resume.2.log")"
    elif same "$R" "$W/fp32_daoe_two"; then result resume ok "$t" "killed at step $KILL (SIGKILL), resumed: final.safetensors, alpha.csv, epochs.csv identical"
    else result resume FAIL "$t" "killed at step $KILL and resumed: differs from the uninterrupted run"; fi
fi

# ------------------------------------------------------------------ --debug-sync
t=$(date +%s)
if [ -d "$SYN" ] && fits debug_sync 30; then
    # shellcheck disable=SC2046
    if timeout $RUN_S "$BIN/daoe-train" $BE $BF16 --optimizer daoe --debug-sync --data "$SYN" --train-subset 512 --epochs 1 \
        --val 100 --test-subset 100 --quiet --out "$W/debug_sync" > "$W/debug_sync.log" 2>&1; then
        result debug_sync ok "$t" "exit 0"
    else result debug_sync FAIL "$t" "$(lastline "$W/debug_sync.log")"; fi
fi

# ------------------------------------------------------------------ config.json
t=$(date +%s)
if [ -f "$W/bf16_daoe/config.json" ]; then
    why=$(python3 - "$W/bf16_daoe/config.json" "$DRY" << 'PY'
import json, sys
c = json.load(open(sys.argv[1]))
if sys.argv[2]:
    print("skipped: no GPU (the cpu backend's record: %s)" % ", ".join(k for k in ("blas", "cpu_conv_engine") if k in c))
    sys.exit(0)
g, v, cu = c.get("gpu", {}), c.get("versions", {}), c.get("cuda", {})
convs = cu.get("convolutions", [])
bad = [k for k in ("name", "compute_capability") if not g.get(k)] + \
      [k for k in ("cuda_runtime", "cudnn", "cublas") if not v.get(k)] + \
      (["convolutions"] if len(convs) < 5 or any(x.get("forward") == "not chosen" for x in convs) else [])
print(("missing: " + " ".join(bad) + "; ") * bool(bad) +
      "%s, driver %s, CUDA %s, cuDNN %s, cuBLAS %s, %d plans, search: %s" % (g.get("name"), g.get("driver"),
      v.get("cuda_runtime"), v.get("cudnn"), v.get("cublas"), len(convs), cu.get("cudnn_search")))
sys.exit(1 if bad else 0)
PY
    )
    rc=$?
    case $rc:$why in
        0:skipped*) result config_json skipped "$t" "${why#skipped: }" ;;
        0:*) result config_json ok "$t" "$why" ;;
        *) result config_json FAIL "$t" "$why" ;;
    esac
else result config_json FAIL "$t" "no bf16_daoe/config.json"; fi

# ------------------------------------------------------------------ memcheck
t=$(date +%s)
CS=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2> /dev/null)
if [ -n "$DRY" ]; then result memcheck skipped "$t" "no GPU"
elif [ -z "$CS" ]; then result memcheck FAIL "$t" "compute-sanitizer not found"
elif fits memcheck 60; then
    mc() {   # mc LOG CMD...: memcheck of CMD, graphs on, the workspace moved at every new plan
        DAOE_TEST_WS_MOVE=1 timeout $(( $(left) < 200 ? $(left) : 200 )) "$CS" --tool memcheck --leak-check no --error-exitcode 90 "$@" > "$1.log" 2>&1
    }
    r1=0; r2=0
    mc "$W/memcheck_test_cuda" "$TESTS/test_cuda" --quick || r1=$?
    [ -d "$SYN" ] && { mc "$W/memcheck_train" "$BIN/daoe-train" --backend cuda --deterministic --optimizer daoe --ctrl-pass two \
        --width 8 --data "$SYN" --train-subset 384 --batch 64 --epochs 2 --val 100 --test-subset 100 --checkpoint-minutes 1000 \
        --quiet --out "$W/memcheck_run" || r2=$?; }
    s1=$(grep -m1 'ERROR SUMMARY' "$W/memcheck_test_cuda.log"); s2=$(grep -m1 'ERROR SUMMARY' "$W/memcheck_train.log" 2> /dev/null)
    if [ $r1 = 0 ] && [ $r2 = 0 ]; then result memcheck ok "$t" "test_cuda --quick: ${s1:-?}; daoe-train: ${s2:-?}"
    else result memcheck FAIL "$t" "test_cuda --quick exit $r1 (${s1:-$(lastline "$W/memcheck_test_cuda.log")}); daoe-train exit $r2 (${s2:-$(lastline "$W/memcheck_train.log")})"; fi
fi

echo "gpu_verify.sh: $(grep -c '	ok	' "$SUM") ok, $fails FAIL, $(grep -c '	skipped	' "$SUM") skipped, $(( $(date +%s) - T0 )) s"
[ $fails = 0 ] || exit 1
[ $incomplete = 0 ] || exit 3
exit 0
