#!/usr/bin/env bash
# The slurm engine's test on a real one-node Slurm (run from .ci/run, as root):
# installs Debian's munge and Slurm (22.05: slurmctld, slurmd, slurm-client),
# builds, runs the CTest label "slurm" (it brings the daemons up in a temp
# folder and takes them down again). Without root or the packages it is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
export CIFAR10_DIR=${CIFAR10_DIR:-$(cd .. && pwd)/shared/data/cifar-10-batches-bin}
export DEBIAN_FRONTEND=noninteractive
BUILD=${BUILD:-build}
t0=$(date +%s)
if [ "$(id -u)" = 0 ]; then
    apt-get update
    apt-get install -y --no-install-recommends munge slurmctld slurmd slurm-client
else
    echo "slurm_test: not root: the packages are not installed and the test skips"
fi
echo "slurm_test: packages installed after $(( $(date +%s) - t0 )) s"
[ -f "$BUILD/CMakeCache.txt" ] || cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release
cmake --build "$BUILD" -j"$(nproc)" --target daoe-train daoe-sweep
ctest --test-dir "$BUILD" -L slurm --output-on-failure
echo "slurm_test: done after $(( $(date +%s) - t0 )) s"
