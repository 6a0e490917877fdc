#!/usr/bin/env bash
# tools/convert_torch_pth.py against the committed fixtures of tools/make_pth_fixture.py
# (tests/fixtures/pth/): both torch.save formats convert to exactly the safetensors file the
# `safetensors` package wrote; --list, --key and --metadata work; the malicious pickles (os.system,
# builtins.eval) are refused with one line and nothing runs; truncated and hand-corrupted files fail
# with one line and no traceback, leaving no output behind. Python standard library only (no torch).
# Usage: test_convert_pth.sh REPO_ROOT
set -euo pipefail
ROOT=$1
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
python3 - "$ROOT/tools/convert_torch_pth.py" "$ROOT/tests/fixtures/pth" "$TMP" <<'PY'
import json, io, os, pickle, struct, subprocess, sys, zipfile

CONV, FIX, TMP = sys.argv[1:4]
MARKER = "/tmp/temper_convert_pth_pwned"  # what the malicious fixtures' payload would create
REFERENCE = os.path.join(FIX, "reference.safetensors")
FAILED_OUT = os.path.join(TMP, "failed.safetensors")


def run(*args):
    return subprocess.run([sys.executable, CONV, *args], capture_output=True, text=True, timeout=60)


def read_safetensors(path):
    """{name: (dtype, shape, bytes)} and the metadata; checks the layout is tight and padded."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack_from("<Q", data)
    assert n % 8 == 0 and 8 + n <= len(data), f"{path}: header length {n}"
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", None)
    body, end, tensors = data[8 + n:], 0, {}
    for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"]):
        begin, stop = info["data_offsets"]
        assert begin == end, f"{path}: {name} starts at {begin}, expected {end}"
        tensors[name], end = (info["dtype"], info["shape"], body[begin:stop]), stop
    assert end == len(body), f"{path}: {len(body) - end} bytes after the last tensor"
    return tensors, meta


def expect_ok(*args):
    p = run(*args)
    assert p.returncode == 0 and not p.stderr, f"{args}: rc {p.returncode}\n{p.stderr}"
    return p.stdout


def expect_fail(path, needle, *extra):
    p = run(path, FAILED_OUT, *extra)
    lines = p.stderr.splitlines()
    assert p.returncode == 1, f"{path}: rc {p.returncode}, stderr {p.stderr!r}"
    assert len(lines) == 1 and "Traceback" not in p.stderr, f"{path}: not one line: {p.stderr!r}"
    assert lines[0].startswith(f"convert_torch_pth: {path}: "), lines[0]
    assert needle in lines[0], f"{path}: {needle!r} not in {lines[0]!r}"
    assert not p.stdout, p.stdout
    assert os.listdir(TMP) == [n for n in os.listdir(TMP) if not n.startswith("failed.")], os.listdir(TMP)
    return lines[0]


def check_against_reference(out):
    got, meta = read_safetensors(out)
    ref, _ = read_safetensors(REFERENCE)
    assert list(got) == list(ref), (list(got), list(ref))
    for name in ref:
        assert got[name] == ref[name], f"{out}: tensor {name} differs from the reference"
    return got, meta


# The two formats give the reference file byte for byte; a few values checked independently of it.
ref_bytes = open(REFERENCE, "rb").read()
for fmt in ("legacy", "zip"):
    out = os.path.join(TMP, f"{fmt}.safetensors")
    summary = expect_ok(os.path.join(FIX, f"state_dict.{fmt}.pth"), out)
    assert summary.count("\n") == 1 and "14 tensors, 239 parameters" in summary and fmt in summary, summary
    got, meta = check_against_reference(out)
    assert meta is None
    assert open(out, "rb").read() == ref_bytes, f"{fmt}: not byte-identical to the reference"
    assert got["conv.weight"][:2] == ("F32", [4, 3, 3, 3])
    assert got["bn.num_batches_tracked"] == ("I64", [], struct.pack("<q", 7))
    assert got["grid.slice"] == ("F32", [3, 3], struct.pack("<9f", 6, 8, 10, 12, 14, 16, 18, 20, 22))
    assert got["mask"] == ("BOOL", [3], b"\x01\x00\x01")
    assert got["tied.a"] == got["tied.b"]
    assert {v[0] for v in got.values()} == {"F32", "I64", "F16", "BF16", "I32", "U8", "BOOL"}

# --list prints and writes nothing.
listing = expect_ok(os.path.join(FIX, "state_dict.zip.pth"), "--list").splitlines()
assert listing[0] == "conv.weight\tF32\t[4, 3, 3, 3]" and "proj.weight\tF32\t[5, 3]" in listing, listing
assert "bn.num_batches_tracked\tI64\t[]" in listing and len(listing) == 15, listing

# --metadata; nested checkpoints need --key.
out = os.path.join(TMP, "meta.safetensors")
expect_ok(os.path.join(FIX, "state_dict.legacy.pth"), out, "--metadata", "format=pt", "note=a=b")
assert check_against_reference(out)[1] == {"format": "pt", "note": "a=b"}
nested = os.path.join(FIX, "nested.legacy.pth")
expect_fail(nested, "entry 'state_dict' has type OrderedDict, not a tensor; "
                    "pick a nested state dict with --key state_dict")
expect_fail(nested, "--key model: no such entry", "--key", "model")
expect_fail(nested, "entry 'epoch' has type int", "--key", "epoch")
out = os.path.join(TMP, "nested.safetensors")
expect_ok(nested, out, "--key", "state_dict")
assert open(out, "rb").read() == ref_bytes

# Malicious pickles: refused before anything runs.
if os.path.exists(MARKER):
    os.remove(MARKER)
expect_fail(os.path.join(FIX, "malicious_system.pth"), "refusing to load os.system: not a plain tensor state dict")
expect_fail(os.path.join(FIX, "malicious_eval.pth"), "refusing to load builtins.eval: not a plain tensor state dict")
assert not os.path.exists(MARKER), "the malicious payload ran"

# Truncated files: the committed one, then cuts at many points of both formats.
expect_fail(os.path.join(FIX, "truncated.pth"), "truncated: storage")
for fmt in ("legacy", "zip"):
    data = open(os.path.join(FIX, f"state_dict.{fmt}.pth"), "rb").read()
    for cut in sorted({0, 1, 4, 20, 100, 300, 700, len(data) - 1} | set(range(0, len(data), len(data) // 25))):
        path = os.path.join(TMP, f"cut.{fmt}.pth")
        with open(path, "wb") as f:
            f.write(data[:cut])
        expect_fail(path, "")
        os.remove(path)
expect_fail(os.path.join(TMP, "missing.pth"), "cannot open")
expect_ok(os.path.join(FIX, "state_dict.zip.pth"), os.path.join(TMP, "x.safetensors"))
p = run(os.path.join(FIX, "state_dict.zip.pth"), os.path.join(TMP, "no-such-dir", "x.safetensors"))
assert p.returncode == 1 and len(p.stderr.splitlines()) == 1 and "cannot write" in p.stderr, p.stderr


# Hand-built files, opcode by opcode: bad sizes, offsets, strides, counts and headers.
def s(x):
    b = x.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def i(n):
    b = n.to_bytes(n.bit_length() // 8 + 1, "little", signed=True)
    return b"\x8a" + bytes([len(b)]) + b


def tensor(name, offset=0, size=(2, 2), stride=(1, 2), numel=4, stype="FloatStorage", key="0", zip_pid=False):
    pid = b"(" + s("storage") + b"ctorch\n" + stype.encode() + b"\n" + s(key) + s("cpu") + i(numel)
    pid += b"tQ" if zip_pid else b"NtQ"
    return (s(name) + b"ctorch._utils\n_rebuild_tensor_v2\n(" + pid + i(offset) + b"(" + b"".join(map(i, size)) +
            b"t(" + b"".join(map(i, stride)) + b"t\x89}tR")


INFO = {"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}}
FLOATS = struct.pack("<4f", 1, 2, 3, 4)


def legacy(entries, storages=(("0", 4, FLOATS),), info=INFO, protocol=1001, tail=b""):
    head = b"".join(pickle.dumps(x, protocol=2) for x in (0x1950A86A20F9469CFC6C, protocol, info))
    keys = pickle.dumps([k for k, _, _ in storages], protocol=2)
    data = b"".join(struct.pack("<Q", count) + raw for _, count, raw in storages)
    return head + b"\x80\x02}(" + b"".join(entries) + b"u." + keys + data + tail


def zipped(entries, storages=(("0", FLOATS),), byteorder=b"little", pkl_names=("archive/data.pkl",)):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in pkl_names:
            zf.writestr(name, b"\x80\x02}(" + b"".join(entries) + b"u.")
        zf.writestr("archive/byteorder", byteorder)
        for key, raw in storages:
            zf.writestr(f"archive/data/{key}", raw)
    return buf.getvalue()


def write(name, data):
    path = os.path.join(TMP, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


for name, data in (("ok.legacy.pth", legacy([tensor("w")])), ("ok.zip.pth", zipped([tensor("w", zip_pid=True)]))):
    out = os.path.join(TMP, name + ".safetensors")
    expect_ok(write(name, data), out)
    assert read_safetensors(out)[0] == {"w": ("F32", [2, 2], struct.pack("<4f", 1, 3, 2, 4))}, name
    os.remove(out)

CASES = [
    ("oob", legacy([tensor("w", offset=1, stride=(2, 1))]), "tensor w: view (offset 1, size (2, 2), stride (2, 1)) "
                                                            "reaches element 4, its storage 0 holds 4"),
    ("negstride", legacy([tensor("w", stride=(-1, 2))]), "tensor w: stride (-1, 2) is not a tuple of non-negative"),
    ("negoffset", legacy([tensor("w", offset=-1)]), "tensor w: storage offset -1 is not a non-negative integer"),
    ("rank", legacy([tensor("w", stride=(1,))]), "size (2, 2) and stride (1,) differ in rank"),
    ("count", legacy([tensor("w")], storages=(("0", 3, FLOATS[:12]),)),
     "storage 0 holds 3 elements, the pickle says 4"),
    ("huge", legacy([tensor("w", numel=2**40)], storages=(("0", 2**40, FLOATS),)), "truncated: storage 0 needs"),
    ("nodata", legacy([tensor("w")], storages=()), "storage 0 is used by the pickle but has no data"),
    ("extra", legacy([tensor("w")], storages=(("0", 4, FLOATS), ("9", 1, b"\0"))), "names 9, which the pickle never"),
    ("trailing", legacy([tensor("w")], tail=b"junk"), "4 unexpected bytes after the last storage"),
    ("bigendian", legacy([tensor("w")], info=dict(INFO, little_endian=False)), "big-endian"),
    ("protocol", legacy([tensor("w")], protocol=1000), "legacy protocol version 1000, expected 1001"),
    ("twotypes", legacy([tensor("w"), tensor("v", stype="IntStorage")]), "storage 0 is referenced as"),
    ("complex", legacy([tensor("w", stype="ComplexFloatStorage")]), "refusing to load torch.ComplexFloatStorage"),
    ("notpth", b"hello, world\n" * 3, "not a PyTorch checkpoint"),
    ("zipsize", zipped([tensor("w", zip_pid=True)], storages=(("0", FLOATS[:12]),)),
     "archive/data/0 holds 12 bytes, the pickle says 4 x 4 bytes"),
    ("zipentry", zipped([tensor("w", zip_pid=True)], storages=()), "storage 0 has no entry archive/data/0"),
    ("zipbig", zipped([tensor("w", zip_pid=True)], byteorder=b"big"), "only little-endian data is supported"),
    ("zippkl", zipped([tensor("w", zip_pid=True)], pkl_names=("a/data.pkl", "b/data.pkl")), "2 PREFIX/data.pkl"),
    ("zippid", zipped([tensor("w")]), "is not a 5-field ('storage', ...) tuple"),
]
for name, data, needle in CASES:
    expect_fail(write(name + ".pth", data), needle)
top_list = write("list.pth", legacy([], storages=()).replace(b"\x80\x02}(u.", b"\x80\x02](e.", 1))
expect_fail(top_list, "the top-level object has type list, not a dict of tensors")
assert not os.path.exists(MARKER)
print(f"convert_torch_pth: all checks passed ({len(CASES)} corrupt inputs)")
PY
