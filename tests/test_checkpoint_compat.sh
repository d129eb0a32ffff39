#!/bin/sh
# A checkpoint written before the controller state was stored by name (one raw
# struct, commit 4be4209: tests/data/checkpoint_4be4209, see its README) still
# resumes: the run finishes (exit 0); alpha.csv keeps the 11 rows the checkpoint
# carried (the old build's, as its uninterrupted run wrote them); and step 12 applies the alpha the old build's controller state holds
# (the old build's uninterrupted run applied the same, to the last digit). The
# later rows depend on this machine's arithmetic and are not compared.
# usage: test_checkpoint_compat.sh DAOE_TRAIN WORKDIR  (CIFAR10_DIR)
T=$1
W=$2
. "$(dirname "$0")/runs_common.sh"
F=$(dirname "$0")/data/checkpoint_4be4209
R=$W/run
mkdir -p "$R"
cp "$F/checkpoint.safetensors" "$F/config.json" "$F/epochs.csv" "$F/alpha.csv" "$F/summary.json" "$R/"
rc=0
"$T" --out "$R" --data "$D" --width 1 --cpu-conv im2col --train-subset 512 --batch 64 --epochs 2 --val 128 \
    --test-subset 128 --threads 1 --trace-every 1 --checkpoint-minutes 0 --quiet --optimizer daoe --seed 3 --resume \
    2> "$W/err" || rc=$?
if [ $rc = 0 ] && [ -f "$R/final.safetensors" ]; then ok "the old checkpoint resumes and the run finishes"
else bad "resume of the old checkpoint: exit $rc: $(head -c 300 "$W/err")"; fi
head -12 "$F/alpha.uninterrupted.csv" > "$W/a"
head -12 "$R/alpha.csv" > "$W/b"
if cmp -s "$W/a" "$W/b"; then ok "alpha.csv: the 11 rows from the checkpoint kept"
else bad "alpha.csv: the rows from the checkpoint changed"; fi
# the alpha_* columns of step 12 (its header names them)
cols=$(head -1 "$F/alpha.uninterrupted.csv" | tr ',' '\n' | grep -n '^alpha_' | cut -d: -f1 | paste -sd, -)
want=$(sed -n 13p "$F/alpha.uninterrupted.csv" | cut -d, -f"$cols")
got=$(sed -n 13p "$R/alpha.csv" | cut -d, -f"$cols")
if [ -n "$want" ] && [ "$want" = "$got" ]; then ok "step 12 applies the old controller's alpha ($got)"
else bad "step 12's alpha: '$got', the old build's '$want'"; fi
finish
