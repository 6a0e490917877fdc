#!/usr/bin/env python3
"""Fixtures for tests/test_convert_pth.sh (tools/convert_torch_pth.py) in tests/fixtures/pth/:

- state_dict.legacy.pth / state_dict.zip.pth: one small OrderedDict state dict written by torch.save in
  the legacy (_use_new_zipfile_serialization=False) and the zip format. It holds an f32 conv weight
  [4, 3, 3, 3], non-contiguous views saved as such (a transpose, a slice with a storage offset and a
  step, a permuted HWIO array like the TF-ported weights of EfficientNet-Lite), f16, bf16, i32, u8 and
  bool tensors, an i64 0-d num_batches_tracked, two names sharing one storage, an nn.Parameter, and
  module.state_dict()'s `_metadata` attribute;
- nested.legacy.pth: {"state_dict": <the same>, "epoch": 3, "best_acc": 0.5} (for --key);
- reference.safetensors: the same tensors (made contiguous) written by the `safetensors` package;
- malicious_system.pth: a legacy-format file whose object pickle calls os.system (GLOBAL + REDUCE),
  malicious_eval.pth: a zip-format file whose data.pkl calls builtins.eval; both built by hand from
  pickle opcodes, payload `echo pwned > /tmp/temper_convert_pth_pwned`;
- truncated.pth: state_dict.legacy.pth cut inside its storage data.

Run: python3 tools/make_pth_fixture.py  (needs torch and safetensors; the test itself needs neither).
"""
import collections
import io
import os
import pickle
import zipfile

import torch
from safetensors.torch import save_file

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "tests", "fixtures", "pth")
PAYLOAD = "echo pwned > /tmp/temper_convert_pth_pwned"


def state_dict():
    torch.manual_seed(7)
    sd = collections.OrderedDict()
    sd["conv.weight"] = torch.randn(4, 3, 3, 3)
    sd["proj.weight"] = torch.randn(3, 5).t()  # [5, 3], stride (1, 5)
    sd["grid.slice"] = torch.arange(24, dtype=torch.float32).reshape(4, 6)[1:, ::2]  # offset 6, stride (6, 2)
    sd["conv_hwio.weight"] = torch.randn(3, 3, 2, 4).permute(3, 2, 0, 1)  # [4, 2, 3, 3] viewing HWIO
    sd["bn.running_mean"] = torch.randn(4)
    sd["bn.num_batches_tracked"] = torch.tensor(7)  # i64, 0-d
    sd["half.values"] = torch.tensor([0.1, -2.5, 65504.0, 6e-8, 0.0, 3.140625], dtype=torch.float16)
    sd["bf16.values"] = torch.randn(2, 3).to(torch.bfloat16)
    sd["ids"] = torch.tensor([0, -1, 2147483647, -2147483648], dtype=torch.int32)
    sd["bytes"] = torch.tensor([0, 128, 255], dtype=torch.uint8)
    sd["mask"] = torch.tensor([True, False, True])
    shared = torch.randn(3)
    sd["tied.a"], sd["tied.b"] = shared, shared  # one storage, two names
    sd["head.bias"] = torch.nn.Parameter(torch.randn(2))  # pickled through _rebuild_parameter
    sd._metadata = collections.OrderedDict([("", {"version": 1}), ("conv", {"version": 1})])
    return sd


def pickle_call(module, name, argument):
    """GLOBAL module.name, then REDUCE on the 1-tuple (argument,): a call, written opcode by opcode."""
    text = argument.encode()
    return (b"\x80\x02c" + f"{module}\n{name}\n".encode() + b"X" + len(text).to_bytes(4, "little") + text +
            b"\x85R.")


def malicious_legacy():
    header = b"".join(pickle.dumps(x, protocol=2) for x in (
        0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001, "little_endian": True,
                                       "type_sizes": {"short": 2, "int": 4, "long": 4}}))
    return header + pickle_call("os", "system", PAYLOAD) + pickle.dumps([], protocol=2)


def malicious_zip():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("archive/data.pkl", pickle_call("builtins", "eval", f"__import__('os').system('{PAYLOAD}')"))
        zf.writestr("archive/byteorder", "little")
        zf.writestr("archive/version", "3\n")
    return buf.getvalue()


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def main():
    os.makedirs(OUT, exist_ok=True)
    sd = state_dict()
    torch.save(sd, os.path.join(OUT, "state_dict.legacy.pth"), _use_new_zipfile_serialization=False)
    torch.save(sd, os.path.join(OUT, "state_dict.zip.pth"))
    torch.save({"state_dict": sd, "epoch": 3, "best_acc": 0.5}, os.path.join(OUT, "nested.legacy.pth"),
               _use_new_zipfile_serialization=False)
    save_file({k: v.detach().contiguous().clone() for k, v in sd.items()}, os.path.join(OUT, "reference.safetensors"))
    write("malicious_system.pth", malicious_legacy())
    write("malicious_eval.pth", malicious_zip())
    with open(os.path.join(OUT, "state_dict.legacy.pth"), "rb") as f:
        legacy = f.read()
    write("truncated.pth", legacy[: len(legacy) - 40])
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
    print(f"wrote {OUT}: {len(os.listdir(OUT))} files, {total} bytes")


if __name__ == "__main__":
    main()
