#!/usr/bin/env bash
# One-shot GPU check: build (or use a prebuilt bundle), run the GPU
# tests, compute-sanitizer memcheck, our benchmark and PyTorch's in the same
# run, write logs under $OUT (default ./gpu_check_out) and print one table.
#   bench/gpu_check.sh                 build in build-gpu/ with cmake
#   bench/gpu_check.sh --prebuilt DIR  use DIR/{bin,tests,lib} built elsewhere (bench/gpu_pack.sh)
# Stages have time limits so one hang cannot eat the whole budget.
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu_check_out}
mkdir -p "$OUT"
PRE=""
[ "${1:-}" = "--prebuilt" ] && PRE=$2
t0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - t0 )) s] $*"; }
nvidia-smi 2>&1 | head -12 || true
if [ -n "$PRE" ]; then
    BIN=$PRE/bin; TESTS=$PRE/tests
    # the packed libraries, then cuDNN and cuBLAS of this machine (the CUDA toolkit's or PyTorch's wheels)
    . bench/gpu_env.sh
    export LD_LIBRARY_PATH=$(daoe_gpu_libpath "$PRE"):${LD_LIBRARY_PATH:-}
else
    stamp "building"
    cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release > "$OUT/build.log" 2>&1 && cmake --build build-gpu -j >> "$OUT/build.log" 2>&1 \
        || { tail -30 "$OUT/build.log"; exit 1; }
    BIN=build-gpu/bin; TESTS=build-gpu/tests
fi
ldd "$BIN/daoe-bench-gpu" | grep -E "cudnn|cublas|openblas|not found"
rc=0
stamp "test_cuda"
timeout 300 "$TESTS/test_cuda" > "$OUT/test_cuda.log" 2>&1; r=$?; [ $r -ne 0 ] && rc=1
grep -E "FAIL|passed|skipped|step|bit|spread|thread" "$OUT/test_cuda.log" | head -60
echo "test_cuda exit $r"
stamp "benchmark (ours)"
timeout 240 "$BIN/daoe-bench-gpu" --json "$OUT/bench_gpu.json" ${BENCH_ARGS:-} 2>&1; echo "bench exit $?"
if [ -z "${SKIP_TORCH:-}" ]; then
    stamp "benchmark (PyTorch)"
    export TORCHINDUCTOR_COMPILE_THREADS=${TORCHINDUCTOR_COMPILE_THREADS:-16}
    PYTHONUNBUFFERED=1 timeout 300 python3 bench/bench_gpu_torch.py --json "$OUT/bench_torch.json" 2>&1 | grep -v Warning; echo "torch exit $?"
fi
if [ -z "${SKIP_TRAIN:-}" ]; then
    stamp "trainer on the GPU (synthetic data in the CIFAR-10 layout: timing and a smoke test, not accuracy)"
    python3 bench/make_synthetic_cifar.py /tmp/synth_cifar > /dev/null
    for o in sgd daoe; do
        timeout 120 "$BIN/daoe-train" --backend cuda --precision bf16 --data /tmp/synth_cifar --out /tmp/run_$o \
            --optimizer $o --width 64 --epochs 2 --val 5000 --quiet; echo "daoe-train $o exit $?"
        cut -d, -f1-11 /tmp/run_$o/epochs.csv; grep -E '"status"|images_per_second' /tmp/run_$o/summary.json
    done
    cp /tmp/run_daoe/alpha.csv "$OUT/train_daoe_alpha.csv" 2>/dev/null
fi
stamp "compute-sanitizer memcheck (quick test)"
if [ -n "${SKIP_MEMCHECK:-}" ]; then
    echo "skipped (SKIP_MEMCHECK)"
elif command -v compute-sanitizer > /dev/null; then
    DAOE_NO_GRAPH=1 timeout 240 compute-sanitizer --tool memcheck --leak-check no "$TESTS/test_cuda" --quick > "$OUT/memcheck.log" 2>&1
    echo "memcheck exit $?"; grep -E "ERROR SUMMARY|test_cuda:" "$OUT/memcheck.log" | tail -3
else
    echo "compute-sanitizer not found"
fi
stamp "summary"
python3 bench/gpu_table.py "$OUT"
exit $rc
