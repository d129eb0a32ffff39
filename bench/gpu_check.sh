#!/usr/bin/env bash
# One-shot GPU check for a person with a GPU: build (or use a prebuilt
# bundle), verify the GPU path (bench/gpu_verify.sh: test_cuda, short runs
# on synthetic data, kill and resume, compute-sanitizer memcheck with CUDA
# graphs on), then our benchmark and PyTorch's in the same run; logs under
# $OUT (default ./gpu_check_out), one table at the end.
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
. bench/gpu_env.sh
if [ -z "$PRE" ]; then
    stamp "building"
    cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release > "$OUT/build.log" 2>&1 && cmake --build build-gpu -j >> "$OUT/build.log" 2>&1 \
        || { tail -30 "$OUT/build.log"; exit 1; }
    PRE=build-gpu
fi
# the packed libraries, then cuDNN and cuBLAS of this machine (the CUDA toolkit's or PyTorch's wheels)
export LD_LIBRARY_PATH=$(daoe_gpu_libpath "$PRE")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
ldd "$PRE/bin/daoe-bench-gpu" | grep -E "cudnn|cublas|openblas|not found"
stamp "verification (bench/gpu_verify.sh)"
bench/gpu_verify.sh "$PRE" "$OUT/verify"
rc=$?
stamp "benchmark (ours)"
timeout 240 "$PRE/bin/daoe-bench-gpu" --json "$OUT/bench_gpu.json" ${BENCH_ARGS:-} 2>&1; echo "bench exit $?"
if [ -z "${SKIP_TORCH:-}" ]; then
    stamp "benchmark (PyTorch)"
    export TORCHINDUCTOR_COMPILE_THREADS=${TORCHINDUCTOR_COMPILE_THREADS:-16}
    PYTHONUNBUFFERED=1 timeout 300 python3 bench/bench_gpu_torch.py --json "$OUT/bench_torch.json" 2>&1 | grep -v Warning; echo "torch exit $?"
fi
stamp "summary"
cat "$OUT/verify/summary.tsv"
python3 bench/gpu_table.py "$OUT"
exit $rc
