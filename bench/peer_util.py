"""Pieces shared by the PyTorch peers of `temper bench` (peer_torch_sdpa.py, peer_torch_conv.py): the
request/result protocol, timing as temper times (the upper median of back-to-back calls), raw f32 files,
and JSON-safe numbers and error messages. The peers import it from their own directory (running
python3 bench/peer_*.py puts that directory on the path)."""
import argparse
import contextlib
import json
import math
import sys
import time

import torch


def median_seconds(fn, warmup, iters, cuda):
    """Median seconds of one call: each of `iters` back-to-back calls between two CUDA events (CPU: clock reads)."""
    for _ in range(warmup):
        fn()
    if not cuda:
        times = []
        for _ in range(iters):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    else:
        torch.cuda.synchronize()
        ev = [torch.cuda.Event(enable_timing=True) for _ in range(iters + 1)]
        ev[0].record()
        for i in range(iters):
            fn()
            ev[i + 1].record()
        ev[-1].synchronize()
        times = [1e-3 * ev[i].elapsed_time(ev[i + 1]) for i in range(iters)]
    return sorted(times)[len(times) // 2]  # the upper median, as temper reports


def load_f32(path, shape):
    """A raw little-endian f32 file written by temper, as a CPU tensor of shape."""
    with open(path, "rb") as f:
        data = bytearray(f.read())
    return torch.frombuffer(data, dtype=torch.float32).reshape(shape)


def finite_or_none(v):
    """v, or None where it is not finite (JSON has no NaN)."""
    return v if math.isfinite(v) else None


def error_message(e):
    """The first line of an exception's message (at most 400 characters), or its type's name."""
    text = str(e).strip()
    return text.splitlines()[0][:400] if text else type(e).__name__


@contextlib.contextmanager
def recording_failure(result, cuda):
    """Runs the body; an exception in it (out of memory, an unsupported shape) becomes result["error"] rather
    than the peer's end, and CUDA's cached memory is released after it either way."""
    try:
        yield
    except Exception as e:
        result["error"] = error_message(e)
    finally:
        if cuda:
            torch.cuda.empty_cache()


def read_request(peer, benchmark, doc):
    """The request named on the command line (`peer REQUEST.json RESULT.json`, written by `temper bench
    benchmark --peer`) and the result's path; exits when the request is for cuda and torch sees none."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("request", help=f"JSON request written by `temper bench {benchmark} --peer`")
    ap.add_argument("result", help="where to write the JSON result")
    a = ap.parse_args()
    with open(a.request) as f:
        req = json.load(f)
    if req["device"] == "cuda" and not torch.cuda.is_available():
        sys.exit(f"{peer}: the request is for cuda but torch sees no CUDA device")
    return req, a.result


def versions(device):
    """torch's, CUDA's and cuDNN's versions and the name of the device the request is for."""
    return {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "device_name": torch.cuda.get_device_name() if device == "cuda" else "cpu",
    }


def write_result(path, result):
    with open(path, "w") as f:
        json.dump(result, f, indent=1, allow_nan=False)
