# Shared by the shell tests that run daoe-train (sourced; W, the work folder, set first):
# the data check (skip 77), ok/bad counters, run comparisons, the closing line.
D=${CIFAR10_DIR:-}
if [ -z "$D" ] || [ ! -f "$D/test_batch.bin" ]; then echo "CIFAR10_DIR not set or empty: skipped"; exit 77; fi
rm -rf "$W"
mkdir -p "$W"
fails=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fails=$((fails + 1)); }
# strip, same: the byte-for-byte comparison of two run folders
. "$(dirname "$0")/run_same.sh"
# stop_at FILE SIGNAL LOG CMD...: CMD in the background (stderr to LOG), SIGNAL to it once
# FILE exists (a checkpoint; at most 30 s), then its exit status on stdout
stop_at() {
    f=$1 sig=$2 log=$3
    shift 3
    "$@" 2> "$log" &
    pid=$!
    i=0
    while [ ! -f "$f" ] && kill -0 $pid 2> /dev/null && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
    kill -$sig $pid 2> /dev/null
    wait $pid 2> /dev/null
    echo $?
}
finish() {
    [ $fails = 0 ] && echo "all checks passed" && exit 0
    echo "$fails check(s) failed"
    exit 1
}
