#!/usr/bin/env bash
# Configures and builds temper into build/ (CUDA on when nvcc is found; one architecture, sm_90a).
# Extra arguments go to cmake, e.g. scripts/build.sh -DTEMPER_MPI=OFF; TARGETS="temper" builds only those
# ninja targets (the main job needs the program, not the tests).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then export PATH=/usr/local/cuda/bin:$PATH; fi
JOBS=${JOBS:-$(nproc)}
mkdir -p build
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >build/configure.log 2>&1 || { cat build/configure.log; exit 1; }
# shellcheck disable=SC2086
ninja -C build -j "$JOBS" ${TARGETS:-}
