#!/usr/bin/env bash
# --save-on-signal: a run sent SIGTERM (one process) or SIGUSR1 through mpirun (2 ranks) writes a
# checkpoint after the current step, exits 0, and `--resume latest` continues it.
# Usage: signal_checkpoint_test.sh TEMPER_BIN SOURCE_DIR [mpi]
set -euo pipefail
BIN=$1
SRC=$2
MODE=${3:-single}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
ARGS="--model $SRC/tests/fixtures/gpt2_demo --train $SRC/tests/fixtures/text/finetune_train.txt \
  --valid $SRC/tests/fixtures/text/finetune_valid.txt --seq-len 32 --micro-batch 2 --max-steps 100000 \
  --eval-batches 1 --progress plain --output $TMP/run --save-on-signal"
if [ "$MODE" = mpi ]; then
  LAUNCH="mpirun -np 2 --oversubscribe --allow-run-as-root"
  SIG=USR1  # mpirun forwards SIGUSR1 to the ranks (SIGTERM makes it kill them after a short grace)
else
  LAUNCH=""
  SIG=TERM
fi
$LAUNCH "$BIN" finetune $ARGS >"$TMP/out" 2>"$TMP/err" &
pid=$!
for _ in $(seq 1 600); do  # wait for the first training step
  grep -q '"type":"train"' "$TMP/run/metrics.jsonl" 2>/dev/null && break
  sleep 0.1
done
kill -$SIG $pid
start=$(date +%s)
rc=0
wait $pid || rc=$?
[ "$rc" -eq 0 ] || { echo "exit code $rc"; cat "$TMP/err"; exit 1; }
[ $(( $(date +%s) - start )) -le 60 ] || { echo "took more than 60 s to stop"; exit 1; }
grep -q '"interrupted":true' "$TMP/out" || { echo "no interrupted summary"; cat "$TMP/out"; exit 1; }
test -f "$TMP/run/checkpoints/latest" || { echo "no checkpoint"; exit 1; }
step=$(python3 -c "import json,sys; print(json.load(open('$TMP/out'))['steps'])")
$LAUNCH "$BIN" finetune ${ARGS/--max-steps 100000/--max-steps $((step + 2))} --resume latest >"$TMP/out2" 2>"$TMP/err2" \
  || { cat "$TMP/err2"; exit 1; }
grep -q "resumed from latest at step $step" "$TMP/err2" || { echo "did not resume at step $step"; cat "$TMP/err2"; exit 1; }
echo "signal checkpoint ($MODE): stopped at step $step, resumed: ok"
