#!/bin/sh
# The injected bugs of the CI regression check (tests/regressions/*.patch, run by
# bench/ci_regressions.sh) still apply to this tree: a refactor that moves the code
# a patch breaks must move the patch with it, or the check's table can no longer be
# made again. Each patch is checked with `git apply --check` in a copy of the files it
# touches; nothing in the tree is written.
#   tests/test_regression_patches.sh SOURCE_DIR WORK
set -eu
src=$1 work=$2
n=0 bad=0
for p in "$src"/tests/regressions/*.patch; do
    n=$((n + 1))
    rm -rf "$work" && mkdir -p "$work"
    # the files the patch touches, copied (git apply --check reads them from the folder it runs in)
    for f in $(sed -n 's|^--- a/||p' "$p"); do
        mkdir -p "$work/$(dirname "$f")" && cp "$src/$f" "$work/$f"
    done
    if (cd "$work" && git apply --check "$p" 2>"$work/.err"); then
        echo "ok    $(basename "$p")"
    else
        bad=$((bad + 1))
        echo "FAIL  $(basename "$p"): $(head -n 1 "$work/.err") (make it again against this tree)"
    fi
done
[ "$n" -gt 0 ] || { echo "no patches in $src/tests/regressions"; exit 1; }
echo "$((n - bad)) of $n patches apply"
[ "$bad" -eq 0 ]
