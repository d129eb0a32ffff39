#!/bin/sh
# Exact resume at any kill: a run stopped at a kill point (DAOE_TEST_KILL:
# SIGKILL at a step, inside evaluation, inside a checkpoint or CSV write,
# between the final writes; SIGTERM, SIGINT, SIGUSR1 at a step) and resumed
# with --resume ends with final.safetensors, alpha.csv and epochs.csv (time
# columns aside) identical to an uninterrupted run. A signal gives exit 4,
# summary.json "interrupted" and a checkpoint; --resume of a finished or
# diverged run changes nothing (exit 0, 3); a damaged end is not trusted
# (epochs.csv short: trained again; summary.json cut: resumed from the
# checkpoint); a damaged checkpoint is refused by name.
# usage: test_resume.sh DAOE_TRAIN WORKDIR quick|all OPTIMIZER...  (CIFAR10_DIR)
#   quick: a few kill points and the signals; all: every kill point
#   TEST_RESUME_TAIL=0: the kill points only, not the run-folder checks after them
T=$1
W=$2
MODE=$3
shift 3
. "$(dirname "$0")/runs_common.sh"
# 8 steps an epoch, 3 epochs: 24 steps, checkpoints after epochs 1 and 2
C="--data $D --width 4 --train-subset 512 --batch 64 --epochs 3 --val 128 --test-subset 128 --threads 2 --trace-every 1 --checkpoint-minutes 0 --quiet"
status_of() { sed -n 's/.*"status":[[:space:]]*"\([a-z]*\)".*/\1/p' "$1/summary.json" 2> /dev/null; }

if [ "$MODE" = all ]; then
    POINTS="step@1 step@4 step@8 step@13 step@24 eval@1 eval@5 write:checkpoint.safetensors@1
            write:checkpoint.safetensors@2 renamed:checkpoint.safetensors@1 write:epochs.csv@2 renamed:epochs.csv@2
            write:alpha.csv@3 write:final.safetensors@1 renamed:final.safetensors@1 renamed:summary.json@1
            step@5:15 step@8:2 step@19:10"
else
    POINTS="step@5 write:checkpoint.safetensors@2 renamed:final.safetensors@1 step@11:15 step@3:2 step@20:10"
fi

# resumed DIR MESSAGE WHAT: --resume of DIR exits 0, says MESSAGE on stderr (when not empty) and
# ends identical to the uninterrupted run
resumed() {
    rc=0
    "$T" --out "$1" $C --optimizer $opt --resume 2> "$1.err2" || rc=$?
    if [ $rc = 0 ] && { [ -z "$2" ] || grep -q "$2" "$1.err2"; } && same "$1" "$W/$opt-full"; then ok "$3"
    else bad "$3: exit $rc, results differ or no '$2': $(head -c 300 "$1.err2")"; fi
}

for opt in "$@"; do
    "$T" --out "$W/$opt-full" $C --optimizer $opt || bad "$opt: uninterrupted run exit $?"
    for kp in $POINTS; do
        d="$W/$opt-$(echo "$kp" | tr ':@' '__')"
        rc=0
        DAOE_TEST_KILL=$kp "$T" --out "$d" $C --optimizer $opt 2> "$d.err1" || rc=$?
        case $kp in
        *:15 | *:2 | *:10)
            if [ $rc = 4 ] && [ "$(status_of "$d")" = interrupted ] && [ -f "$d/checkpoint.safetensors" ]; then :
            else bad "$opt $kp: exit $rc, status '$(status_of "$d")' (want 4, interrupted, a checkpoint)"; fi ;;
        *)
            [ $rc = 137 ] || bad "$opt $kp: exit $rc, not killed (137)" ;;
        esac
        resumed "$d" "" "$opt: stopped at $kp, resumed: identical"
        ls "$d" | grep -q '\.tmp\.' && bad "$opt $kp: a temporary file left behind"
    done
done

# The rest checks the run folder's rules (ended, damaged, diverged, timed), the same code whatever
# the optimizer: TEST_RESUME_TAIL=0 (the per-optimizer quick tests) leaves it to the DAO-E ones.
[ "${TEST_RESUME_TAIL:-1}" = 0 ] && finish
opt=$1
# --resume of a finished run: nothing changes, it says so
d="$W/$opt-full"
cp "$d/final.safetensors" "$W/final.before"
rc=0
"$T" --out "$d" $C --optimizer $opt --resume 2> "$W/again.err" || rc=$?
if [ $rc = 0 ] && grep -q "already finished" "$W/again.err" && cmp -s "$d/final.safetensors" "$W/final.before"; then
    ok "--resume of a finished run: exit 0, 'already finished', nothing rewritten"
else bad "--resume of a finished run: exit $rc: $(cat "$W/again.err")"; fi
# ... but not one with other settings
rc=0
"$T" --out "$d" $C --optimizer $opt --seed 99 --resume 2> "$W/other.err" || rc=$?
if [ $rc = 1 ] && grep -q "other settings" "$W/other.err"; then ok "--resume of a finished run with other settings refused"
else bad "--resume with other settings: exit $rc: $(cat "$W/other.err")"; fi

# The folder's end must check out (daoe_run_probe, the rule daoe-sweep and daoe-stats use too):
# a finished run whose epochs.csv is short is not taken for finished; with no checkpoint it
# trains again, to the same bytes
d="$W/short"
cp -r "$W/$opt-full" "$d"
head -n 2 "$d/epochs.csv" > "$W/t" && cp "$W/t" "$d/epochs.csv"
resumed "$d" "damaged: epochs.csv has 1 rows, summary.json says 3 epochs; training again" \
    "--resume of a finished run with epochs.csv short: trained again, identical"
# summary.json cut short beside a sound checkpoint: resumed from the checkpoint, identical
d="$W/cut"
DAOE_TEST_KILL=step@13:15 "$T" --out "$d" $C --optimizer $opt 2> /dev/null
head -c 30 "$d/summary.json" > "$W/t" && cp "$W/t" "$d/summary.json"
resumed "$d" "damaged: summary.json is not valid JSON; resuming from the checkpoint" \
    "summary.json cut short, a checkpoint beside: resumed, identical"
# --resume of a diverged run: exit 3, nothing rewritten
d="$W/diverged"
rc=0
"$T" --out "$d" $C --optimizer sgd --lr 1000 2> /dev/null || rc=$?
cp "$d/summary.json" "$W/summary.before"
rc2=0
"$T" --out "$d" $C --optimizer sgd --lr 1000 --resume 2> "$W/div.err" || rc2=$?
if [ $rc = 3 ] && [ $rc2 = 3 ] && grep -q "already ended: diverged" "$W/div.err" && cmp -s "$d/summary.json" "$W/summary.before"
then ok "--resume of a diverged run: exit 3, 'already ended: diverged', nothing rewritten"
else bad "--resume of a diverged run: exit $rc then $rc2: $(cat "$W/div.err")"; fi

# time across a stop: the epoch stopped inside (SIGTERM at step 15, the 7th of epoch 2's 8) counts
# the seconds trained before the stop (seconds >= train_seconds), and summary.json's wall_seconds
# spans both sessions (>= the sum of the epochs' seconds)
d="$W/timed"
DAOE_TEST_KILL=step@15:15 "$T" --out "$d" $C --optimizer $opt 2> /dev/null
rc=0
"$T" --out "$d" $C --optimizer $opt --resume 2> /dev/null || rc=$?
times=$(awk -F, 'NR == 1 {for (i = 1; i <= NF; i++) c[$i] = i; next}
    {s += $c["seconds"]; if ($c["seconds"] + 1e-6 < $c["train_seconds"]) bad = bad " epoch " $1 ": " $c["seconds"] " < " $c["train_seconds"]}
    END {printf "%.6f%s", s, bad}' "$d/epochs.csv")
wall=$(sed -n 's/.*"wall_seconds":[[:space:]]*\([0-9.eE+-]*\).*/\1/p' "$d/summary.json")
if [ $rc = 0 ] && [ -n "$wall" ] && [ "${times#* }" = "$times" ] && awk -v w="$wall" -v s="$times" 'BEGIN {exit !(w + 1e-6 >= s)}'
then ok "time across a stop: every epoch's seconds >= its training seconds; wall $wall s >= the epochs' $times s"
else bad "time across a stop: exit $rc, wall '$wall', epochs' seconds $times"; fi

# a checkpoint with bad bytes is refused by name, never trusted
d="$W/damaged"
DAOE_TEST_KILL=step@12 "$T" --out "$d" $C --optimizer $opt 2> /dev/null
size=$(wc -c < "$d/checkpoint.safetensors")
printf 'XXXXXXXX' | dd of="$d/checkpoint.safetensors" bs=1 seek=$((size - 100)) conv=notrunc 2> /dev/null
rc=0
"$T" --out "$d" $C --optimizer $opt --resume 2> "$W/damaged.err" || rc=$?
if [ $rc = 1 ] && grep -q "checkpoint.safetensors.*damaged" "$W/damaged.err"; then ok "a checkpoint with bad bytes is refused: $(cat "$W/damaged.err")"
else bad "a checkpoint with bad bytes: exit $rc: $(cat "$W/damaged.err")"; fi
head -c 1000 "$W/$opt-full/final.safetensors" > "$d/checkpoint.safetensors"
rc=0
"$T" --out "$d" $C --optimizer $opt --resume 2> "$W/damaged.err" || rc=$?
if [ $rc = 1 ] && grep -q "checkpoint.safetensors" "$W/damaged.err"; then ok "a truncated checkpoint is refused: $(cat "$W/damaged.err")"
else bad "a truncated checkpoint: exit $rc: $(cat "$W/damaged.err")"; fi

finish
