#!/bin/sh
# daoe-sweep survives: stopped with SIGTERM (forwarded to the runs, which
# checkpoint and exit 4) or killed with SIGKILL (the runs get SIGTERM from the
# kernel when the sweep dies), then started again, it resumes the stopped run,
# does not redo the finished ones, and every run ends with the bytes of an
# uninterrupted sweep. A damaged run folder (summary.json cut short,
# epochs.csv short, final.safetensors broken, a checkpoint with bad bytes)
# is reported and resumed or redone, never trusted; daoe-stats counts a
# damaged end as incomplete; a run whose trainer exits 0 without a sound end
# has failed (one rule for all: daoe_run_probe).
# usage: test_sweep_resume.sh BINDIR WORKDIR  (CIFAR10_DIR)
B=$1
W=$2
. "$(dirname "$0")/runs_common.sh"
P="$W/tiny.json"
cat > "$P" << 'JSON'
{"name": "tiny", "train": {"backend": "cpu", "width": 4, "batch": 64, "epochs": 4, "train_subset": 512, "val": 128,
 "test_subset": 128, "trace_every": 1, "checkpoint_minutes": 0}, "optimizers": ["sgd", "daoe"], "seeds": [0]}
JSON
sweep() { "$B/daoe-sweep" "$P" --data "$D" -j 1 --threads 2 --results "$@"; }
all_same() { # all_same RESULTS WHAT
    for r in sgd-s0 daoe-s0; do
        same "$1/$r" "$W/ref/$r" && ok "$2: $r identical to the uninterrupted sweep" || bad "$2: $r differs"
    done
}
sweep "$W/ref" 2> "$W/ref.err" || bad "reference sweep exit $?: $(tail -3 "$W/ref.err")"

# stop a sweep while its second run trains, after that run's first checkpoint
for sig in TERM KILL; do
    R="$W/r$sig"
    rc=$(stop_at "$R/daoe-s0/checkpoint.safetensors" $sig "$R.err1" "$B/daoe-sweep" "$P" --data "$D" -j 1 --threads 2 \
         --results "$R")
    if [ -f "$R/daoe-s0/summary.json" ] && grep -q finished "$R/daoe-s0/summary.json"; then
        bad "SIG$sig: the run finished before the sweep was stopped (inconclusive)"; continue
    fi
    # the run stops by itself (checkpoint, exit 4); after SIGKILL it may still be writing
    i=0
    while ! grep -q interrupted "$R/daoe-s0/summary.json" 2> /dev/null && [ $i -lt 500 ]; do sleep 0.02; i=$((i + 1)); done
    grep -q interrupted "$R/daoe-s0/summary.json" 2> /dev/null && [ -f "$R/daoe-s0/checkpoint.safetensors" ] &&
        ok "SIG$sig to the sweep (exit $rc): its run checkpointed, summary.json 'interrupted'" ||
        bad "SIG$sig to the sweep (exit $rc): no checkpoint or status: $(tail -2 "$R/daoe-s0/train.log")"
    m0=$(stat -c %Y.%s "$R/sgd-s0/final.safetensors")
    sweep "$R" 2> "$R.err2"
    rc=$?
    [ $rc = 0 ] && grep -q "1 to run, 1 finished" "$R.err2" && ok "SIG$sig: restarted: one run to resume, one kept" ||
        bad "SIG$sig: restart exit $rc: $(cat "$R.err2")"
    grep -q -- "--resume" "$R/daoe-s0/train.log" && grep -q "resuming" "$R/daoe-s0/train.log" &&
        ok "SIG$sig: the run resumed from its checkpoint" || bad "SIG$sig: the run did not resume: $(tail -3 "$R/daoe-s0/train.log")"
    [ "$m0" = "$(stat -c %Y.%s "$R/sgd-s0/final.safetensors")" ] && ok "SIG$sig: the finished run untouched" ||
        bad "SIG$sig: the finished run was redone"
    all_same "$R" "SIG$sig, restarted"
done

# damaged folders: each is reported and resumed or redone, then identical
R="$W/rTERM"
damage() { # damage WHAT RUN: the sweep must report it and end identical
    out=$(sweep "$R" 2>&1)
    rc=$?
    if [ $rc = 0 ] && echo "$out" | grep -q "$2.*damaged" && echo "$out" | grep -q "1 to run"; then ok "$1: reported, redone: $(echo "$out" | grep damaged)"
    else bad "$1: exit $rc: $out"; fi
    all_same "$R" "$1"
}
f="$R/daoe-s0/summary.json"; head -c 40 "$f" > "$W/t"; cp "$W/t" "$f"
damage "summary.json cut short" daoe-s0
f="$R/sgd-s0/epochs.csv"; head -n 3 "$f" > "$W/t"; cp "$W/t" "$f"
damage "epochs.csv short" sgd-s0
rm "$R/sgd-s0/epochs.csv"
damage "epochs.csv missing" sgd-s0
# final.safetensors removed (committed results keep no weights): finished, not run again
rm "$R/daoe-s0/final.safetensors"
m0=$(stat -c %Y.%s "$R/daoe-s0/summary.json")
out=$(sweep "$R" 2>&1)
rc=$?
[ $rc = 0 ] && echo "$out" | grep -q "0 to run, 2 finished" && ! echo "$out" | grep -q damaged &&
    [ "$m0" = "$(stat -c %Y.%s "$R/daoe-s0/summary.json")" ] && [ ! -f "$R/daoe-s0/final.safetensors" ] &&
    ok "final.safetensors not kept: finished, not redone" || bad "final.safetensors not kept: exit $rc: $out"
echo "not weights" > "$R/daoe-s0/final.safetensors"
damage "final.safetensors broken" daoe-s0
# a stopped run whose checkpoint has bad bytes: started over, not resumed
rm -rf "$R/daoe-s0"
DAOE_TEST_KILL=step@12:15 "$B/daoe-sweep" "$P" --data "$D" -j 1 --threads 2 --results "$R" > /dev/null 2>&1
f="$R/daoe-s0/checkpoint.safetensors"
if [ -f "$f" ]; then
    size=$(wc -c < "$f")
    printf 'XXXXXXXX' | dd of="$f" bs=1 seek=$((size - 64)) conv=notrunc 2> /dev/null
    damage "a checkpoint with bad bytes" daoe-s0
else bad "could not make a stopped run (no checkpoint)"; fi

# daoe-stats counts by the same rule: a finished run whose epochs.csv is short is incomplete
"$B/daoe-stats" "$R" > /dev/null 2> "$W/stats1.err" && grep -q "(2 finished, 0 diverged, 0 incomplete)" "$W/stats1.err" &&
    ok "daoe-stats: both runs finished" || bad "daoe-stats: $(cat "$W/stats1.err")"
mkdir -p "$W/st" && cp -r "$R/sgd-s0" "$R/daoe-s0" "$R/sweep.json" "$W/st/"
head -n 3 "$W/st/sgd-s0/epochs.csv" > "$W/t" && cp "$W/t" "$W/st/sgd-s0/epochs.csv"
"$B/daoe-stats" "$W/st" > /dev/null 2> "$W/stats2.err" && grep -q "(1 finished, 0 diverged, 1 incomplete)" "$W/stats2.err" &&
    grep -q "sgd-s0: damaged: epochs.csv has 2 rows, summary.json says 4 epochs; counted as incomplete" "$W/stats2.err" &&
    ok "daoe-stats: epochs.csv short: counted incomplete, said why" || bad "daoe-stats, epochs.csv short: $(cat "$W/stats2.err")"

# A run settles by its trainer's exit status and the folder's end together (sweep_settle,
# the slurm engine's too): a trainer that exits 0 leaving summary.json "finished" but no
# final.safetensors has failed, not finished. A fake trainer: the real run's files but the weights.
F="$W/fake-train"
cat > "$F" << EOF
#!/bin/sh
while [ \$# -gt 1 ]; do [ "\$1" = --out ] && out=\$2; shift; done
cp "$W/ref/sgd-s0/summary.json" "$W/ref/sgd-s0/epochs.csv" "$W/ref/sgd-s0/config.json" "\$out/"
[ -n "\${FAKE_WEIGHTS:-}" ] && cp "$W/ref/sgd-s0/final.safetensors" "\$out/"
exit 0
EOF
chmod +x "$F"
out=$("$B/daoe-sweep" "$P" --data "$D" -j 1 --only sgd --train "$F" --results "$W/fake" 2>&1)
rc=$?
[ $rc != 0 ] && echo "$out" | grep -q "sgd-s0  FAILED exit 0: damaged: .*final.safetensors" &&
    ok "exit 0 without final weights: failed, said why" || bad "exit 0 without final weights: exit $rc: $out"
# the end it claimed is set aside (summary.rejected.json), so that the next sweep, where a missing
# final.safetensors would mean "not kept", does not take the folder as a finished run: it runs it again
[ ! -f "$W/fake/sgd-s0/summary.json" ] && [ -f "$W/fake/sgd-s0/summary.rejected.json" ] &&
    echo "$out" | grep -q "summary.rejected.json: the next sweep runs it again" &&
    ok "the claimed end set aside, said so" || bad "the claimed end not set aside: $(ls "$W/fake/sgd-s0"): $out"
out=$("$B/daoe-sweep" "$P" --data "$D" --dry-run --only sgd --train "$F" --results "$W/fake" 2>&1)
echo "$out" | grep -q "1 to run, 0 finished" && ok "the next sweep runs it again" || bad "the next sweep: $out"
out=$(FAKE_WEIGHTS=1 "$B/daoe-sweep" "$P" --data "$D" -j 1 --only sgd --train "$F" --results "$W/fake" 2>&1)
rc=$?
[ $rc = 0 ] && echo "$out" | grep -q "sgd-s0  finished" && ok "exit 0 with a sound end: finished" ||
    bad "exit 0 with a sound end: exit $rc: $out"

finish
