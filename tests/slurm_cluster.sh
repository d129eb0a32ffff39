#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for the slurm test:
#   slurm_cluster.sh start DIR   munged, slurmctld and slurmd, state and logs under DIR;
#                                prints "export SLURM_CONF=DIR/slurm.conf"; exit 77 when
#                                Slurm cannot run here (not root, not installed, ports taken)
#   slurm_cluster.sh stop DIR    stops the daemons it started (by their pid files)
# No systemd and no cgroups here: the daemons are started directly, processes
# are tracked by parent pid (proctrack/linuxproc) and tasks are not bound
# (task/none). There is no accounting database (sacct then fails; daoe-sweep
# falls back to scontrol and the run folders).
set -u
cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }
skip() { echo "slurm_cluster: skipped: $*" >&2; exit 77; }

stop() {
    # slurmd first (it reports to slurmctld), munged last
    for d in slurmd slurmctld munged; do
        f=$dir/$d.pid
        [ -f "$f" ] || continue
        pid=$(cat "$f")
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            kill "$pid"
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
        fi
        rm -f "$f"
    done
}

if [ "$cmd" = stop ]; then stop; exit 0; fi
[ "$cmd" = start ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }

[ "$(id -u)" = 0 ] || skip "the daemons need root (uid $(id -u))"
for p in munged mungekey slurmctld slurmd sbatch squeue scontrol; do
    command -v $p >/dev/null || skip "$p is not installed (apt-get install munge slurmctld slurmd slurm-client)"
done
if [ -S /run/munge/munge.socket.2 ] && pgrep -x munged >/dev/null; then
    own_munge=0   # a munged already runs (e.g. a real installation): use it
else
    own_munge=1
fi
if pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null; then
    skip "a Slurm daemon already runs on this machine (one cluster per machine)"
fi

mkdir -p "$dir"/{state,spool,log}
dir=$(cd "$dir" && pwd)
host=$(hostname -s)
if [ $own_munge = 1 ]; then
    install -d -o munge -g munge -m 0755 /run/munge
    install -d -o munge -g munge -m 0700 "$dir/munge"
    key=$dir/munge/munge.key
    mungekey --create --keyfile="$key" >/dev/null 2>&1 || dd if=/dev/urandom of="$key" bs=1024 count=1 2>/dev/null
    chown munge:munge "$key"
    chmod 0400 "$key"
    runuser -u munge -- munged --key-file="$key" --pid-file="$dir/munge/munged.pid" \
        --log-file="$dir/munge/munged.log" --seed-file="$dir/munge/munged.seed" \
        || skip "munged does not start (see $dir/munge/munged.log)"
    for _ in $(seq 50); do [ -s "$dir/munge/munged.pid" ] && break; sleep 0.1; done
    cp "$dir/munge/munged.pid" "$dir/munged.pid"
fi

# the node as slurmd sees it (CPUs, memory), on the loopback address
node=$(slurmd -C | head -1 | sed "s/^NodeName=[^ ]*/NodeName=$host/")
cat > "$dir/slurm.conf" <<EOF
ClusterName=daoetest
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
SchedulerParameters=sched_interval=1
MinJobAge=600
KillWait=5
InactiveLimit=0
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$dir/slurm.conf
slurmctld -f "$SLURM_CONF" || { stop; skip "slurmctld does not start (see $dir/log/slurmctld.log)"; }
slurmd -f "$SLURM_CONF" || { stop; skip "slurmd does not start (see $dir/log/slurmd.log)"; }
for _ in $(seq 100); do
    st=$(sinfo -h -n "$host" -o %T 2>/dev/null)
    case "$st" in idle*|mixed*|allocated*) echo "export SLURM_CONF=$SLURM_CONF"; exit 0 ;; esac
    sleep 0.2
done
echo "slurm_cluster: the node did not become idle (state '${st:-?}'); logs in $dir/log" >&2
stop
exit 77
