#!/usr/bin/env bash
# Packs what a lent GPU machine lacks for bench/gpu_device.sh into .devpack/
# (git-ignored): two packs, each an xz tar cut into parts, one part per device
# call (REPRODUCE.md, "GPU session procedure"):
#   prog-NN  the prebuilt programs (daoe-train, daoe-sweep, daoe-stats,
#            daoe-bench-gpu, test_cuda) and the shared libraries they load that
#            a bare CUDA + cuDNN image lacks (everything ldd names except the C
#            library, libstdc++/libgcc_s and the CUDA/cuDNN/cuBLAS libraries:
#            OpenBLAS, cJSON, GSL, ...). One part: the first call carries it
#            alone and verifies the GPU path on synthetic data (gpu_verify.sh).
#   data-NN  the six CIFAR-10 files, test_batch first, then data_batch_1..5, so
#            that the first parts alone yield the files short runs read.
# What a call carries is the working tree, .devpack/MANIFEST.tsv and one part,
# at most 64 MiB in all. Each part's size is 64 MiB minus the tree (as it is
# now: bench/gpu_env.sh daoe_tree_bytes), a reserve for the manifest and a
# margin, rounded down to a multiple of the quantum; every planned call is
# checked against the limit and a pack with a call over it is refused (exit 1,
# no manifest left). The data parts are a pure function of the data, the xz
# level and the part size (fixed tar headers, single-threaded xz): a re-pack
# after a rebuild keeps them while they still fit (else makes them anew), so
# the data calls of a plan do not change. The manifest holds the sha256 of
# every part, of each pack's archive and of every file; the CIFAR-10 files are
# also checked against the official sums in lib/core/cifar10.sha256, here and
# on the device.
#
#   bench/gpu_pack.sh                      programs from build-gpu/, data from $CIFAR10_DIR
#   --build DIR --data DIR --out DIR       (build-gpu, $CIFAR10_DIR, .devpack)
#   --level N       xz level (9)
#   --margin B      bytes kept free in every call (3M); B takes K and M suffixes (1024-based)
#   --limit B       what one call may carry (64M); tests only
#   --quantum B     part sizes are multiples of it (4M); tests only
#   --part-size B   parts of B bytes instead of the computed size (still checked)
#   --programs-only no data pack (the first call needs none)
#   --no-official   accept data that is not the official CIFAR-10 (tests only)
#   --allow-missing leave out programs the build lacks (a CPU-only build: the dry run)
#
# Build the programs first, for the device's GPU and CPU:
#   cmake -S . -B build-gpu -DDAOE_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DDAOE_NATIVE=OFF -DDAOE_DNNL=OFF
#   cmake --build build-gpu -j2
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/gpu_env.sh
bytes_of() {   # 64M -> 67108864
    local v=$1
    case $v in
        *[kK]) echo $(( ${v%?} * 1024 )) ;;
        *[mM]) echo $(( ${v%?} * 1048576 )) ;;
        *) echo $(( v )) ;;
    esac
}
BUILD=build-gpu
DATA=${CIFAR10_DIR:-}
OUTD=.devpack
LEVEL=9
MARGIN=$(bytes_of 3M)
LIMIT=$DAOE_CALL_LIMIT
QUANTUM=$(bytes_of 4M)
PART_SIZE=""
FORCED=0
WITH_DATA=1
OFFICIAL=1
ALLOW_MISSING=0
while [ $# -gt 0 ]; do
    case $1 in
        --build) BUILD=$2; shift 2 ;;
        --data) DATA=$2; shift 2 ;;
        --out) OUTD=$2; shift 2 ;;
        --level) LEVEL=$2; shift 2 ;;
        --margin) MARGIN=$(bytes_of "$2"); shift 2 ;;
        --limit) LIMIT=$(bytes_of "$2"); shift 2 ;;
        --quantum) QUANTUM=$(bytes_of "$2"); shift 2 ;;
        --part-size) PART_SIZE=$(bytes_of "$2"); FORCED=1; shift 2 ;;
        --programs-only) WITH_DATA=0; shift ;;
        --no-official) OFFICIAL=0; shift ;;
        --allow-missing) ALLOW_MISSING=1; shift ;;
        -h|--help) awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "$0"; exit 0 ;;
        *) echo "gpu_pack.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
die() { echo "gpu_pack.sh: error: $*" >&2; exit 1; }
PROGRAMS="bin/daoe-train bin/daoe-sweep bin/daoe-stats bin/daoe-bench-gpu tests/test_cuda"
CIFAR="data_batch_1.bin data_batch_2.bin data_batch_3.bin data_batch_4.bin data_batch_5.bin test_batch.bin"
D=data/cifar-10-batches-bin
# libraries the device has (its own C library and compiler runtime, CUDA, cuDNN, cuBLAS): not packed
SYSTEM_LIBS='^(linux-vdso|ld-linux|libc|libm|libdl|libpthread|librt|libutil|libresolv|libstdc\+\+|libgcc_s|libcuda|libcudart|libcublas|libcublasLt|libcudnn[a-z_]*|libnvrtc|libnvJitLink)\.so'
MANIFEST_RESERVE=$((64 * 1024))
sha() { sha256sum < "$1" | cut -d' ' -f1; }

# ------------------------------------------------------------------ the budget of a part
TREE=$(daoe_tree_bytes)
ALLOWED=$((LIMIT - TREE - MANIFEST_RESERVE - MARGIN))   # the largest part a call can carry
[ "$ALLOWED" -gt 0 ] || die "the working tree ($(daoe_mib "$TREE")) leaves no room in a call of $(daoe_mib "$LIMIT") (margin $(daoe_mib "$MARGIN")): commit or ignore less"
if [ -z "$PART_SIZE" ]; then
    PART_SIZE=$((ALLOWED / QUANTUM * QUANTUM))
    [ "$PART_SIZE" -gt 0 ] || PART_SIZE=$ALLOWED
fi

# ------------------------------------------------------------------ inputs
[ $WITH_DATA = 0 ] || [ -n "$DATA" ] || die "no data folder: pass --data DIR or set CIFAR10_DIR (or --programs-only)"
have=""
for p in $PROGRAMS; do
    if [ -x "$BUILD/$p" ]; then have="$have $p"
    elif [ $ALLOW_MISSING = 1 ]; then echo "gpu_pack.sh: note: $BUILD/$p missing: left out (--allow-missing)"
    else die "$BUILD/$p missing: build the programs first (see --help)"; fi
done
PROGRAMS=$have
DATA_SUMS=""
if [ $WITH_DATA = 1 ]; then
    for f in $CIFAR; do [ -f "$DATA/$f" ] || die "$DATA/$f missing"; done
    official=$(cut -d' ' -f1 lib/core/cifar10.sha256)   # in the order of $CIFAR (daoe_cifar_files)
    i=0
    for f in $CIFAR; do
        i=$((i + 1))
        got=$(sha "$DATA/$f")
        DATA_SUMS="$DATA_SUMS$got "
        want=$(echo "$official" | sed -n "${i}p")
        [ $OFFICIAL = 0 ] || [ "$got" = "$want" ] || die "$DATA/$f: sha256 $got is not the official $want"
    done
fi
mkdir -p "$OUTD"
MAN=$OUTD/MANIFEST.tsv
rm -f "$MAN"

# pack NAME ROOT PARTSIZE LIST...: ROOT/LIST (in that order, links followed) as
# one tar with fixed headers, xz -LEVEL single-threaded (the same bytes every
# time), cut into OUTD/NAME-01.. of PARTSIZE; writes OUTD/NAME.tsv: its part,
# archive and file rows
pack() {
    local name=$1 root=$2 psize=$3; shift 3
    local arch=$OUTD/$name.tar.xz part f
    rm -f "$OUTD/$name"-[0-9][0-9] "$OUTD/$name.tsv"
    (cd "$root" && tar -c --format=gnu --owner=0 --group=0 --numeric-owner --mtime=@0 --mode=u+rwX,go+rX,go-w \
        --dereference --no-recursion "$@") | xz -"$LEVEL" -T1 -c > "$arch"
    split -b "$psize" --numeric-suffixes=1 -a 2 "$arch" "$OUTD/$name-"
    {
        for part in "$OUTD/$name"-[0-9][0-9]; do
            printf 'part\t%s\t%s\t%s\n' "$(basename "$part")" "$(stat -c %s "$part")" "$(sha "$part")"
        done
        printf 'archive\t%s\t%s\t%s\n' "$name" "$(stat -c %s "$arch")" "$(sha "$arch")"
        for f in "$@"; do
            [ -f "$root/$f" ] && printf 'file\t%s\t%s\t%s\n' "$f" "$(stat -L -c %s "$root/$f")" "$(sha "$root/$f")"
        done
    } > "$OUTD/$name.tsv"
    rm -f "$arch"
}

# ------------------------------------------------------------------ programs
STAGE=$OUTD/stage
rm -rf "$STAGE"
mkdir -p "$STAGE/bin" "$STAGE/tests" "$STAGE/lib"
for p in $PROGRAMS; do cp "$BUILD/$p" "$STAGE/$p"; done
nlib=0
for p in $PROGRAMS; do
    out=$(ldd "$BUILD/$p" 2>&1) || { echo "gpu_pack.sh: note: ldd $p: not a dynamic executable (no libraries)"; continue; }
    if echo "$out" | grep -q "not found"; then die "ldd $BUILD/$p: $(echo "$out" | grep 'not found' | head -3)"; fi
    while read -r lname arrow path _; do
        [ "$arrow" = "=>" ] && [ -n "$path" ] || continue
        echo "$lname" | grep -Eq "$SYSTEM_LIBS" && continue
        if [ ! -f "$STAGE/lib/$lname" ]; then cp -L "$path" "$STAGE/lib/$lname"; nlib=$((nlib + 1)); fi
    done <<< "$out"
done
# shellcheck disable=SC2046
pack prog "$STAGE" "$PART_SIZE" $(cd "$STAGE" && find bin tests lib | LC_ALL=C sort)
rm -rf "$STAGE"
np=$(grep -c '^part' "$OUTD/prog.tsv")
[ "$np" = 1 ] || echo "gpu_pack.sh: warning: the programs need $np parts: the check (call 1) waits for all of them"

# ------------------------------------------------------------------ data
DATA_KEY=""
if [ $WITH_DATA = 1 ]; then
    DATA_KEY="cifar10 sha256 ${DATA_SUMS}xz -$LEVEL tar-v1"
    reuse=0
    # re-used: the same data and level, every part present and intact, and each still fits a call
    # (or, with --part-size, parts of that size)
    if [ -f "$OUTD/data.tsv" ] && [ "$(sed -n 's/^# key //p' "$OUTD/data.tsv")" = "$DATA_KEY" ] &&
        { [ $FORCED = 0 ] || [ "$(sed -n 's/^# part-size //p' "$OUTD/data.tsv")" = "$PART_SIZE" ]; }; then
        reuse=1
        while IFS=$'\t' read -r kind name size want; do
            [ "$kind" = part ] || continue
            if [ ! -f "$OUTD/$name" ] || [ "$(stat -c %s "$OUTD/$name")" -gt "$ALLOWED" ] || [ "$(sha "$OUTD/$name")" != "$want" ]; then reuse=0; fi
        done < "$OUTD/data.tsv"
    fi
    if [ $reuse = 1 ]; then
        echo "gpu_pack.sh: data parts reused: same data and level, and they still fit ($(grep -c '^part' "$OUTD/data.tsv") parts)"
    else
        STAGE=$OUTD/stage
        mkdir -p "$STAGE/$D"
        # by link (tar follows it): no copy of 184 MB
        for f in $CIFAR; do ln -s "$(cd "$DATA" && pwd)/$f" "$STAGE/$D/$f"; done
        echo "gpu_pack.sh: packing the data (xz -$LEVEL, one thread: minutes)"
        pack data "$STAGE" "$PART_SIZE" "$D" "$D/test_batch.bin" $(for i in 1 2 3 4 5; do echo "$D/data_batch_$i.bin"; done)
        { echo "# key $DATA_KEY"; echo "# part-size $PART_SIZE"; cat "$OUTD/data.tsv"; } > "$OUTD/data.tsv.new" && mv "$OUTD/data.tsv.new" "$OUTD/data.tsv"
        rm -rf "$STAGE"
    fi
fi   # --programs-only: data parts of an earlier pack stay on disk (re-used later), out of the manifest

# ------------------------------------------------------------------ manifest and the plan
git_commit=$(sed -n 's/.*DAOE_GIT_COMMIT "\(.*\)".*/\1/p' "$BUILD/daoe_git.h" 2>/dev/null | head -1 || true)
cache() { sed -n "s/^$1:[A-Z]*=//p" "$BUILD/CMakeCache.txt" 2>/dev/null | head -1 || true; }
{
    echo "# bench/gpu_pack.sh $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname): programs of commit ${git_commit:-unknown} from $BUILD"
    echo "# build: DAOE_NATIVE=$(cache DAOE_NATIVE) CMAKE_CUDA_ARCHITECTURES=$(cache CMAKE_CUDA_ARCHITECTURES) CMAKE_BUILD_TYPE=$(cache CMAKE_BUILD_TYPE); xz -$LEVEL -T1"
    [ -z "$DATA_KEY" ] || echo "# data: $DATA_KEY"
    echo "# calls: tree $TREE bytes, margin $MARGIN, limit $LIMIT, parts of at most $PART_SIZE"
    echo "# kind	name	bytes	sha256"
    grep -v '^#' "$OUTD/prog.tsv" | grep -v '^file'
    [ -z "$DATA_KEY" ] || grep -v '^#' "$OUTD/data.tsv" | grep -v '^file'
    grep '^file' "$OUTD/prog.tsv"
    [ -z "$DATA_KEY" ] || grep '^file' "$OUTD/data.tsv"
} > "$MAN.new"
rm -f "$OUTD/prog.tsv"
mb=$(stat -c %s "$MAN.new")
over=""
echo "gpu_pack.sh: $OUTD: $(grep -c '^part' "$MAN.new") parts, $(grep -c '^file' "$MAN.new") files ($nlib libraries), programs of commit ${git_commit:-unknown}"
echo "  each call carries the working tree ($(daoe_mib "$TREE")), MANIFEST.tsv ($mb bytes) and one part; limit $(daoe_mib "$LIMIT"), margin $(daoe_mib "$MARGIN")"
echo "device calls (bench/gpu_device.sh; REPRODUCE.md, 'GPU session procedure'):"
n=0
while IFS=$'\t' read -r kind name size _; do
    [ "$kind" = part ] || continue
    n=$((n + 1))
    total=$((TREE + mb + size))
    printf '  call %d: carry ["%s/MANIFEST.tsv", "%s/%s"]  %s + %s tree + manifest = %s\n' "$n" "$OUTD" "$OUTD" "$name" \
        "$(daoe_mib "$size")" "$(daoe_mib "$TREE")" "$(daoe_mib "$total")"
    [ $((total + MARGIN)) -le "$LIMIT" ] || over="$over $name"
done < "$MAN.new"
if [ -n "$over" ]; then
    rm -f "$MAN.new"
    die "refused: the calls carrying$over would be over $(daoe_mib "$LIMIT") with the margin (no manifest written); re-pack without --part-size, or carry a smaller tree"
fi
mv "$MAN.new" "$MAN"
