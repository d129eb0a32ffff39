#!/usr/bin/env bash
# Records the CPU benchmark on this machine into results/bench_cpu/DATE_TAG.txt:
# a header naming the CPU (model, family/model, vector ISA flags), the date,
# the commit and each command, then daoe-bench-cpu --torch (every convolution
# engine and PyTorch, side by side in one invocation) under each setting:
#   native  the machine as it is (OpenBLAS's and oneDNN's own kernel choices)
#   avx2    an AVX2-only CPU emulated on this one, for ours and PyTorch alike:
#           OPENBLAS_CORETYPE=Haswell, ONEDNN_MAX_CPU_ISA=AVX2 (oneDNN in both),
#           ATEN_CPU_CAPABILITY=avx2 (PyTorch's own kernels)
# With the current PyTorch in a virtual environment (make -f Makefile.artifact torch-venv,
# or TORCH_PY=.../bin/python), each invocation also runs it (--torch-py): eager NCHW, eager
# channels_last, torch.compile (inductor) fp32, and autocast bf16 where the CPU has bf16.
# PARTS=W (default 16; empty: none) appends one --parts run at width W (the step taken
# apart per engine, SGD and DAO-E; bench/bench_parts.c).
# Each setting runs REPEAT times (default 3), alternating settings; the table
# takes the median of each img/s and of each ratio (every ratio measured
# within one invocation). Run it with nothing else running (2 cores are
# shared by everything).
# bench/bench_cpu_table.py turns the raw files into README's CPU table.
#
#   bench/bench_cpu_record.sh TAG [SETTINGS]   # SETTINGS default "native avx2"
# Environment: BIN (default build/bin), WIDTHS (default 8,16,64), STEPS (default: the bench's), REPEAT (default 3),
# TORCH_VENV (default: the Makefile's, $HOME/.cache/daoe/venv-torch), TORCH_PY (default: its bin/python when it exists), PARTS.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 1 ] || { sed -n '2,15p' "$0"; exit 2; }
tag=$1
settings=${2:-native avx2}
bin=${BIN:-$here/build/bin}
[ -x "$bin/daoe-bench-cpu" ] || { echo "bench_cpu_record: no $bin/daoe-bench-cpu (build first)" >&2; exit 2; }
out=$here/results/bench_cpu/$(date -u +%F)_$tag.txt
mkdir -p "$(dirname "$out")"
model=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
fam=$(grep -m1 '^cpu family' /proc/cpuinfo | cut -d: -f2 | tr -d ' ')
mod=$(grep -m1 '^model[[:space:]]*:' /proc/cpuinfo | cut -d: -f2 | tr -d ' ')
isa=$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|fma|avx512f|avx512bw|avx512_bf16|avx512_fp16|amx_bf16|amx_tile)$' | tr '\n' ' ')
args=(--torch --convs --widths "${WIDTHS:-8,16,64}")
venv=${TORCH_VENV:-$HOME/.cache/daoe/venv-torch}
torch_py=${TORCH_PY:-}
[ -z "$torch_py" ] && [ -x "$venv/bin/python" ] && torch_py=$venv/bin/python
if [ -n "$torch_py" ]; then args+=(--torch-py "$torch_py")
else echo "bench_cpu_record: no current PyTorch (make -f Makefile.artifact torch-venv): PyTorch 1.13 only" >&2; fi
[ -n "${STEPS:-}" ] && args+=(--steps "$STEPS")
{
    echo "# daoe-bench-cpu on $model (family $fam, model $mod), $(nproc) cores, flags: $isa"
    echo "# date: $(date -u -Iseconds), commit $(git -C "$here" rev-parse --short HEAD)$(git -C "$here" diff --quiet HEAD -- lib bench || echo '+changes'), host $(hostname)"
} > "$out"
for rep in $(seq 1 "${REPEAT:-3}"); do
for s in $settings; do
    case $s in
    native) envs=() ;;
    avx2) envs=(OPENBLAS_CORETYPE=Haswell ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2) ;;
    *) echo "bench_cpu_record: unknown setting $s (native|avx2)" >&2; exit 2 ;;
    esac
    echo "=== $s #$rep" >> "$out"
    echo "# command: ${envs[*]:-} build/bin/daoe-bench-cpu ${args[*]}" >> "$out"
    echo "bench_cpu_record: $s, run $rep ..." >&2
    env "${envs[@]}" "$bin/daoe-bench-cpu" "${args[@]}" >> "$out" 2>&1
done
done
parts=${PARTS-16}
if [ -n "$parts" ]; then
    echo "=== parts" >> "$out"
    echo "# command: build/bin/daoe-bench-cpu --parts --widths $parts --cpu-conv im2col,dnnl" >> "$out"
    echo "bench_cpu_record: the step taken apart at width $parts ..." >&2
    "$bin/daoe-bench-cpu" --parts --widths "$parts" --cpu-conv im2col,dnnl >> "$out" 2>&1
fi
echo "bench_cpu_record: wrote $out" >&2
