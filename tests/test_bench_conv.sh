#!/usr/bin/env bash
# `temper bench conv` on the CPU at tiny sizes: a subset of ResNet-50's layers, then --accuracy, then the
# whole layer list (its counts must add up to ResNet-50's 53 convolutions); the JSON written by --json has
# the expected fields, finite numbers and the 2*N*P*Q*K*R*S*C FLOP counts. The peer protocol is checked
# with a stub peer (Python stdlib) and a failing one; bench/peer_torch_conv.py itself runs only when
# torch is importable. Bad flags, and --device cuda where the convolutions cannot run there, fail with one
# clear line.
# Usage: test_bench_conv.sh TEMPER_BIN [SOURCE_DIR]
set -euo pipefail
BIN=$1
SRC=${2:-$(cd "$(dirname "$0")/.." && pwd)}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
ARGS="--device cpu --size 32 --batch 1 --iters 1 --warmup 0"
SUBSET="conv1,layer2.0.conv2,layer2.0.downsample.0,layer3.1.conv1"
run() {  # run NAME ARGS...: stdout to $TMP/NAME.out, stderr shown on failure
  local name=$1
  shift
  "$BIN" bench conv "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" || { cat "$TMP/$name.err"; exit 1; }
}
run sub $ARGS --layers "$SUBSET" --json "$TMP/sub.json"
run acc $ARGS --layers 0,layer4.0.conv2 --accuracy --json "$TMP/acc.json"
run all --device cpu --size 8 --batch 1 --iters 1 --warmup 0 --json "$TMP/all.json"
cat >"$TMP/stub_peer.py" <<'PY'
import json, sys
req = json.load(open(sys.argv[1]))
timing = [{"layer": L["layer"], "fwd_s": 0.002, "bwd_data_s": 0.004, "bwd_filter_s": 0.006} for L in req["layers"]]
json.dump({"torch": "stub", "layout": "stub", "timing": timing, "accuracy": []}, open(sys.argv[2], "w"))
PY
run stub $ARGS --layers "$SUBSET" --peer "python3 $TMP/stub_peer.py" --json "$TMP/stub.json"
run fail $ARGS --layers conv1 --peer false
grep -q "TFLOP/s" "$TMP/sub.out" || { echo "no table"; cat "$TMP/sub.out"; exit 1; }
grep -q "^accuracy" "$TMP/acc.out" || { echo "no accuracy table"; cat "$TMP/acc.out"; exit 1; }
grep -q "^ResNet-50: 53 of 53" "$TMP/all.out" || { echo "no whole-network line"; cat "$TMP/all.out"; exit 1; }
grep -q "x torch" "$TMP/stub.out" || { echo "no peer columns"; cat "$TMP/stub.out"; exit 1; }
grep -q "peer FAILED" "$TMP/fail.out" || { echo "a failing peer went unreported"; cat "$TMP/fail.out"; exit 1; }
python3 - "$TMP" <<'PY'
import json, math, sys

d = sys.argv[1]

def finite(x, what):
    assert isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x), f"{what}: {x!r}"
    return x

def out_size(n, k, s, p):
    return (n + 2 * p - k) // s + 1

def check_doc(doc, layers, size):
    assert doc["benchmark"] == "conv" and doc["device"] == "cpu" and doc["dtype"] == "fp32", doc
    assert doc["batch"] == 1 and doc["size"] == size and doc["machine"]["date"], doc
    assert finite(doc["peak"]["tflops"], "peak tflops") > 0 and doc["peak"]["dtype"] == "fp32"
    got = [(r["layer"], r["pass"]) for r in doc["rows"]]
    assert got == [(l, p) for l in layers for p in ("fwd", "bwd_data", "bwd_filter")], got
    for r in doc["rows"]:
        assert r["p"] == out_size(r["h"], r["r"], r["stride"], r["pad"]) and r["q"] == r["p"], r
        flops = 2 * r["batch"] * r["p"] * r["q"] * r["k"] * r["r"] * r["s"] * r["c"]
        assert abs(finite(r["flops"], "flops") - flops) < 1e-6 * flops, r
        for key in ("time_ms", "tflops", "pct_of_peak"):
            assert finite(r[key], key) > 0, r
    net = doc["network_estimate"]
    counts = {r["layer"]: r["count"] for r in doc["rows"]}
    assert net["convolutions"] == sum(counts.values()) and net["of"] == 53, net
    step = sum(r["count"] * r["time_ms"] for r in doc["rows"] if not (r["layer"] == "conv1" and r["pass"] == "bwd_data"))
    assert abs(finite(net["step_ms"], "step_ms") - step) < 1e-6 * step, (net, step)
    assert abs(net["images_per_s"] - 1e3 / step) < 1e-6 * net["images_per_s"], net
    return net

sub = json.load(open(f"{d}/sub.json"))
layers = ["conv1", "layer2.0.conv2", "layer2.0.downsample.0", "layer3.1.conv1"]
net = check_doc(sub, layers, 32)
assert net["convolutions"] == 8 and net["peer_step_ms"] is None and "peer" not in sub and "accuracy" not in sub, net
shapes = {(r["layer"], r["h"], r["c"], r["k"], r["r"], r["stride"]) for r in sub["rows"]}
# size 32: stem 32 -> 16, max pool -> 8 (stage 1), then 4, 2, 1
assert shapes == {("conv1", 32, 3, 64, 7, 2), ("layer2.0.conv2", 8, 128, 128, 3, 2),
                  ("layer2.0.downsample.0", 8, 256, 512, 1, 2), ("layer3.1.conv1", 2, 1024, 256, 1, 1)}, shapes

acc = json.load(open(f"{d}/acc.json"))
check_doc(acc, ["conv1", "layer4.0.conv2"], 32)
assert [a["layer"] for a in acc["accuracy"]] == ["conv1", "layer4.0.conv2"], acc["accuracy"]
for case in acc["accuracy"]:
    assert case["batch"] == 1 and "files" not in case, case
    for p in ("fwd", "bwd_data", "bwd_filter"):
        e = case["ours_vs_cpu_f32"][p]
        # on the CPU our op is the reference itself: the errors are exactly zero
        assert finite(e["max_rel"], p) == 0 and finite(e["max_abs"], p) == 0, (p, e)

full = json.load(open(f"{d}/all.json"))
names = list(dict.fromkeys(r["layer"] for r in full["rows"]))
assert len(names) == 23 and names[0] == "conv1", names
assert check_doc(full, names, 8)["convolutions"] == 53

stub = json.load(open(f"{d}/stub.json"))
net = check_doc(stub, layers, 32)
secs = {"fwd": 0.002, "bwd_data": 0.004, "bwd_filter": 0.006}
for r in stub["rows"]:
    assert abs(r["peer_time_ms"] - 1e3 * secs[r["pass"]]) < 1e-9, r
    assert abs(r["ratio_peer_over_ours"] - r["peer_time_ms"] / r["time_ms"]) < 1e-6 * r["ratio_peer_over_ours"], r
peer_step = sum(r["count"] * r["peer_time_ms"] for r in stub["rows"]
                if not (r["layer"] == "conv1" and r["pass"] == "bwd_data"))
assert abs(net["peer_step_ms"] - peer_step) < 1e-6 * peer_step, (net, peer_step)
assert abs(net["ratio_peer_over_ours"] - peer_step / net["step_ms"]) < 1e-6 * net["ratio_peer_over_ours"], net
assert stub["peer"]["result"]["torch"] == "stub", stub["peer"]
print("bench conv JSON: ok")
PY
if python3 -c "import torch" 2>/dev/null; then  # the real peer, when this machine has torch
  run torch $ARGS --layers conv1,layer3.0.conv2 --accuracy --peer "python3 $SRC/bench/peer_torch_conv.py" \
    --json "$TMP/torch.json"
  python3 - "$TMP/torch.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
res = doc["peer"]["result"]
assert "error" not in res, res
for r in doc["rows"]:
    assert r["peer_time_ms"] > 0 and r["ratio_peer_over_ours"] > 0, r
for a in res["accuracy"]:
    for who in ("ours", "torch", "ours_vs_torch"):
        for p in ("fwd", "bwd_data", "bwd_filter"):
            assert a[who][p]["max_rel"] < 1e-4, (a["layer"], who, p, a[who][p])  # f32 vs fp64 / f32
print("bench conv with bench/peer_torch_conv.py: ok")
PY
else
  echo "torch not importable: bench/peer_torch_conv.py not run"
fi
bad() {  # bad EXPECTED_TEXT ARGS...: the run fails with one error line that contains EXPECTED_TEXT
  local want=$1
  shift
  if "$BIN" bench conv --device cpu "$@" >"$TMP/bad.out" 2>"$TMP/bad.err"; then
    echo "$* did not fail"; exit 1
  fi
  [ "$(wc -l <"$TMP/bad.err")" -eq 1 ] || { echo "$*: more than one error line:"; cat "$TMP/bad.err"; exit 1; }
  grep -q -- "$want" "$TMP/bad.err" || { echo "$*: unclear error:"; cat "$TMP/bad.err"; exit 1; }
}
bad "not a ResNet-50 layer" --layers layer9.conv1
bad "not a ResNet-50 layer" --layers 23
bad "fp32 only" --dtype bf16
bad "--size" --size 0
bad "--iters" --iters 0
bad "more than any memory holds" --batch 1048576 --size 1048576
bad "--json: cannot open" --json /nonexistent-dir/conv.json
# --device cuda: runs where the convolutions have CUDA kernels, else (no GPU, a CPU-only build, or no
# CUDA convolution yet) fails with one clear line naming --device.
if ! "$BIN" bench conv --device cuda --layers conv1 --size 8 --batch 1 --iters 1 --warmup 0 \
  >"$TMP/cuda.out" 2>"$TMP/cuda.err"; then
  [ "$(wc -l <"$TMP/cuda.err")" -eq 1 ] && grep -q -- "--device: cuda" "$TMP/cuda.err" ||
    { echo "--device cuda: unclear error:"; cat "$TMP/cuda.err"; exit 1; }
fi
echo "bench conv (cpu): ok"
