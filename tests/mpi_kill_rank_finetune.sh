#!/usr/bin/env bash
# SIGKILL one rank of a 2-rank `temper finetune` mid-run: the whole job must exit non-zero within
# 60 s (no hang). Usage: mpi_kill_rank_finetune.sh TEMPER_BIN SOURCE_DIR
set -uo pipefail
BIN=$1
SRC=$2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
mpirun -np 2 --oversubscribe --allow-run-as-root "$BIN" finetune --model "$SRC/tests/fixtures/gpt2_demo" \
  --train "$SRC/tests/fixtures/text/finetune_train.txt" --valid-fraction 0.1 --seq-len 32 --micro-batch 2 \
  --max-steps 1000000 --eval-batches 1 --progress plain --output "$TMP/run" >"$TMP/out" 2>&1 &
launcher=$!
for _ in $(seq 1 600); do
  grep -q '"type":"train"' "$TMP/run/metrics.jsonl" 2>/dev/null && break
  sleep 0.1
done
victim=$(pgrep -P "$launcher" -f "finetune" | tail -1)
[ -n "$victim" ] || { echo "no rank process found"; kill -9 "$launcher"; exit 1; }
kill -9 "$victim"
start=$(date +%s)
rc=0
for _ in $(seq 1 1200); do
  kill -0 "$launcher" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$launcher" 2>/dev/null; then
  echo "job still running 120 s after a rank was killed"; kill -9 "$launcher"; exit 1
fi
wait "$launcher"; rc=$?
took=$(( $(date +%s) - start ))
echo "killed rank pid $victim: job exit status $rc after $took s"
[ "$rc" -ne 0 ] && [ "$took" -le 60 ]
