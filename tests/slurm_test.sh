#!/usr/bin/env bash
# daoe-sweep --engine slurm on a real one-node Slurm (tests/slurm_cluster.sh),
# brought up in WORK and taken down at the end:
#   - the dry run prints the batch script and the sbatch line and submits nothing; the
#     paper profile asks for a GPU; --mem/--time/--account/--qos/--sbatch-arg and
#     DAOE_SBATCH_ARGS reach the script and the sbatch line
#   - a tiny sweep (width 4, 256 images, 1 epoch, 2 optimizers x 2 seeds) gives
#     byte-identical final.safetensors to the local engine (same runs, 1 thread)
#   - a second invocation submits nothing; Ctrl-C stops following (exit 130) and the
#     same command follows the queued job again; the states read through sacct (a
#     stand-in: there is no accounting database here) give the same result
#   - a bad data folder is reported by run id with its log
#   - a task refuses a build whose git commit is not the submitted one
#   - a task cancelled mid-run (scancel) and a task sent the time-limit warning
#     (scancel --signal=USR1 --batch): the warned task requeues itself and
#     finishes, the cancelled one is finished by a re-submission that resumes
#     it from its checkpoint; both with the local engine's bytes
#   - the task against a stand-in trainer that keeps the signal contract (SIGUSR1:
#     checkpoint, exit 4): interrupted, resumed to the same bytes, then left alone
# usage: slurm_test.sh BIN WORK SRC [DATA]; exit 77 (skipped) without root,
# Slurm or the data.
set -u
bin=$(realpath "$1") work=$(realpath -m "$2") src=$(realpath "$3") data=${4:-${CIFAR10_DIR:-}}
[ -n "$data" ] && [ -f "$data/test_batch.bin" ] || { echo "skipped: no CIFAR-10 (CIFAR10_DIR)"; exit 77; }
t0=$(date +%s)
"$src/tests/slurm_cluster.sh" stop "$work/cluster" 2>/dev/null
rm -rf "$work"
mkdir -p "$work"
cd "$work"
up=$("$src/tests/slurm_cluster.sh" start "$work/cluster")
rc=$?
[ $rc = 77 ] && exit 77
[ $rc = 0 ] || { echo "FAIL: the cluster did not start"; exit 1; }
eval "$up"
trap '"$src/tests/slurm_cluster.sh" stop "$work/cluster"' EXIT
trap 'exit 1' INT TERM
echo "slurm up after $(( $(date +%s) - t0 )) s: $SLURM_CONF"
export CIFAR10_DIR=$data
sweep=$bin/daoe-sweep
fail() { echo "FAIL: $*"; exit 1; }
jobs_queued() { squeue -h -o %i | wc -l; }
job_of() { /usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['job'])" "$1/slurm/submitted.json"; }
same_bytes() { # $1 $2: results folders, the rest: run ids
    local a=$1 b=$2; shift 2
    for id in "$@"; do
        cmp -s "$a/$id/final.safetensors" "$b/$id/final.safetensors" || fail "$id: final.safetensors differs ($a, $b)"
        echo "  $id: final.safetensors identical ($(sha256sum < "$b/$id/final.safetensors" | cut -c1-16))"
    done
}

cat > tiny.json <<'EOF'
{"name": "tiny", "description": "the slurm test's sweep",
 "train": {"width": 4, "train_subset": 256, "epochs": 1, "val": 64, "test_subset": 128, "batch": 128},
 "optimizers": ["sgd", "adam"], "seeds": [1, 2]}
EOF
tiny_ids="sgd-s1 adam-s1 sgd-s2 adam-s2"

echo "== local engine"
"$sweep" tiny.json --results "$work/local" -j 1 --threads 1 2> local.err || { cat local.err; fail "local sweep"; }

echo "== dry run"
export DAOE_SBATCH_ARGS="--nice=0"
"$sweep" tiny.json --engine slurm --results "$work/slurm" -j 2 --threads 1 --partition debug --dry-run > dry.out \
    || fail "dry run exit $?"
for want in "#SBATCH --array=0-3%2" "#SBATCH --cpus-per-task=1" "#SBATCH --signal=B:USR1@120" "--slurm-task" \
            "sbatch --parsable --nice=0 --partition=debug $work/slurm/slurm/tiny.sbatch"; do
    grep -qF -- "$want" dry.out || { cat dry.out; fail "dry run lacks: $want"; }
done
grep -q gres dry.out && fail "a CPU profile asks for a GPU"
[ "$(jobs_queued)" = 0 ] && [ ! -e "$work/slurm" ] || fail "the dry run submitted or wrote something"
"$sweep" "$src/bench/profiles/paper.json" --engine slurm --no-lr-from --results "$work/paper" --dry-run > paper.out \
    || fail "paper dry run exit $?"
grep -q "^#SBATCH --gres=gpu:1" paper.out && grep -q "^#SBATCH --array=0-24$" paper.out \
    && grep -q "^#SBATCH --cpus-per-task=4" paper.out || { head -20 paper.out; fail "the paper profile's resources"; }
"$sweep" tiny.json --engine slurm --results "$work/slurm" --mem 3G --time 2:00:00 --qos low --account acct \
    --sbatch-arg --exclusive --dry-run > over.out || fail "dry run with overrides exit $?"
grep -q "^#SBATCH --mem=3G" over.out && grep -q "^#SBATCH --time=2:00:00" over.out \
    && grep -q -- "--nice=0 --account=acct --qos=low --exclusive" over.out || { cat over.out; fail "the overrides"; }

echo "== slurm engine"
ts=$(date +%s)
"$sweep" tiny.json --engine slurm --results "$work/slurm" -j 2 --threads 1 --partition debug --poll 0.5 2> slurm.err
rc=$?
cat slurm.err
[ $rc = 0 ] || fail "slurm sweep exit $rc"
echo "  (the slurm sweep took $(( $(date +%s) - ts )) s)"
same_bytes "$work/local" "$work/slurm" $tiny_ids
for id in $tiny_ids; do ls "$work/slurm/$id"/slurm-*_*.log > /dev/null || fail "$id: no per-task Slurm log"; done
job=$(job_of "$work/slurm")
"$sweep" tiny.json --engine slurm --results "$work/slurm" -j 2 --threads 1 --poll 0.5 2> again.err || fail "again: exit $?"
grep -q "nothing to run" again.err && [ "$(job_of "$work/slurm")" = "$job" ] || { cat again.err; fail "a finished sweep was submitted again"; }

echo "== Ctrl-C stops following only; the same command follows the queued job again"
"$sweep" tiny.json --engine slurm --results "$work/ctrlc" -j 1 --threads 1 --poll 0.5 > ctrlc1.err 2>&1 &
follower=$!
for _ in $(seq 100); do grep -q "submitted job" ctrlc1.err && break; sleep 0.1; done
sleep 0.5
kill -INT $follower
wait $follower
rc=$?
cat ctrlc1.err
[ $rc = 130 ] && grep -q "scancel" ctrlc1.err || fail "Ctrl-C: exit $rc, or no word on how to cancel"
[ "$(jobs_queued)" != 0 ] || fail "Ctrl-C cancelled the job"
"$sweep" tiny.json --engine slurm --results "$work/ctrlc" -j 1 --threads 1 --poll 0.5 > ctrlc2.err 2>&1
rc=$?
cat ctrlc2.err
[ $rc = 0 ] && grep -q "is still queued: following" ctrlc2.err || fail "the second invocation: exit $rc, or it did not follow the queued job"
grep -q "submitted job" ctrlc2.err && fail "the second invocation submitted again"
same_bytes "$work/local" "$work/ctrlc" $tiny_ids

echo "== the same through sacct (a stand-in answering from scontrol: no accounting database here)"
mkdir -p fakebin
cat > fakebin/sacct <<'EOF'
#!/bin/bash
# sacct -n -P -X -j JOB -o JobID,State,ExitCode, made from scontrol's records
echo "$*" >> "$(dirname "$0")/sacct.calls"
job=; while [ $# -gt 0 ]; do [ "$1" = -j ] && job=$2; shift; done
"$(command -v -p scontrol || echo /usr/bin/scontrol)" -o show job "$job" 2>/dev/null |
sed -n 's/.* ArrayJobId=\([0-9]*\) ArrayTaskId=\([^ ]*\) .* JobState=\([^ ]*\) .* ExitCode=\([^ ]*\) .*/\1 \2 \3 \4/p' |
while read -r a t s e; do case $t in *[-,%]*) t="[$t]" ;; esac; echo "${a}_$t|$s|$e"; done
EOF
# and no scontrol job records for daoe-sweep: the states must come from sacct alone
printf '#!/bin/bash\ncase " $* " in *" show "*) exit 1 ;; esac\nexec /usr/bin/scontrol "$@"\n' > fakebin/scontrol
chmod +x fakebin/sacct fakebin/scontrol
PATH=$work/fakebin:$PATH "$sweep" tiny.json --engine slurm --results "$work/sacct" -j 1 --threads 1 --poll 0.5 2> sacct.err
rc=$?
cat sacct.err
[ $rc = 0 ] || fail "slurm sweep (sacct) exit $rc"
[ -s fakebin/sacct.calls ] || fail "sacct was not asked"
same_bytes "$work/local" "$work/sacct" $tiny_ids

echo "== a failing task"
# a folder that looks like CIFAR-10 to the sweep, whose files the trainer refuses (the sweep
# refuses a folder without test_batch.bin before submitting anything)
mkdir -p "$work/nodata" && echo "not CIFAR-10" > "$work/nodata/test_batch.bin"
"$sweep" tiny.json --engine slurm --results "$work/bad" --data "$work/nodata" --only sgd-s1 --threads 1 --poll 0.5 2> bad.err
rc=$?
cat bad.err
[ $rc = 1 ] || fail "a failed task: exit $rc, not 1"
grep -q "sgd-s1  FAILED" bad.err && grep -q "last lines" bad.err || fail "the failure is not reported by run id with its log"

echo "== another commit"
"$sweep" --slurm-task "$work/slurm/sgd-s1" --commit 0000000 -- "$bin/daoe-train" --out "$work/slurm/sgd-s1" > commit.out
rc=$?
cat commit.out
[ $rc = 1 ] && grep -q "refusing to run" commit.out || fail "a task ran with another commit (exit $rc)"

echo "== scancel and the time-limit warning"
cat > long.json <<'EOF'
{"name": "long", "train": {"width": 4, "train_subset": 512, "epochs": 10, "val": 64, "test_subset": 128,
 "batch": 128, "checkpoint_minutes": 0}, "optimizers": ["sgd"], "seeds": [1, 2]}
EOF
"$sweep" long.json --results "$work/long-local" -j 1 --threads 1 2> /dev/null || fail "local long sweep"
res=$work/long
"$sweep" long.json --engine slurm --results "$res" -j 2 --threads 1 --poll 0.5 > long1.err 2>&1 &
follower=$!
rows() { local n; n=$({ wc -l < "$res/$1/epochs.csv"; } 2>/dev/null) || n=0; echo $(( n > 0 ? n - 1 : 0 )); }
wait_rows() { for _ in $(seq 300); do [ "$(rows "$1")" -ge "$2" ] && return 0; sleep 0.1; done; fail "$1: no epoch $2"; }
wait_rows sgd-s1 2
job=$(job_of "$res")
scancel "${job}_0"
echo "  scancel ${job}_0 after epoch $(rows sgd-s1)"
wait_rows sgd-s2 2
scancel --signal=USR1 --batch "${job}_1"
echo "  SIGUSR1 to ${job}_1 after epoch $(rows sgd-s2)"
# a requeued job waits (BeginTime) two minutes before it may start again: here 5 s (sooner,
# Slurm may still refuse it: "job credential revoked")
hurried=0
for _ in $(seq 300); do
    kill -0 $follower 2>/dev/null || break
    if [ $hurried = 0 ] && squeue -h -j "$job" -o "%i %r" | grep -q "_1 BeginTime"; then
        scontrol update JobId="${job}_1" StartTime=now+5 && hurried=1
    fi
    sleep 0.2
done
wait $follower
rc=$?
cat long1.err
[ $rc = 1 ] || fail "the sweep with a cancelled task: exit $rc, not 1"
grep -q "sgd-s1  FAILED Slurm state CANCELLED" long1.err || fail "the cancelled task is not reported as cancelled"
grep -q "sgd-s2  finished" long1.err || fail "the warned task did not finish after its requeue"
grep -q "scontrol requeue" "$res"/sgd-s2/slurm-*.log && grep -q "resuming sgd-s2 after epoch" "$res"/sgd-s2/slurm-*.log \
    || { cat "$res"/sgd-s2/slurm-*.log; fail "the warned task did not requeue and resume"; }
"$sweep" long.json --engine slurm --results "$res" -j 2 --threads 1 --poll 0.5 > long2.err 2>&1
rc=$?
cat long2.err
[ $rc = 0 ] || fail "the re-submission: exit $rc"
grep -q "submitted job [0-9]*: 1 task(s)" long2.err || fail "the re-submission did not submit only the unfinished run"
grep -q "resuming sgd-s1 after epoch [1-9]" "$res"/sgd-s1/slurm-*.log || { cat "$res"/sgd-s1/slurm-*.log; fail "sgd-s1 did not resume"; }
same_bytes "$work/long-local" "$res" sgd-s1 sgd-s2
echo "== the trainer's side of the signal contract (a stand-in: SIGUSR1 -> checkpoint, exit 4)"
# daoe-train that checkpoints at the signal and exits 4 ("interrupted"), made from today's
# trainer (stopped by SIGTERM after its last epoch checkpoint); the task alone, outside Slurm
cat > standin.sh <<EOF
#!/bin/bash
"$bin/daoe-train" "\$@" & pid=\$!
trap 'kill -TERM \$pid; wait \$pid; exit 4' USR1 TERM
wait \$pid
EOF
chmod +x standin.sh
commit=$(/usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['commit'])" "$res/slurm/submitted.json")
mapfile -t args < <(/usr/bin/python3 -c "import json,sys; print('\n'.join(json.load(open(sys.argv[1]))['args']))" \
    "$res/sgd-s1/sweep_run.json")
cres=$work/contract
mkdir -p "$cres/sgd-s1"
task=("$sweep" --slurm-task "$cres/sgd-s1" --commit "$commit" -- "$work/standin.sh" --data "$data" --out "$cres/sgd-s1"
      --threads 1 --resume "${args[@]}")
"${task[@]}" > contract1.out 2>&1 &
tpid=$!
res=$cres wait_rows sgd-s1 2
kill -USR1 $tpid
wait $tpid
rc=$?
cat contract1.out
[ $rc = 4 ] && grep -q "exit 4 (interrupted)" contract1.out || fail "the task did not pass the warning on and end interrupted (exit $rc)"
"${task[@]}" > contract2.out 2>&1 || { cat contract2.out; fail "the resumed task: exit $?"; }
cat contract2.out
grep -q "resuming sgd-s1 after epoch [1-9]" contract2.out || fail "the task did not resume"
"${task[@]}" > contract3.out 2>&1 && grep -q "finished already" contract3.out || fail "a finished run was not left alone"
same_bytes "$work/long-local" "$cres" sgd-s1

echo "PASS: slurm engine ($(( $(date +%s) - t0 )) s in all)"
