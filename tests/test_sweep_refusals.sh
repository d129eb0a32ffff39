#!/bin/sh
# daoe-sweep refuses, before anything runs, is submitted or is written:
#   - a profile whose tuned rates (lr_from) are missing, unless --untuned, which is
#     then recorded in sweep.json and in each run's sweep_run.json;
#   - a missing, empty or non-CIFAR-10 data path (a dry run too: its task lines
#     would carry the empty path).
# usage: test_sweep_refusals.sh DAOE_SWEEP WORKDIR  (CIFAR10_DIR)
S=$1
W=$2
. "$(dirname "$0")/runs_common.sh"
cd "$W" || exit 1
cat > p.json <<'P'
{"name": "p", "train": {"backend": "cpu", "width": 1, "cpu_conv": "im2col", "batch": 64, "epochs": 1,
 "train_subset": 128, "val": 64, "test_subset": 64, "trace_every": 1, "checkpoint_minutes": 0},
 "optimizers": ["sgd"], "seeds": [1], "lr_from": "nowhere/tuned.json"}
P
rc=0; "$S" p.json --results r1 --threads 1 > o1 2> e1 || rc=$?
if [ $rc != 0 ] && grep -q -- "--untuned" e1 && [ ! -e r1 ]; then ok "missing lr_from refused (exit $rc), nothing written"
else bad "missing lr_from: exit $rc, r1 $( [ -e r1 ] && echo exists || echo absent): $(head -c 300 e1)"; fi
rc=0; "$S" p.json --results r2 --threads 1 --untuned > o2 2> e2 || rc=$?
if [ $rc = 0 ] && grep -q '"untuned":[[:space:]]*true' r2/sweep.json && grep -q '"untuned":[[:space:]]*true' r2/sgd-s1/sweep_run.json
then ok "--untuned runs and is recorded in sweep.json and sweep_run.json"
else bad "--untuned: exit $rc: $(head -c 300 e2)"; fi
for d in unset empty nofolder; do
    rc=0
    case $d in
    unset) env -u CIFAR10_DIR "$S" p.json --untuned --results r3 --dry-run > o3 2> e3 || rc=$? ;;
    empty) CIFAR10_DIR= "$S" p.json --untuned --results r3 --dry-run > o3 2> e3 || rc=$? ;;
    nofolder) "$S" p.json --untuned --results r3 --data "$W/none" --engine slurm --dry-run > o3 2> e3 || rc=$? ;;
    esac
    if [ $rc != 0 ] && grep -q "data" e3 && ! grep -q -- "--data ''" o3 && [ ! -e r3 ]; then ok "data $d: refused before anything (exit $rc)"
    else bad "data $d: exit $rc: $(head -c 300 e3) $(head -c 200 o3)"; fi
done
finish
