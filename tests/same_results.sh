#!/usr/bin/env bash
# Shows that a change gives the same results as a given commit: builds that
# commit beside the working tree (CPU only), runs a battery of short daoe-train
# runs with both builds on this machine, and compares them byte for byte:
# final.safetensors and alpha.csv exactly, epochs.csv apart from its time
# columns (seconds, train_seconds, images_per_second), config.json apart from
# the git commit, the BLAS record's wording and the environment record; keys
# that only one side's config.json has are listed, not compared (a new
# option's record). Bits differ between CPU models and thread counts, so the
# two builds run here, with the same threads.
#
#   tests/same_results.sh COMMIT [--smoke] [--keep] [--new-set KEY=VALUE ...]
#     COMMIT   the commit to compare with (e.g. the last one before a refactor)
#     --smoke  also run the smoke profile's sweep with both and compare every run
#     --keep   keep the work folder (default: removed when everything matches)
#     --new-set KEY=VALUE  a setting for the working tree's runs only (a flag of
#              daoe-train, and the smoke profile's "train" key), e.g.
#              cpu_conv=im2col: the reference convolutions against a commit from
#              before the oneDNN engine
# Environment: CIFAR10_DIR (default ../shared/data/cifar-10-batches-bin),
# WORK (default build/same_results), THREADS (default 2), WIDTH (the battery's network width,
# default 4; 8 against commits before 79b7cb0, whose BN crashed at width 4 on AVX2 CPUs).
# Exit status: 0 all identical, 1 a difference (listed), 2 usage or build error.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 1 ] || { sed -n '2,23p' "$0"; exit 2; }
commit=$1; shift
smoke=0 keep=0 new_flags="" new_sets=()
while [ $# -gt 0 ]; do
    case $1 in
    --smoke) smoke=1 ;;
    --keep) keep=1 ;;
    --new-set)
        [ $# -ge 2 ] && [[ $2 == *=* ]] || { echo "same_results: --new-set needs KEY=VALUE" >&2; exit 2; }
        new_sets+=("$2"); k=${2%%=*}; new_flags="$new_flags --${k//_/-} ${2#*=}"; shift ;;
    *) echo "same_results: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
data=${CIFAR10_DIR:-$here/../shared/data/cifar-10-batches-bin}
[ -f "$data/test_batch.bin" ] || { echo "same_results: no CIFAR-10 in $data (set CIFAR10_DIR)" >&2; exit 2; }
work=${WORK:-$here/build/same_results}
threads=${THREADS:-2}
rm -rf "$work"; mkdir -p "$work"

build() { # build SRC DIR
    cmake -S "$1" -B "$2" -DCMAKE_BUILD_TYPE=Release -DDAOE_CUDA=OFF > "$2.log" 2>&1 &&
        cmake --build "$2" -j2 --target daoe-train daoe-sweep daoe-stats >> "$2.log" 2>&1 ||
        { echo "same_results: build of $1 failed, see $2.log" >&2; exit 2; }
}
git -C "$here" rev-parse --verify -q "$commit^{commit}" > /dev/null || { echo "same_results: no commit $commit" >&2; exit 2; }
mkdir -p "$work/old-src"
git -C "$here" archive "$commit" | tar -x -C "$work/old-src"
echo "same_results: building $commit and the working tree"
build "$work/old-src" "$work/old-build"
build "$here" "$work/new-build"

# name|flags: every optimizer, DAO-E's controller options, schedule and update variants
battery=(
    "sgd|--optimizer sgd"
    "sgd-nesterov-const|--optimizer sgd --nesterov --schedule constant"
    "adam|--optimizer adam"
    "adamw|--optimizer adamw"
    "rmsprop|--optimizer rmsprop"
    "lion|--optimizer lion"
    "daoe|--optimizer daoe"
    "daoe-fixed|--optimizer daoe --controller fixed"
    "daoe-raw|--optimizer daoe --hypergrad raw --meta-lr 20"
    "daoe-pair|--optimizer daoe --members sgd,adam --meta-every 3 --alpha-ema 0.9"
    "daoe-noaug|--optimizer daoe --no-augment --seed 5"
)
common="--data $data --width ${WIDTH:-4} --train-subset 512 --batch 64 --epochs 2 --val 128 --test-subset 256 --threads $threads --trace-every 1 --quiet"
strip_csv() { cut -d, -f1-8,12- "$1"; }
strip_cfg() { # strip_cfg FILE OTHER: FILE's settings, without what differs by build or machine and the keys OTHER lacks
    /usr/bin/python3 -c '
import json, sys
d, o = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
for k in ("versions", "blas", "machine", "environment", "out", "created"):
    d.pop(k, None)
only = sorted(k for k in d if k not in o)
for k in only:
    print("only-here %s=%s" % (k, json.dumps(d.pop(k))), file=sys.stderr)
print(json.dumps(d, sort_keys=True, indent=1))' "$1" "$2"; }
fails=0
for entry in "${battery[@]}"; do
    name=${entry%%|*} flags=${entry#*|}
    for side in old new; do
        rc=0
        extra=""
        [ $side = new ] && extra=$new_flags
        "$work/$side-build/bin/daoe-train" --out "$work/$side/$name" $common $flags $extra 2> "$work/$side-$name.err" || rc=$?
        echo $rc > "$work/$side-$name.rc"
    done
    d=""
    # a run that failed on both sides would compare equal: it must have finished
    [ "$(cat "$work/new-$name.rc")" = 0 ] && [ -f "$work/new/$name/final.safetensors" ] ||
        d="$d not-finished($(head -c 200 "$work/new-$name.err"))"
    cmp -s "$work/old-$name.rc" "$work/new-$name.rc" || d="$d exit-status"
    for f in final.safetensors alpha.csv summary.json; do
        [ -f "$work/old/$name/$f" ] || [ -f "$work/new/$name/$f" ] || continue
        [ "$f" = summary.json ] && continue
        cmp -s "$work/old/$name/$f" "$work/new/$name/$f" || d="$d $f"
    done
    cmp -s <(strip_csv "$work/old/$name/epochs.csv") <(strip_csv "$work/new/$name/epochs.csv") || d="$d epochs.csv"
    cmp -s <(strip_cfg "$work/old/$name/config.json" "$work/new/$name/config.json" 2> /dev/null) \
        <(strip_cfg "$work/new/$name/config.json" "$work/old/$name/config.json" 2> "$work/new-$name.only") || d="$d config.json"
    only=$(tr '\n' ' ' < "$work/new-$name.only")
    if [ -z "$d" ]; then echo "same  $name${only:+  (new keys, not compared: $only)}"; else echo "DIFF  $name:$d"; fails=$((fails + 1)); fi
done

if [ $smoke = 1 ]; then
    # the new side's profile: smoke.json with the --new-set keys in its "train" block
    /usr/bin/python3 -c '
import json, sys
p = json.load(open(sys.argv[1]))
for kv in sys.argv[3:]:
    k, v = kv.split("=", 1)
    p["train"][k] = v
json.dump(p, open(sys.argv[2], "w"), indent=1)' "$here/bench/profiles/smoke.json" "$work/smoke-new.json" "${new_sets[@]}"
    for side in old new; do
        prof=$here/bench/profiles/smoke.json
        [ $side = new ] && prof=$work/smoke-new.json
        "$work/$side-build/bin/daoe-sweep" "$prof" --results "$work/$side-smoke" > "$work/$side-smoke.log" 2>&1 || true
    done
    for run in "$work"/old-smoke/*/; do
        r=$(basename "$run")
        d=""
        cmp -s "$run/final.safetensors" "$work/new-smoke/$r/final.safetensors" || d="$d final.safetensors"
        cmp -s <(strip_csv "$run/epochs.csv") <(strip_csv "$work/new-smoke/$r/epochs.csv") || d="$d epochs.csv"
        [ ! -f "$run/alpha.csv" ] || cmp -s "$run/alpha.csv" "$work/new-smoke/$r/alpha.csv" || d="$d alpha.csv"
        if [ -z "$d" ]; then echo "same  smoke/$r"; else echo "DIFF  smoke/$r:$d"; fails=$((fails + 1)); fi
    done
fi
if [ $fails -ne 0 ]; then echo "same_results: $fails difference(s) against $commit (work folder $work)"; exit 1; fi
echo "same_results: every run identical to $commit"
[ $keep = 1 ] || rm -rf "$work"
