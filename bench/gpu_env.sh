# shellcheck shell=bash
# Sourced by the GPU scripts (gpu_check.sh, gpu_device.sh): the library path
# for programs built on the development machine and run on a device machine.
# daoe_gpu_libpath PREFIX prints PREFIX/lib (the libraries bench/gpu_pack.sh
# packed: OpenBLAS, cJSON, GSL, ...), then the CUDA toolkit's folders, then
# the lib folders of the nvidia-* Python wheels PyTorch uses (cuDNN, cuBLAS),
# joined by ':'; missing folders are left out.
daoe_gpu_libpath() {
    local p="$1/lib" d
    for d in /usr/local/cuda/lib64 /usr/local/cuda/lib $(python3 -c 'import nvidia, os; p = list(nvidia.__path__)[0]; print(" ".join(os.path.join(p, x, "lib") for x in sorted(os.listdir(p))))' 2>/dev/null); do
        [ -d "$d" ] && p=$p:$d
    done
    echo "$p"
}
