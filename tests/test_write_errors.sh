#!/bin/sh
# Write errors: the output on a full file system (a size-limited tmpfs) and
# in a read-only folder (a read-only bind mount: root ignores file modes).
# Each must give one line naming the file and the error, exit status 5, no
# temporary or truncated file under a final name, and the earlier checkpoint
# unchanged (it still resumes to the uninterrupted run's bytes).
# Needs root (mount); skipped (77) when mounting fails.
# usage: test_write_errors.sh DAOE_TRAIN WORKDIR  (CIFAR10_DIR)
T=$1
W=$2
# a mount an earlier, interrupted run of this test left behind goes first
while mountpoint -q "$W/mnt" 2> /dev/null; do umount "$W/mnt" 2> /dev/null || umount -l "$W/mnt"; done
. "$(dirname "$0")/runs_common.sh"
mkdir -p "$W/mnt"
M="$W/mnt"
cleanup() { while mountpoint -q "$M" 2> /dev/null; do umount "$M" 2> /dev/null || umount -l "$M"; done; }
trap cleanup EXIT INT TERM
mount -t tmpfs -o size=64k tmpfs "$M" 2> /dev/null || { echo "cannot mount a tmpfs (not root?): skipped"; exit 77; }
umount "$M"
C="--data $D --width 4 --train-subset 512 --batch 64 --val 128 --test-subset 128 --threads 2 --trace-every 1 --checkpoint-minutes 0 --quiet --optimizer sgd"
# every file under a final name is whole: JSON parses, safetensors open, no temporaries
whole() {
    for f in "$1"/*; do
        case $f in
        *.tmp.*) echo "temporary file $f left"; return 1 ;;
        *.json) /usr/bin/python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$f" 2> /dev/null || { echo "$f damaged"; return 1; } ;;
        esac
    done
    return 0
}
# full: EPOCHS TMPFS_SIZE WHAT (the write that must fail)
full() {
    "$T" --out "$W/ref$1" --epochs $1 $C || bad "reference run exit $?"
    mount -t tmpfs -o size=$2 tmpfs "$M" || { bad "mount tmpfs"; return; }
    rc=0
    "$T" --out "$M/run" --epochs $1 $C 2> "$W/full.err" || rc=$?
    if [ $rc = 5 ] && [ "$(wc -l < "$W/full.err")" = 1 ] && grep -q "$3.*No space left on device" "$W/full.err"; then
        ok "full disk ($2) at $3: exit 5, one line: $(cat "$W/full.err")"
    else bad "full disk ($2) at $3: exit $rc: $(cat "$W/full.err")"; fi
    msg=$(whole "$M/run") && ok "full disk: no temporary or damaged file under a final name" || bad "full disk: $msg"
    [ -f "$M/run/summary.json" ] && bad "full disk: a summary.json for a run that did not finish"
    cp -r "$M/run" "$W/copy$1"
    umount "$M"
    rc=0
    "$T" --out "$W/copy$1" --epochs $1 $C --resume 2> "$W/resume.err" || rc=$?
    if [ $rc = 0 ] && same "$W/copy$1" "$W/ref$1"; then
        ok "full disk: the earlier checkpoint is intact: resumed elsewhere, identical to an uninterrupted run"
    else bad "full disk: resume from the kept checkpoint: exit $rc: $(cat "$W/resume.err")"; fi
}
# sgd, width 4: a checkpoint is ~0.76 MB, final.safetensors ~0.19 MB
full 3 1200k checkpoint.safetensors
full 2 900k final.safetensors

# read-only folder: a run stopped after its first checkpoint, then resumed into a read-only bind mount
d="$W/ro"
DAOE_TEST_KILL=renamed:checkpoint.safetensors@1 "$T" --out "$d" --epochs 3 $C 2> /dev/null
cp "$d/checkpoint.safetensors" "$W/ckpt.before"
mount --bind "$d" "$M" && mount -o remount,ro,bind "$M" || { bad "read-only bind mount"; }
rc=0
"$T" --out "$M" --epochs 3 $C --resume 2> "$W/ro.err" || rc=$?
if [ $rc = 5 ] && [ "$(wc -l < "$W/ro.err")" = 1 ] && grep -q "Read-only file system" "$W/ro.err"; then
    ok "read-only folder: exit 5, one line: $(cat "$W/ro.err")"
else bad "read-only folder: exit $rc: $(cat "$W/ro.err")"; fi
rc=0
"$T" --out "$M/new" --epochs 3 $C 2> "$W/ro2.err" || rc=$?
if [ $rc = 5 ] && grep -q "Read-only file system" "$W/ro2.err"; then ok "a new run under a read-only folder: exit 5: $(cat "$W/ro2.err")"
else bad "a new run under a read-only folder: exit $rc: $(cat "$W/ro2.err")"; fi
cleanup
cmp -s "$d/checkpoint.safetensors" "$W/ckpt.before" && ok "read-only folder: checkpoint unchanged" || bad "read-only: checkpoint changed"
rc=0
"$T" --out "$d" --epochs 3 $C --resume 2> /dev/null || rc=$?
"$T" --out "$W/ref3b" --epochs 3 $C 2> /dev/null
[ $rc = 0 ] && same "$d" "$W/ref3b" && ok "read-only folder: resumed once writable: identical" || bad "read-only: resume afterwards exit $rc"

finish
