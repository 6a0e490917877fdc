#!/usr/bin/env bash
# The test command: installs what is missing, builds, fetches the small test assets, runs ctest.
# GPU tests skip themselves without a device; MPI tests run under mpirun -np 2.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash tools/fetch_gpt2_tokenizer.sh
bash tools/fetch_smollm2.sh
bash tools/fetch_minilm.sh
bash tools/fetch_efficientnet_lite0.sh >/dev/null
bash tools/prepare_sentiment.sh >/dev/null
bash scripts/build.sh
cd build
ctest --output-on-failure -j "${JOBS:-$(nproc)}" --timeout 900
