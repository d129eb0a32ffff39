#!/bin/sh
# Reproducibility: the same seed twice gives identical epochs.csv (time
# columns aside) and identical final weights; another seed differs; a run
# started --init-from the init.safetensors another run saved reproduces it;
# a run killed after a checkpoint and resumed with --resume ends with the same
# weights as an uninterrupted one; --resume refuses a checkpoint written with
# other settings. usage: test_repro.sh DAOE_TRAIN WORKDIR  (CIFAR10_DIR)
T=$1
W=$2
. "$(dirname "$0")/runs_common.sh"
COMMON="--data $D --width 4 --train-subset 512 --batch 64 --val 256 --test-subset 256 --threads 2 --quiet"

for opt in sgd daoe; do
    "$T" --out "$W/a_$opt" $COMMON --optimizer $opt --seed 7 --epochs 2 --save-init || bad "run a_$opt exit $?"
    "$T" --out "$W/b_$opt" $COMMON --optimizer $opt --seed 7 --epochs 2 || bad "run b_$opt exit $?"
    "$T" --out "$W/c_$opt" $COMMON --optimizer $opt --seed 8 --epochs 2 || bad "run c_$opt exit $?"
    strip "$W/a_$opt/epochs.csv" > "$W/a.txt"; strip "$W/b_$opt/epochs.csv" > "$W/b.txt"; strip "$W/c_$opt/epochs.csv" > "$W/c.txt"
    if cmp -s "$W/a.txt" "$W/b.txt" && cmp -s "$W/a_$opt/final.safetensors" "$W/b_$opt/final.safetensors" &&
        cmp -s "$W/a_$opt/alpha.csv" "$W/b_$opt/alpha.csv"; then
        ok "$opt: same seed twice: identical epochs.csv, alpha.csv and final weights"
    else bad "$opt: same seed twice differs"; diff "$W/a.txt" "$W/b.txt" | head -5; fi
    if cmp -s "$W/a.txt" "$W/c.txt"; then bad "$opt: seed 7 and seed 8 give the same epochs.csv"; else ok "$opt: another seed differs"; fi
done

"$T" --out "$W/d" $COMMON --seed 7 --epochs 2 --init-from "$W/a_sgd/init.safetensors" || bad "run d exit $?"
strip "$W/d/epochs.csv" > "$W/d.txt"; strip "$W/a_sgd/epochs.csv" > "$W/a.txt"
if cmp -s "$W/a.txt" "$W/d.txt" && cmp -s "$W/a_sgd/final.safetensors" "$W/d/final.safetensors"; then
    ok "--init-from init.safetensors reproduces the run that saved it"
else bad "--init-from init.safetensors does not reproduce the run"; fi

# kill after the first checkpoint, resume, compare with an uninterrupted run
"$T" --out "$W/full" $COMMON --optimizer daoe --seed 3 --epochs 4 || bad "run full exit $?"
stop_at "$W/killed/checkpoint.safetensors" KILL "$W/killed.err" \
    "$T" --out "$W/killed" $COMMON --optimizer daoe --seed 3 --epochs 4 --checkpoint-minutes 0 > /dev/null
if [ -f "$W/killed/summary.json" ]; then
    bad "resume: the run finished before it could be killed (inconclusive)"
else
    rows=$(($(wc -l < "$W/killed/epochs.csv") - 1))
    "$T" --out "$W/killed" $COMMON --optimizer daoe --seed 3 --epochs 4 --checkpoint-minutes 0 --resume 2> "$W/resume.err" || bad "resume exit $?"
    cat "$W/resume.err"
    strip "$W/full/epochs.csv" > "$W/f.txt"; strip "$W/killed/epochs.csv" > "$W/k.txt"
    if cmp -s "$W/full/final.safetensors" "$W/killed/final.safetensors" && cmp -s "$W/f.txt" "$W/k.txt" &&
        cmp -s "$W/full/alpha.csv" "$W/killed/alpha.csv"; then
        ok "killed after epoch $rows and resumed: same final weights, epochs.csv and alpha.csv as the uninterrupted run"
    else bad "resumed run differs from the uninterrupted one"; diff "$W/f.txt" "$W/k.txt" | head -5; fi
    [ ! -f "$W/killed/checkpoint.safetensors" ] && ok "checkpoint removed when the run finished" || bad "checkpoint left behind"
fi
# --resume with other settings is refused
stop_at "$W/other/checkpoint.safetensors" KILL /dev/null "$T" --out "$W/other" $COMMON --seed 3 --epochs 3 \
    --checkpoint-minutes 0 > /dev/null
if [ -f "$W/other/checkpoint.safetensors" ]; then
    "$T" --out "$W/other" $COMMON --seed 4 --epochs 3 --resume 2> "$W/other.err"
    rc=$?
    if [ $rc -eq 1 ] && grep -q "written with other settings" "$W/other.err"; then ok "--resume refuses a checkpoint of other settings"
    else bad "--resume with other settings: exit $rc: $(cat "$W/other.err")"; fi
fi
if [ $fails -ne 0 ]; then echo "test_repro: $fails check(s) FAILED"; exit 1; fi
echo "test_repro: all checks passed"
