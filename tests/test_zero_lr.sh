#!/bin/sh
# A DAO-E member at learning rate 0 (README "Zero-length steps"): its step d_i is 0, so
# g . d_i = |g| |d_i| = 0; the controller takes h_i = 0 for it (not NaN) and the meta step
# still counts. The run finishes with finite alphas, Lion's h and share 0 on every row
# after the first, and its alpha moved only through the softmax (the other members' h).
# usage: test_zero_lr.sh DAOE_TRAIN WORKDIR  (CIFAR10_DIR)
T=$1
W=$2
. "$(dirname "$0")/runs_common.sh"
R=$W/run
rc=0
"$T" --out "$R" --data "$D" --width 1 --cpu-conv im2col --train-subset 512 --batch 64 --epochs 1 --val 128 \
    --test-subset 128 --threads 1 --trace-every 1 --checkpoint-minutes 0 --quiet --optimizer daoe --seed 5 \
    --lion-lr 0 2> "$W/err" || rc=$?
if [ $rc = 0 ] && [ -f "$R/alpha.csv" ]; then ok "a DAO-E run with --lion-lr 0 finishes"
else bad "--lion-lr 0: exit $rc: $(head -c 300 "$W/err")"; fi
col() { head -1 "$R/alpha.csv" | tr ',' '\n' | grep -n "^$1\$" | cut -d: -f1; }
h=$(col h_lion) s=$(col share_lion) d=$(col dnorm_lion)
rows=$(awk -F, -v h="$h" -v s="$s" -v d="$d" 'NR > 2 { n++; if ($h == 0 && $s == 0 && $d == 0) z++ } END { print z + 0 "/" n + 0 }' "$R/alpha.csv")
if [ "${rows%/*}" = "${rows#*/}" ] && [ "${rows#*/}" -ge 7 ]; then ok "h_lion, share_lion and dnorm_lion 0 on all $rows rows after step 1"
else bad "h_lion/share_lion/dnorm_lion 0 on $rows rows after step 1"; fi
acols=$(head -1 "$R/alpha.csv" | tr ',' '\n' | grep -n '^alpha_' | cut -d: -f1 | paste -sd, -)
if [ -n "$acols" ] && ! cut -d, -f"$acols" "$R/alpha.csv" | tail -n +2 | grep -qi 'nan\|inf'
then ok "the alphas are finite"; else bad "a NaN or Inf alpha"; fi
a0=$(sed -n 2p "$R/alpha.csv" | cut -d, -f"$(col alpha_lion)")
a1=$(tail -1 "$R/alpha.csv" | cut -d, -f"$(col alpha_lion)")
if awk -v a="$a0" -v b="$a1" 'BEGIN { exit !(a != b) }'; then ok "Lion's alpha moved ($a0 -> $a1): the meta steps were taken"
else bad "Lion's alpha did not move ($a0 -> $a1): no meta step taken"; fi
finish
