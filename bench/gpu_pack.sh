#!/usr/bin/env bash
# Packs what a lent GPU machine lacks for bench/gpu_device.sh into .devpack/
# (git-ignored): the prebuilt programs (daoe-train, daoe-sweep, daoe-stats,
# daoe-bench-gpu, test_cuda), the shared libraries they load that a bare
# CUDA + cuDNN image may lack (everything ldd names except the C library,
# libstdc++/libgcc_s and the CUDA/cuDNN/cuBLAS libraries), and the six
# CIFAR-10 files. One tar (programs first, then test_batch and the training
# files in order, so that the first parts alone yield the programs and the
# data that short runs read), xz-compressed, split into parts of at most
# --part-size (60 MiB): each
# device call carries one part (a call carries at most 64 MiB in all).
# .devpack/MANIFEST.tsv holds the sha256 of every part, of the whole archive
# and of every file; CIFAR-10 files are also checked against the official
# sums in lib/core/cifar10.sha256, here and on the device.
#
#   bench/gpu_pack.sh                      programs from build-gpu/, data from $CIFAR10_DIR
#   bench/gpu_pack.sh --build DIR --data DIR --out DIR --part-size 60M --level 9
#   --no-official   accept data that is not the official CIFAR-10 (tests only)
#   --allow-missing leave out programs the build lacks (a CPU-only build: the dry run)
#
# Build the programs first, for the device's GPU and CPU:
#   cmake -S . -B build-gpu -DDAOE_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DDAOE_NATIVE=OFF -DDAOE_DNNL=OFF
#   cmake --build build-gpu -j2
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=build-gpu
DATA=${CIFAR10_DIR:-}
OUTD=.devpack
PART_SIZE=60M
LEVEL=9
OFFICIAL=1
ALLOW_MISSING=0
while [ $# -gt 0 ]; do
    case $1 in
        --build) BUILD=$2; shift 2 ;;
        --data) DATA=$2; shift 2 ;;
        --out) OUTD=$2; shift 2 ;;
        --part-size) PART_SIZE=$2; shift 2 ;;
        --level) LEVEL=$2; shift 2 ;;
        --no-official) OFFICIAL=0; shift ;;
        --allow-missing) ALLOW_MISSING=1; shift ;;
        -h|--help) awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "$0"; exit 0 ;;
        *) echo "gpu_pack.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
die() { echo "gpu_pack.sh: error: $*" >&2; exit 1; }
PROGRAMS="bin/daoe-train bin/daoe-sweep bin/daoe-stats bin/daoe-bench-gpu tests/test_cuda"
CIFAR="data_batch_1.bin data_batch_2.bin data_batch_3.bin data_batch_4.bin data_batch_5.bin test_batch.bin"
# libraries the device has (its own C library and compiler runtime, CUDA, cuDNN, cuBLAS): not packed
SYSTEM_LIBS='^(linux-vdso|ld-linux|libc|libm|libdl|libpthread|librt|libutil|libresolv|libstdc\+\+|libgcc_s|libcuda|libcudart|libcublas|libcublasLt|libcudnn[a-z_]*|libnvrtc|libnvJitLink)\.so'

[ -n "$DATA" ] || die "no data folder: pass --data DIR or set CIFAR10_DIR"
have=""
for p in $PROGRAMS; do
    if [ -x "$BUILD/$p" ]; then have="$have $p"
    elif [ $ALLOW_MISSING = 1 ]; then echo "gpu_pack.sh: note: $BUILD/$p missing: left out (--allow-missing)"
    else die "$BUILD/$p missing: build the programs first (see --help)"; fi
done
PROGRAMS=$have
for f in $CIFAR; do [ -f "$DATA/$f" ] || die "$DATA/$f missing"; done
if [ $OFFICIAL = 1 ]; then
    # the official sums, in the order of daoe_cifar_files
    sums=$(cut -d' ' -f1 lib/core/cifar10.sha256)
    i=0
    for f in $CIFAR; do
        i=$((i + 1))
        want=$(echo "$sums" | sed -n "${i}p")
        got=$(sha256sum "$DATA/$f" | cut -d' ' -f1)
        [ "$got" = "$want" ] || die "$DATA/$f: sha256 $got is not the official $want"
    done
fi

rm -rf "$OUTD"
STAGE=$OUTD/stage
mkdir -p "$STAGE/bin" "$STAGE/tests" "$STAGE/lib" "$STAGE/data/cifar-10-batches-bin"
for p in $PROGRAMS; do cp "$BUILD/$p" "$STAGE/$p"; done
# libraries: what ldd resolves for the programs, minus the device's own
nlib=0
for p in $PROGRAMS; do
    out=$(ldd "$BUILD/$p" 2>&1) || { echo "gpu_pack.sh: note: ldd $p: not a dynamic executable (no libraries)"; continue; }
    if echo "$out" | grep -q "not found"; then die "ldd $BUILD/$p: $(echo "$out" | grep 'not found' | head -3)"; fi
    while read -r name arrow path _; do
        [ "$arrow" = "=>" ] && [ -n "$path" ] || continue
        echo "$name" | grep -Eq "$SYSTEM_LIBS" && continue
        if [ ! -f "$STAGE/lib/$name" ]; then cp -L "$path" "$STAGE/lib/$name"; nlib=$((nlib + 1)); fi
    done <<< "$out"
done
# the data goes in by link (tar follows it): no copy of 184 MB
for f in $CIFAR; do ln -s "$(cd "$DATA" && pwd)/$f" "$STAGE/data/cifar-10-batches-bin/$f"; done

git_commit=$(sed -n 's/.*DAOE_GIT_COMMIT "\(.*\)".*/\1/p' "$BUILD/daoe_git.h" 2>/dev/null | head -1 || true)
cache() { sed -n "s/^$1:[A-Z]*=//p" "$BUILD/CMakeCache.txt" 2>/dev/null | head -1 || true; }
MAN=$OUTD/MANIFEST.tsv
{
    echo "# bench/gpu_pack.sh $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname): programs of commit ${git_commit:-unknown} from $BUILD"
    echo "# build: DAOE_NATIVE=$(cache DAOE_NATIVE) CMAKE_CUDA_ARCHITECTURES=$(cache CMAKE_CUDA_ARCHITECTURES) CMAKE_BUILD_TYPE=$(cache CMAKE_BUILD_TYPE); xz -$LEVEL; parts of at most $PART_SIZE (split -b)"
    echo "# kind	name	bytes	sha256"
} > "$MAN"
ORDER="bin tests lib data"
(cd "$STAGE" && find -L $ORDER -type f | LC_ALL=C sort | while read -r f; do
    printf 'file\t%s\t%s\t%s\n' "$f" "$(stat -L -c %s "$f")" "$(sha256sum < "$f" | cut -d' ' -f1)"
done) > "$OUTD/files.tsv"

# Programs and libraries first, then the test file and the training files in
# order: the first parts alone yield the programs (the GPU tests) and the
# files that short runs read (the first training images, the first test
# images: the K table), before the data are complete.
ARCH=$OUTD/pack.tar.xz
D=data/cifar-10-batches-bin
(cd "$STAGE" && tar -c --dereference --owner=0 --group=0 --mtime=@0 --no-recursion \
    $(find $ORDER -path "$D" -prune -o -print | LC_ALL=C sort) "$D" "$D/test_batch.bin" \
    $(for i in 1 2 3 4 5; do echo "$D/data_batch_$i.bin"; done)) | xz -"$LEVEL" -T2 -c > "$ARCH"
split -b "$PART_SIZE" --numeric-suffixes=1 -a 2 "$ARCH" "$OUTD/part-"
for part in "$OUTD"/part-*; do
    printf 'part\t%s\t%s\t%s\n' "$(basename "$part")" "$(stat -c %s "$part")" "$(sha256sum < "$part" | cut -d' ' -f1)" >> "$MAN"
done
printf 'archive\tpack.tar.xz\t%s\t%s\n' "$(stat -c %s "$ARCH")" "$(sha256sum < "$ARCH" | cut -d' ' -f1)" >> "$MAN"
cat "$OUTD/files.tsv" >> "$MAN"
rm -rf "$STAGE" "$ARCH" "$OUTD/files.tsv"

nparts=$(grep -c '^part' "$MAN")
tree_bytes=$(git ls-files -z -co --exclude-standard | xargs -0 stat -c %s 2>/dev/null | awk '{s += $1} END {print s + 0}')
echo "gpu_pack.sh: $OUTD: $nparts part(s), $(grep -c '^file' "$MAN") files ($nlib libraries), programs of commit ${git_commit:-unknown}"
awk -F'\t' '$1 == "part" {printf "  %s  %.1f MiB  %s\n", $2, $3 / 1048576, $4}' "$MAN"
echo "  the working tree that travels with each call: about $((tree_bytes / 1048576)) MiB"
echo "device calls (bench/gpu_device.sh; REPRODUCE.md, 'GPU session procedure'):"
for part in "$OUTD"/part-*; do
    echo "  carry [\"$OUTD/MANIFEST.tsv\", \"$part\"]"
done
