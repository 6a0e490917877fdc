#!/usr/bin/env bash
# `temper bench cnn` on the CPU at a tiny size: the step runs, the printed line and the JSON carry finite
# step time, images/s, MFU and the forward multiply-adds (CnnClassifier::forward_macs); the peer protocol
# with a stub peer (its step time gives the ratio) and a failing one (our figures survive);
# bench/peer_torch_cnn.py itself only when torch is importable. Bad flags fail with one clear line.
# Usage: test_bench_cnn.sh TEMPER_BIN SOURCE_DIR
set -euo pipefail
BIN=$1
SRC=$2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
ARGS=(--device cpu --arch resnet18 --size 32 --batch 2 --iters 1 --warmup 0)
run() {  # run NAME ARGS...: stdout to $TMP/NAME.out, stderr shown on failure
  local name=$1
  shift
  "$BIN" bench cnn "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" || { cat "$TMP/$name.err"; exit 1; }
}
cat >"$TMP/stub_peer.py" <<'PY'
import json, sys
req = json.load(open(sys.argv[1]))
assert req["arch"] == "resnet18" and req["batch"] == 2 and req["size"] == 32 and req["classes"] == 1000, req
json.dump({"torch": "stub", "layout": "stub", "step_s": 0.5, "images_per_s": 4.0}, open(sys.argv[2], "w"))
PY
run plain "${ARGS[@]}" --json "$TMP/plain.json"
run stub "${ARGS[@]}" --peer "python3 $TMP/stub_peer.py" --json "$TMP/stub.json"
run fail "${ARGS[@]}" --peer false
grep -q "images/s, .* MFU" "$TMP/plain.out" || { cat "$TMP/plain.out"; exit 1; }
grep -q "temper x torch" "$TMP/stub.out" || { echo "no ratio"; cat "$TMP/stub.out"; exit 1; }
grep -q "^temper: " "$TMP/fail.out" || { echo "our figures lost with a failing peer"; cat "$TMP/fail.out"; exit 1; }
python3 - "$TMP" <<'PY'
import json, math, sys
d = sys.argv[1]
for name in ("plain", "stub"):
    j = json.load(open(f"{d}/{name}.json"))
    for k in ("step_s", "images_per_s", "tflops", "mfu"):
        assert isinstance(j[k], float) and math.isfinite(j[k]) and j[k] > 0, (name, k, j[k])
    assert j["forward_macs_per_image"] == 37523456, j["forward_macs_per_image"]  # resnet18 at 32 (torch's count)
    assert abs(j["images_per_s"] - 2 / j["step_s"]) < 1e-9 * j["images_per_s"]
stub = json.load(open(f"{d}/stub.json"))
assert abs(stub["ratio_peer_over_ours"] - 0.5 / stub["step_s"]) < 1e-9, stub
assert stub["peer"]["result"]["torch"] == "stub", stub["peer"]
print("bench cnn json: ok")
PY
if python3 -c "import torch, torchvision" 2>/dev/null; then  # the real peer, when this machine has it
  run torch "${ARGS[@]}" --peer "python3 $SRC/bench/peer_torch_cnn.py" --json "$TMP/torch.json"
  python3 -c "import json,sys; j=json.load(open(sys.argv[1])); assert j['peer_images_per_s'] > 0, j['peer']" "$TMP/torch.json"
fi
bad() {  # bad NAME WORD ARGS...: must fail with one line mentioning WORD
  local name=$1 word=$2
  shift 2
  if "$BIN" bench cnn "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"; then echo "$name accepted"; exit 1; fi
  grep -q -- "$word" "$TMP/$name.err" || { echo "$name:"; cat "$TMP/$name.err"; exit 1; }
  [ "$(grep -c . "$TMP/$name.err")" -le 1 ] || { echo "$name: more than one line"; cat "$TMP/$name.err"; exit 1; }
}
bad accuracy "--accuracy" "${ARGS[@]}" --accuracy
bad dtype "--dtype" "${ARGS[@]}" --dtype bf16
bad arch "--arch" "${ARGS[@]}" --arch vgg16
bad json "--json" "${ARGS[@]}" --json /nonexistent/dir/x.json
echo "bench cnn cli: ok"
