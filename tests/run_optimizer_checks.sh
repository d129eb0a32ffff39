#!/bin/sh
# Short real-data runs of daoe-train (CTest label "slow").
#   run_optimizer_checks.sh DAOE_TRAIN WORKDIR finish  OPTIMIZER [FLAGS...]
#       width 8, 5,000 training images, 1 epoch: exit status 0, summary.json
#       status "finished", test accuracy above chance (> 0.15), epochs.csv
#       with one epoch and final.safetensors; DAO-E: alpha starts at 0.25 and
#       ends summing to 1.
#   run_optimizer_checks.sh DAOE_TRAIN WORKDIR diverge OPTIMIZER [FLAGS...]
#       a learning rate that blows up: exit status 3 (not a crash), summary.json
#       status "diverged" with the step, no final.safetensors.
# Exit 77 (skip) when CIFAR10_DIR is unset or holds no CIFAR-10 binaries.
set -u
if [ $# -lt 4 ]; then
    echo "usage: $0 DAOE_TRAIN WORKDIR finish|diverge OPTIMIZER [FLAGS...]" >&2
    exit 2
fi
bin=$1 work=$2 mode=$3 opt=$4
shift 4
if [ -z "${CIFAR10_DIR:-}" ] || [ ! -f "$CIFAR10_DIR/data_batch_1.bin" ] || [ ! -f "$CIFAR10_DIR/test_batch.bin" ]; then
    echo "CIFAR10_DIR not set or without CIFAR-10 binaries: skipping"
    exit 77
fi
out=$work/$mode-$opt
rm -rf "$out"
mkdir -p "$work"
fail=0
check() { # check COND-EXIT-STATUS MESSAGE
    if [ "$1" -ne 0 ]; then
        echo "FAIL: $opt ($mode): $2"
        fail=1
    fi
}
# summary.json as cJSON_Print writes it: one "key":<tab>value per line
json_str() { sed -n "s/^[[:space:]]*\"$1\":[[:space:]]*\"\([^\"]*\)\".*/\1/p" "$out/summary.json" | head -n 1; }
json_num() { sed -n "s/^[[:space:]]*\"$1\":[[:space:]]*\([-0-9.eE+]*\).*/\1/p" "$out/summary.json" | head -n 1; }
# sum of the numbers in a summary.json object such as "alpha_end": { "sgd": 0.25, ... }
json_obj_sum() {
    awk -v key="\"$1\":" '$1 == key { inobj = 1; next }
        inobj && /}/ { inobj = 0 }
        inobj { v = $2; sub(/,$/, "", v); s += v; n++ }
        END { if (n) printf "%.9f %d\n", s, n; else print "none 0" }' "$out/summary.json"
}

t0=$(date +%s)
"$bin" --out "$out" --optimizer "$opt" --width 8 --train-subset 5000 --epochs 1 --val 1000 \
    --test-subset 2000 --threads 2 --quiet "$@"
rc=$?
t1=$(date +%s)
echo "daoe-train --optimizer $opt $*: exit status $rc after $((t1 - t0)) s"
if [ ! -f "$out/summary.json" ]; then
    echo "FAIL: $opt ($mode): no summary.json"
    exit 1
fi
status=$(json_str status)
case $mode in
finish)
    acc=$(json_num final_test_acc)
    echo "  status $status, test accuracy $acc (chance 0.10, need > 0.15)"
    check $rc "exit status $rc, expected 0"
    check "$([ "$status" = finished ]; echo $?)" "summary.json status '$status', expected 'finished'"
    check "$(awk -v a="${acc:-nan}" 'BEGIN { exit !(a + 0 > 0.15) }'; echo $?)" "test accuracy '$acc' not above 0.15"
    check "$([ -f "$out/final.safetensors" ]; echo $?)" "final.safetensors missing"
    rows=$(($(wc -l < "$out/epochs.csv") - 1))
    check "$([ "$rows" -eq 1 ]; echo $?)" "epochs.csv has $rows epoch rows, expected 1"
    if [ "$opt" = daoe ]; then
        set -- $(json_obj_sum alpha_start)
        echo "  alpha_start sums to $1 over $2 members; alpha_end: $(json_obj_sum alpha_end)"
        check "$([ "$2" -eq 4 ] && awk -v s="$1" 'BEGIN { exit !(s > 0.999999 && s < 1.000001) }'; echo $?)" \
            "alpha_start sums to $1 over $2 members"
        check "$(grep -A1 '"alpha_start"' "$out/summary.json" | grep -q ':[[:space:]]*0.25,'; echo $?)" \
            "alpha_start is not uniform 0.25"
        set -- $(json_obj_sum alpha_end)
        check "$([ "$2" -eq 4 ] && awk -v s="$1" 'BEGIN { exit !(s > 0.999999 && s < 1.000001) }'; echo $?)" \
            "alpha_end sums to $1 over $2 members"
        check "$(head -n 1 "$out/alpha.csv" | grep -q 'alpha_sgd,alpha_adam,alpha_rmsprop,alpha_lion'; echo $?)" \
            "alpha.csv lacks the alpha columns"
    fi
    ;;
diverge)
    step=$(json_num diverged_at_step)
    echo "  status $status, diverged at step ${step:-?}"
    check "$([ $rc -eq 3 ]; echo $?)" "exit status $rc, expected 3 (diverged)"
    check "$([ "$status" = diverged ]; echo $?)" "summary.json status '$status', expected 'diverged'"
    check "$([ -n "$step" ] && [ "$step" -ge 1 ]; echo $?)" "no diverged_at_step in summary.json"
    check "$([ ! -f "$out/final.safetensors" ]; echo $?)" "final.safetensors written for a diverged run"
    ;;
*)
    echo "unknown mode $mode" >&2
    exit 2
    ;;
esac
[ $fail -eq 0 ] && echo "$opt ($mode): all checks passed"
exit $fail
