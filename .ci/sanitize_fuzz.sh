#!/usr/bin/env bash
# Sanitizer and fuzzing stage of CI (called by .ci/run; runs alone too):
#   1. build-san/: library, programs and tests with ASan + UBSan (gcc), then
#      `ctest -LE slow` in it (bar gpu_pack): any sanitizer report aborts its test;
#   2. build-fuzz/: clang-14 with libFuzzer, then each fuzz target for
#      FUZZ_SECONDS (default 50; JOBS targets at a time) from the committed corpus, printing its
#      execution count. A crash fails the stage; the input is left in
#      build-fuzz/crashes/<target>/ (copy it to tests/fuzz/crashers/<target>/
#      once fixed, so that fuzz_replay_<target> keeps checking it).
# Installs its packages with apt-get when run as root (else prints the line).
#   3. with VALGRIND=1: valgrind memcheck on a one-epoch DAO-E run (width 4).
# Variables: FUZZ_SECONDS, FUZZ_TARGETS (default: all four), VALGRIND, JOBS (build and test parallelism, default nproc),
# SAN_BUILD, FUZZ_BUILD (folders), CIFAR10_DIR (the data tests skip without it).
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZ_SECONDS=${FUZZ_SECONDS:-50}
FUZZ_TARGETS=${FUZZ_TARGETS:-safetensors cifar config profile}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
SAN_BUILD=${SAN_BUILD:-build-san}
FUZZ_BUILD=${FUZZ_BUILD:-build-fuzz}
t0=$(date +%s)
say() { echo "sanitize_fuzz: $* ($(( $(date +%s) - t0 )) s)"; }

pkgs="cmake make gcc clang-14 libclang-rt-14-dev libomp-14-dev libopenblas-openmp-dev libdnnl-dev librandom123-dev libcjson-dev
      libssl-dev libgsl-dev python3 python3-numpy python3-scipy python3-torch"
# --packages: print the list and exit (.ci/run installs it with the project's in one apt-get)
if [ "${1:-}" = --packages ]; then echo $pkgs; exit 0; fi
missing=$(for p in $pkgs; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || echo "$p"; done | tr '\n' ' ')
if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ]; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update && apt-get install -y --no-install-recommends $missing
    else
        echo "sanitize_fuzz: missing packages; install them with: sudo apt-get install $missing" >&2
        exit 1
    fi
fi

# ---- 1. sanitizers
# halt_on_error: the first report ends the program with an error, so its test fails
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
# leaks: the library and the tests are checked; the tools listed there are not yet
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/sanitize/lsan.supp:print_suppressions=0}
cmake -S . -B "$SAN_BUILD" -DCMAKE_BUILD_TYPE=Release -DDAOE_CUDA=OFF -DDAOE_SANITIZE=ON >/dev/null
cmake --build "$SAN_BUILD" -j"$JOBS"
say "sanitizer build done"
# gpu_pack is left out: it packs files with fake programs, none of ours runs in it
ctest --test-dir "$SAN_BUILD" -LE slow -E '^gpu_pack$' --output-on-failure -j"$JOBS"
say "ctest -LE slow under ASan + UBSan passed"

# ---- 2. fuzzing
# without oneDNN: the fuzz targets are parsers, and Debian's libdnnl (gcc, libgomp) beside clang's libomp is two OpenMP runtimes
CC=clang-14 cmake -S . -B "$FUZZ_BUILD" -DCMAKE_BUILD_TYPE=Release -DDAOE_CUDA=OFF -DDAOE_FUZZ=ON -DDAOE_DNNL=OFF >/dev/null
cmake --build "$FUZZ_BUILD" -j"$JOBS" --target $(for t in $FUZZ_TARGETS; do echo "fuzz_$t"; done)
say "fuzz build done"
export ASAN_OPTIONS=halt_on_error=1:abort_on_error=1
# one target per core at a time (libFuzzer runs one process, one thread, per target)
fuzz_one() {
    local t=$1 work="$FUZZ_BUILD/corpus/$1" crashes="$FUZZ_BUILD/crashes/$1" extra="" asan=$ASAN_OPTIONS rc=0
    mkdir -p "$work" "$crashes"
    # daoe-sweep leaves a rejected profile's memory to exit() (see fuzz_profile.c)
    [ "$t" = profile ] && { extra="-detect_leaks=0"; asan=$ASAN_OPTIONS:detect_leaks=0; }
    [ -f "tests/fuzz/$t.dict" ] && extra="$extra -dict=tests/fuzz/$t.dict"
    local log="$FUZZ_BUILD/fuzz_$t.log"
    # new inputs go to build-fuzz/corpus/<t>; the committed corpus is only read
    ASAN_OPTIONS=$asan "$FUZZ_BUILD/fuzz/fuzz_$t" -max_total_time="$FUZZ_SECONDS" -max_len=4096 -timeout=10 -rss_limit_mb=4096 \
        -print_final_stats=1 -artifact_prefix="$crashes/" $extra "$work" "tests/fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
    local execs cov
    # (|| true: a log without them, e.g. a target that died at once, must still reach the report below)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1) || true
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1) || true
    if [ $rc -ne 0 ]; then
        { echo "sanitize_fuzz: fuzz_$t FAILED after ${execs:-?} executions (exit $rc); input in $crashes/; end of $log:"
          grep -E 'ERROR|SUMMARY|runtime error|==[0-9]+==' "$log" | head -20 || true
          tail -5 "$log"; } >&2
        return 1
    fi
    say "fuzz_$t: ${execs:-?} executions in ${FUZZ_SECONDS} s, ${cov:-cov: ?}, no crash"
}
fail=0 pids=()
for t in $FUZZ_TARGETS; do
    if [ ${#pids[@]} -ge "$JOBS" ]; then wait "${pids[0]}" || fail=1; pids=("${pids[@]:1}"); fi
    fuzz_one "$t" & pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail=1; done
[ $fail = 0 ] || exit 1

# ---- 3. valgrind memcheck on one short training run (VALGRIND=1; needs CIFAR10_DIR).
# A separate build without -march=native: valgrind 3.19 stops on AVX-512.
if [ "${VALGRIND:-0}" = 1 ]; then
    command -v valgrind >/dev/null || { [ "$(id -u)" = 0 ] && apt-get install -y --no-install-recommends valgrind; }
    cmake -S . -B build-vg -DCMAKE_BUILD_TYPE=Release -DDAOE_CUDA=OFF -DDAOE_NATIVE=OFF >/dev/null
    cmake --build build-vg -j"$JOBS" --target daoe-train
    rm -rf build-vg/run
    valgrind --tool=memcheck --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
        build-vg/bin/daoe-train --data "$CIFAR10_DIR" --out build-vg/run --optimizer daoe --width 4 \
        --train-subset 64 --batch 32 --epochs 1 --val 32 --test-subset 64 --threads 1
    say "valgrind memcheck: no error, no definite leak"
fi
say "done"
