#!/usr/bin/env bash
# One-call GPU check for a session with a lent GPU: report the machine, check build dependencies,
# configure and build the CUDA build (no MPI, no HDF5, sm_90a), run the `gpu`-labelled tests, the op
# tests under compute-sanitizer (memcheck, racecheck), then the rest of ctest, and print a short
# summary last. Full logs go to $OUT (or build-gpu/gpu_check_logs). SANITIZE=0 skips the sanitizer
# runs, REST=0 the non-GPU tests, BENCH=1 adds the attention benchmark.
#
#   tools/gpu_check.sh                 # from the repository root
#   DEPS_PREFIX=/path tools/gpu_check.sh   # extra install prefix for headers/CMake packages carried along
#
# Exit status: 0 when configure, build and every ctest run pass.
set -u
cd "$(dirname "$0")/.." || exit 1

BUILD=${BUILD_DIR:-build-gpu}
# Dependencies carried from the dev machine (tools/prepare_gpu_deps.sh, carry [".gpu-deps"]).
if [[ -z "${DEPS_PREFIX:-}" && -d .gpu-deps/root/usr ]]; then DEPS_PREFIX=$PWD/.gpu-deps/root/usr; fi
if [[ -n "${DEPS_PREFIX:-}" ]]; then
  export LD_LIBRARY_PATH="$DEPS_PREFIX/lib/x86_64-linux-gnu:$DEPS_PREFIX/lib/x86_64-linux-gnu/openblas-pthread:${LD_LIBRARY_PATH:-}"
fi
LOG=${OUT:-$BUILD/gpu_check_logs}
mkdir -p "$LOG"
JOBS=$(nproc 2>/dev/null || echo 4)
declare -a SUMMARY=()
STATUS=0
note() { SUMMARY+=("$1"); echo "== $1"; }

machine_info() {
  {
    date -u
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null ||
      echo "no GPU visible (nvidia-smi missing or failing)"
    nvcc --version 2>&1 | tail -n 2
    cmake --version 2>&1 | head -n 1
    ninja --version 2>&1 | sed 's/^/ninja /'
  } | tee "$LOG/machine.txt"
}

# Header (or CMake package) presence for what the top-level CMakeLists.txt requires.
check_deps() {
  local prefix_flags=()
  [[ -n "${DEPS_PREFIX:-}" ]] && prefix_flags=(-I"$DEPS_PREFIX/include" -I"$DEPS_PREFIX/include/x86_64-linux-gnu/openblas-pthread")
  local missing=()
  local -A headers=([nlohmann-json]="nlohmann/json.hpp" [CLI11]="CLI/CLI.hpp"
                    [fmt]="fmt/format.h" [OpenBLAS/cblas]="cblas.h" [GoogleTest]="gtest/gtest.h")
  for dep in "${!headers[@]}"; do
    if ! echo "#include <${headers[$dep]}>" | c++ -std=c++17 "${prefix_flags[@]}" -E -x c++ - >/dev/null 2>&1; then
      missing+=("$dep (<${headers[$dep]}>)")
    fi
  done
  if ((${#missing[@]})); then
    note "MISSING build dependencies: ${missing[*]} -- carry them (e.g. unpacked into an ignored folder, then DEPS_PREFIX=...)"
  else
    note "dependencies: all headers found"
  fi
}

configure_and_build() {
  local extra=()
  if [[ -n "${DEPS_PREFIX:-}" ]]; then
    extra=(-DCMAKE_PREFIX_PATH="$DEPS_PREFIX"
           -DTEMPER_BLAS_LIBRARY="$DEPS_PREFIX/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so"
           -DTEMPER_BLAS_INCLUDE_DIR="$DEPS_PREFIX/include/x86_64-linux-gnu/openblas-pthread")
    # cuDNN and NCCL from the Python wheels when the toolkit has none.
    local wheels
    wheels=$(python3 -c "import nvidia.nccl, nvidia.cudnn; print(nvidia.nccl.__path__[0], nvidia.cudnn.__path__[0])" 2>/dev/null) &&
      extra+=(-DNCCL_ROOT="${wheels%% *}" -DCUDNN_ROOT="${wheels##* }")
  fi
  if ! cmake -S . -B "$BUILD" -G Ninja -DTEMPER_CUDA=ON -DTEMPER_MPI=OFF -DTEMPER_HDF5=OFF \
      -DCMAKE_CUDA_ARCHITECTURES=90a "${extra[@]}" >"$LOG/configure.log" 2>&1; then
    tail -n 30 "$LOG/configure.log"
    note "configure: FAILED (see $LOG/configure.log; missing packages are named in it)"
    return 1
  fi
  note "configure: ok"
  if ! ninja -C "$BUILD" -j"$JOBS" >"$LOG/build.log" 2>&1; then
    grep -E "error|FAILED" "$LOG/build.log" | head -n 40
    note "build: FAILED (see $LOG/build.log)"
    return 1
  fi
  note "build: ok ($(grep -c -i 'warning' "$LOG/build.log") warning lines)"
}

run_ctest() {  # $1 = label for the summary, rest = ctest arguments
  local what=$1
  shift
  (cd "$BUILD" && ctest --output-on-failure "$@") >"$LOG/ctest_$what.log" 2>&1
  local rc=$?
  local line skipped
  line=$(grep -E "tests passed|No tests were found" "$LOG/ctest_$what.log" | tail -n 1)
  skipped=$(grep -c -- "\*\*\*Skipped" "$LOG/ctest_$what.log")
  line="$line; $skipped skipped"
  if ((rc != 0)); then
    grep -E "^\s*[0-9]+ - |Failed|FAILED|Failure" "$LOG/ctest_$what.log" | head -n 40
    STATUS=1
    note "ctest $what: FAILED -- ${line:-no summary} (see $LOG/ctest_$what.log)"
  else
    note "ctest $what: ok -- ${line:-no summary}"
  fi
}

# compute-sanitizer over the op tests (memcheck: out-of-bounds/misaligned accesses; racecheck:
# shared-memory races in the reduction and flash-attention kernels). SANITIZE=0 skips; each run is time-limited.
run_sanitizer() {  # $1 = tool, $2 = seconds, $3 = gtest filter, $4 = test executable (gpu_test_ops)
  local exe="$BUILD/tests/${4:-gpu_test_ops}" name="$1${4:+_$4}"
  if [[ "${SANITIZE:-1}" == 0 ]] || ! command -v compute-sanitizer >/dev/null || [[ ! -x "$exe" ]] ||
    ! nvidia-smi -L >/dev/null 2>&1; then
    note "compute-sanitizer $name: skipped"
    return
  fi
  timeout "$2" compute-sanitizer --tool "$1" --error-exitcode 3 "$exe" --gtest_filter="$3" \
    >"$LOG/sanitizer_$name.log" 2>&1
  local rc=$?
  if ((rc == 0)); then
    note "compute-sanitizer $name: ok"
  elif ((rc == 124)); then
    note "compute-sanitizer $name: timed out after $2 s (see $LOG/sanitizer_$name.log)"
  else
    grep -E "=========|FAILED" "$LOG/sanitizer_$name.log" | head -n 30
    STATUS=1
    note "compute-sanitizer $name: FAILED rc=$rc (see $LOG/sanitizer_$name.log)"
  fi
}

# BENCH=1: `temper bench attention` (default sweep, --accuracy, PyTorch SDPA peer) after the tests.
run_attention_bench() {
  [[ "${BENCH:-0}" == 1 ]] || return 0
  if timeout 420 "$BUILD/launch/temper" bench attention --accuracy --peer "python3 bench/peer_torch_sdpa.py" \
      --json "$LOG/bench_attention.json" >"$LOG/bench_attention.txt" 2>&1; then
    note "bench attention: ok (table in $LOG/bench_attention.txt)"
    cat "$LOG/bench_attention.txt"
  else
    tail -n 20 "$LOG/bench_attention.txt"
    note "bench attention: FAILED (see $LOG/bench_attention.txt)"
  fi
}

machine_info
check_deps
if configure_and_build; then
  run_ctest gpu -L gpu --timeout 300
  run_sanitizer memcheck 240 '*'
  run_sanitizer racecheck 150 '*LayerNorm*:*CrossEntropy*:*BiasBackward*:*SumSquares*:*Attention*'
  run_sanitizer memcheck 120 '*' gpu_test_quantized
  run_sanitizer memcheck 60 '*' gpu_test_dropout
  run_sanitizer memcheck 180 '*SmallSweep*:*PackedLayout*' gpu_test_flash_attention
  run_sanitizer racecheck 180 '*SmallSweep*' gpu_test_flash_attention
  run_attention_bench
  if [[ "${REST:-1}" == 1 ]]; then run_ctest rest -LE gpu -j"$JOBS"; else note "ctest rest: skipped (REST=0)"; fi
else
  STATUS=1
fi

echo
echo "==== gpu_check summary ($(head -n 1 "$LOG/machine.txt")) ===="
sed -n 2p "$LOG/machine.txt"
for line in "${SUMMARY[@]}"; do echo "  $line"; done
echo "  logs: $LOG"
exit $STATUS
