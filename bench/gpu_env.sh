# shellcheck shell=bash
# Sourced by the GPU scripts (gpu_pack.sh, gpu_device.sh, gpu_verify.sh,
# gpu_check.sh, gpu_dryrun.sh): the library path for programs built on the
# development machine and run on a device machine, and the size of what a
# device call carries.
#
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

# A device call carries the working tree (tracked files and untracked ones git
# does not ignore, and shared/ where the checkout has one) plus the paths named
# in carry, at most DAOE_CALL_LIMIT bytes in all (the device tool's 64 MiB).
DAOE_CALL_LIMIT=$((64 * 1048576))

# daoe_tree_bytes: the bytes of the working tree a call carries, as the tree is
# now (run in the repository root): every file's size, and 4 KiB for every
# folder (what `du -sb --apparent-size` counts on the usual file systems; the
# tree has hundreds). A tracked file deleted from the tree does not travel and
# is not counted (`rm -r results/smoke/adam-s1`, the documented way to re-run a
# run, deletes tracked files).
daoe_tree_bytes() {
    local -A dirs=()
    local f d files
    files=$(mktemp)
    {
        git ls-files -z -co --exclude-standard
        if [ -d shared ] && git check-ignore -q shared; then find shared -type f -print0; fi
    } | while IFS= read -r -d '' f; do
        if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
    done > "$files"
    while IFS= read -r -d '' f; do
        d=$f
        while [ "${d%/*}" != "$d" ]; do d=${d%/*}; dirs[$d]=1; done
    done < "$files"
    xargs -0 -r stat -c %s -- < "$files" | awk -v nd="${#dirs[@]}" '{s += $1} END {printf "%d\n", s + 4096 * (nd + 1)}'
    rm -f "$files"
}

# daoe_mib BYTES: "12.3 MiB"
daoe_mib() { awk -v b="$1" 'BEGIN {printf "%.1f MiB", b / 1048576}'; }
