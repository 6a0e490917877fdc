#!/usr/bin/env python3
"""Convert a PyTorch state dict (a file written by torch.save) to safetensors, with the Python standard
library only: no torch, no numpy.

Reads both of torch.save's formats:
- legacy (torch < 1.6, or _use_new_zipfile_serialization=False): pickles of the magic number, the
  protocol version and the writer's system info, then the object pickle (storages are persistent ids
  ('storage', type, key, location, numel, view_metadata)), then a pickle of the storage keys, then per
  key a little-endian u64 element count and the raw little-endian elements;
- zip (torch >= 1.6): PREFIX/data.pkl (persistent ids ('storage', type, key, location, numel)) and the
  raw storages in PREFIX/data/KEY; PREFIX/byteorder, when present, must say "little".

Checkpoints are untrusted: the unpickler resolves only an allowlist of names (OrderedDict, the tensor
rebuild functions, the storage types) to harmless objects of this file and refuses everything else, so
nothing a file contains is ever executed. Every count, size, offset and stride is checked against the
bytes actually present before anything is read or written.

Output: safetensors with the tensors' names and torch shapes unchanged (conv weights stay OIHW),
0-d tensors kept, non-contiguous views gathered in row-major order. Tensors are laid out like the
`safetensors` package lays them out (larger dtypes first, then by name; the header in data order), so
each tensor is aligned to its element size and the output is deterministic. Written atomically.

Usage: convert_torch_pth.py IN.pth OUT.safetensors [--key NAME] [--metadata k=v ...]
       convert_torch_pth.py IN.pth --list [--key NAME]
"""
import argparse
import collections
import itertools
import json
import os
import pickle
import struct
import sys
import zipfile

PROG = "convert_torch_pth"
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001

# torch storage type prefix -> (safetensors dtype, element size)
_STORAGE_DTYPES = {
    "Float": ("F32", 4), "Double": ("F64", 8), "Half": ("F16", 2), "BFloat16": ("BF16", 2),
    "Long": ("I64", 8), "Int": ("I32", 4), "Short": ("I16", 2), "Char": ("I8", 1), "Byte": ("U8", 1),
    "Bool": ("BOOL", 1),
}
# The order of the safetensors package's Dtype enum: the data is sorted by it, largest first.
_DTYPE_RANK = {"BOOL": 0, "U8": 1, "I8": 2, "I16": 5, "F16": 7, "BF16": 8, "I32": 9, "F32": 11, "F64": 12,
               "I64": 13}
_MEMORYVIEW_FORMAT = {1: "B", 2: "H", 4: "I", 8: "Q"}


class ConvertError(Exception):
    """A problem with the input or output, reported as one line."""


class StorageType:
    """What a storage class name (torch.FloatStorage, ...) unpickles to: a dtype tag, nothing callable."""

    def __init__(self, qualname, dtype, itemsize):
        self.qualname, self.dtype, self.itemsize = qualname, dtype, itemsize


class StorageRef:
    """What a persistent id unpickles to: elements [base, base + numel) of the root storage `key`."""

    def __init__(self, key, stype, base, numel):
        self.key, self.stype, self.base, self.numel = key, stype, base, numel


class TensorView:
    """What torch._utils._rebuild_tensor_v2 unpickles to; checked by check_tensor before use."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    @property
    def dtype(self):
        return self.storage.stype.dtype

    @property
    def numel(self):
        n = 1
        for d in self.size:
            n *= d
        return n


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):
    return TensorView(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad, backward_hooks):
    if not isinstance(data, TensorView):
        raise ConvertError("a parameter is rebuilt from something that is not a tensor")
    return data


def _safe_globals():
    table = {("collections", "OrderedDict"): collections.OrderedDict,
             ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
             ("torch._utils", "_rebuild_parameter"): _rebuild_parameter}
    # torch.cuda.*Storage: legacy checkpoints saved from GPU tensors; the location is ignored.
    for module in ("torch", "torch.cuda"):
        for prefix, (dtype, itemsize) in _STORAGE_DTYPES.items():
            name = prefix + "Storage"
            table[(module, name)] = StorageType(f"{module}.{name}", dtype, itemsize)
    for module in ("torch", "torch.storage"):
        table[(module, "UntypedStorage")] = StorageType(f"{module}.UntypedStorage", "U8", 1)
    return table


SAFE_GLOBALS = _safe_globals()


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, f, persistent_load):
        super().__init__(f, encoding="utf-8")
        self._persistent_load = persistent_load

    def find_class(self, module, name):
        found = SAFE_GLOBALS.get((module, name))
        if found is None:
            raise ConvertError(f"refusing to load {module}.{name}: not a plain tensor state dict")
        return found

    def persistent_load(self, pid):
        if self._persistent_load is None:
            raise ConvertError("unexpected persistent id in a header pickle")
        return self._persistent_load(pid)


def _unpickle(f, what, persistent_load=None):
    try:
        return _RestrictedUnpickler(f, persistent_load).load()
    except ConvertError:
        raise
    except RecursionError:
        raise ConvertError(f"{what}: pickle nested too deeply") from None
    except MemoryError:
        raise ConvertError(f"{what}: out of memory while unpickling") from None
    except Exception as e:  # any failure inside the pickle machinery means a corrupt or truncated file
        raise ConvertError(f"{what}: corrupt or truncated pickle ({type(e).__name__}: {e})") from None


def _is_count(x):
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def _parse_pid(pid, length):
    """Checks the common fields of a storage persistent id; returns (stype, key, numel)."""
    if not isinstance(pid, tuple) or len(pid) != length or pid[0] != "storage":
        raise ConvertError(f"persistent id {pid!r:.80} is not a {length}-field ('storage', ...) tuple")
    _, stype, key, location, numel = pid[:5]
    if not isinstance(stype, StorageType):
        raise ConvertError(f"persistent id {pid!r:.80}: field 1 is not a storage type")
    if not isinstance(key, str) or not isinstance(location, str):
        raise ConvertError(f"persistent id {pid!r:.80}: key and location must be strings")
    if not _is_count(numel):
        raise ConvertError(f"storage {key}: element count {numel!r:.40} is not a non-negative integer")
    return stype, key, numel


class _StorageTable:
    """Root storages seen in the pickle: key -> [stype, numel, (file offset, byte count) or zip name]."""

    def __init__(self):
        self.roots = {}

    def note(self, stype, key, numel):
        seen = self.roots.get(key)
        if seen is None:
            self.roots[key] = [stype, numel, None]
        elif seen[0].dtype != stype.dtype or seen[1] != numel:
            raise ConvertError(f"storage {key} is referenced as {seen[1]} x {seen[0].qualname} and as "
                               f"{numel} x {stype.qualname}")
        return self.roots[key]


class LegacySource:
    """torch.save's pre-1.6 format: header pickles, object pickle, key list, then the raw storages."""

    kind = "legacy"

    def __init__(self, path, f):
        self.f = f
        self.table = _StorageTable()
        size = os.fstat(f.fileno()).st_size
        try:
            magic = _RestrictedUnpickler(f, None).load()
        except ConvertError:
            raise
        except Exception:
            magic = None
        if not isinstance(magic, int) or magic != LEGACY_MAGIC:
            raise ConvertError("not a PyTorch checkpoint: neither a zip archive nor a legacy pickle stream "
                               "starting with torch's magic number")
        protocol = _unpickle(f, "protocol version")
        if protocol != LEGACY_PROTOCOL:
            raise ConvertError(f"legacy protocol version {protocol!r:.40}, expected {LEGACY_PROTOCOL}")
        info = _unpickle(f, "system info")
        if not isinstance(info, dict):
            raise ConvertError("system info pickle is not a dict")
        if info.get("little_endian", True) is not True:
            raise ConvertError("written on a big-endian machine (sys_info little_endian is not True): not supported")
        self.obj = _unpickle(f, "object pickle", self._persistent_load)
        keys = _unpickle(f, "storage key list")
        self._locate_storages(keys, f.tell(), size)

    def _persistent_load(self, pid):
        stype, key, numel = _parse_pid(pid, 6)
        self.table.note(stype, key, numel)
        view = pid[5]
        if view is None:
            return StorageRef(key, stype, 0, numel)
        # Storage views (torch < 0.4): (view key, element offset, element count) inside the root.
        if not (isinstance(view, tuple) and len(view) == 3 and _is_count(view[1]) and _is_count(view[2])):
            raise ConvertError(f"storage {key}: view metadata {view!r:.80} is not (key, offset, size)")
        if view[1] + view[2] > numel:
            raise ConvertError(f"storage {key}: view [{view[1]}, {view[1] + view[2]}) outside its {numel} elements")
        return StorageRef(key, stype, view[1], view[2])

    def _locate_storages(self, keys, pos, size):
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise ConvertError("storage key list is not a list of strings")
        if len(set(keys)) != len(keys):
            raise ConvertError("storage key list names a storage twice")
        missing = set(self.table.roots) - set(keys)
        if missing:
            raise ConvertError(f"storage {sorted(missing)[0]} is used by the pickle but has no data")
        for key in keys:
            root = self.table.roots.get(key)
            if root is None:
                raise ConvertError(f"storage key list names {key}, which the pickle never uses")
            if pos + 8 > size:
                raise ConvertError(f"truncated: storage {key} header at byte {pos}, file has {size} bytes")
            self.f.seek(pos)
            (count,) = struct.unpack("<Q", self.f.read(8))
            if count != root[1]:
                raise ConvertError(f"storage {key} holds {count} elements, the pickle says {root[1]}")
            nbytes = count * root[0].itemsize
            if pos + 8 + nbytes > size:
                raise ConvertError(f"truncated: storage {key} needs {nbytes} bytes at byte {pos + 8}, "
                                   f"file has {size} bytes")
            root[2] = (pos + 8, nbytes)
            pos += 8 + nbytes
        if pos != size:
            raise ConvertError(f"{size - pos} unexpected bytes after the last storage (at byte {pos})")

    def read(self, key):
        offset, nbytes = self.table.roots[key][2]
        self.f.seek(offset)
        data = self.f.read(nbytes)
        if len(data) != nbytes:
            raise ConvertError(f"storage {key}: file changed while reading")
        return data


class ZipSource:
    """torch.save's zip format (torch >= 1.6): PREFIX/data.pkl and PREFIX/data/KEY."""

    kind = "zip"

    def __init__(self, path):
        try:
            self.zf = zipfile.ZipFile(path)
            names = self.zf.namelist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as e:
            raise ConvertError(f"not a valid zip archive, truncated? ({e})") from None
        if len(set(names)) != len(names):
            raise ConvertError("zip archive names an entry twice")
        pkls = [n for n in names if n.count("/") == 1 and n.endswith("/data.pkl")]
        if len(pkls) != 1:
            raise ConvertError(f"zip archive has {len(pkls)} PREFIX/data.pkl entries, expected 1")
        self.prefix = pkls[0][: -len("/data.pkl")]
        self.table = _StorageTable()
        byteorder = self._entry(self.prefix + "/byteorder") if self.prefix + "/byteorder" in names else b"little"
        if byteorder != b"little":
            raise ConvertError(f"{self.prefix}/byteorder is {byteorder[:20]!r}: only little-endian data is supported")
        try:
            with self.zf.open(pkls[0]) as f:
                self.obj = _unpickle(f, pkls[0], self._persistent_load)
        except (zipfile.BadZipFile, OSError) as e:
            raise ConvertError(f"{pkls[0]}: corrupt zip entry ({e})") from None

    def _persistent_load(self, pid):
        stype, key, numel = _parse_pid(pid, 5)
        root = self.table.note(stype, key, numel)
        name = f"{self.prefix}/data/{key}"
        try:
            info = self.zf.getinfo(name)
        except KeyError:
            raise ConvertError(f"storage {key} has no entry {name} in the zip archive") from None
        if info.file_size != numel * stype.itemsize:
            raise ConvertError(f"{name} holds {info.file_size} bytes, the pickle says {numel} x "
                               f"{stype.itemsize} bytes")
        root[2] = name
        return StorageRef(key, stype, 0, numel)

    def _entry(self, name):
        try:
            return self.zf.read(name)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
            raise ConvertError(f"{name}: corrupt zip entry ({e})") from None

    def read(self, key):
        return self._entry(self.table.roots[key][2])


def open_source(path, f):
    head = f.read(4)
    f.seek(0)
    if head == b"PK\x03\x04":
        return ZipSource(path)
    return LegacySource(path, f)


def select_state_dict(obj, key):
    """The dict of tensors: the top-level object, or its entry `key`."""
    where = "the top-level object"
    if key is not None:
        if not isinstance(obj, dict):
            raise ConvertError(f"--key {key}: the top-level object has type {type(obj).__name__}, not dict")
        if key not in obj:
            shown = ", ".join(repr(k) for k in list(obj)[:10])
            raise ConvertError(f"--key {key}: no such entry (top-level keys: {shown})")
        obj, where = obj[key], f"entry {key!r}"
    if not isinstance(obj, dict):
        raise ConvertError(f"{where} has type {type(obj).__name__}, not a dict of tensors")
    for name, value in obj.items():
        if not isinstance(name, str):
            raise ConvertError(f"{where}: key {name!r:.60} is not a string")
        if name == "__metadata__":
            raise ConvertError(f"{where}: a tensor named __metadata__ cannot be stored in safetensors")
        if not isinstance(value, TensorView):
            hint = ""
            if key is None:
                nested = [k for k, v in obj.items() if isinstance(v, dict) and v and
                          all(isinstance(t, TensorView) for t in v.values())]
                hint = f"; pick a nested state dict with --key {nested[0]}" if nested else ""
            raise ConvertError(f"{where} is not a plain state dict: entry {name!r} has type "
                               f"{type(value).__name__}, not a tensor{hint}")
    return obj


def check_tensor(name, t):
    """The view (offset, size, stride) must be well formed and inside its storage."""
    if not isinstance(t.storage, StorageRef):
        raise ConvertError(f"tensor {name}: built from type {type(t.storage).__name__}, not a storage")
    if not _is_count(t.offset):
        raise ConvertError(f"tensor {name}: storage offset {t.offset!r:.40} is not a non-negative integer")
    for field, dims in (("size", t.size), ("stride", t.stride)):
        if not isinstance(dims, (tuple, list)) or not all(_is_count(d) for d in dims):
            raise ConvertError(f"tensor {name}: {field} {dims!r:.80} is not a tuple of non-negative integers")
    if len(t.size) != len(t.stride):
        raise ConvertError(f"tensor {name}: size {tuple(t.size)} and stride {tuple(t.stride)} differ in rank")
    if t.numel == 0:
        return
    last = t.offset + sum((n - 1) * s for n, s in zip(t.size, t.stride))
    if last >= t.storage.numel:
        raise ConvertError(f"tensor {name}: view (offset {t.offset}, size {tuple(t.size)}, stride "
                           f"{tuple(t.stride)}) reaches element {last}, its storage {t.storage.key} "
                           f"holds {t.storage.numel}")


def _is_contiguous(size, stride):
    expected = 1
    for n, s in zip(reversed(size), reversed(stride)):
        if n != 1 and s != expected:
            return False
        expected *= n
    return True


def gather(t, buf):
    """The tensor's elements in row-major order, as bytes; buf holds its whole root storage."""
    isz = t.storage.stype.itemsize
    start, numel = t.storage.base + t.offset, t.numel
    if numel == 0:
        return b""
    if _is_contiguous(t.size, t.stride):
        return bytes(buf[start * isz:(start + numel) * isz])
    # One strided slice copy per run along the longest dimension k (a permuted conv weight such as
    # torch's view of an HWIO array has a short last dimension; looping over it would be slow).
    src = memoryview(buf).cast(_MEMORYVIEW_FORMAT[isz])
    out = bytearray(numel * isz)
    dst = memoryview(out).cast(_MEMORYVIEW_FORMAT[isz])
    dst_stride = [1] * len(t.size)
    for d in range(len(t.size) - 2, -1, -1):
        dst_stride[d] = dst_stride[d + 1] * t.size[d + 1]
    k = max(range(len(t.size)), key=lambda d: t.size[d])
    n, s, ds = t.size[k], t.stride[k], dst_stride[k]
    others = [d for d in range(len(t.size)) if d != k]
    for index in itertools.product(*(range(t.size[d]) for d in others)):
        off = start + sum(i * t.stride[d] for i, d in zip(index, others))
        at = sum(i * dst_stride[d] for i, d in zip(index, others))
        if s == 0:
            dst[at:at + (n - 1) * ds + 1:ds] = memoryview(src[off:off + 1].tobytes() * n).cast(src.format)
        else:
            dst[at:at + (n - 1) * ds + 1:ds] = src[off:off + (n - 1) * s + 1:s]
    return bytes(out)


class _StorageCache:
    """Keeps the last storage read, so memory stays at one storage while tensors sharing it are gathered."""

    def __init__(self, source):
        self.source, self.key, self.data = source, None, None

    def get(self, key):
        if key != self.key:
            self.key, self.data = key, None
            self.data = self.source.read(key)
        return self.data


def safetensors_header(tensors, metadata):
    """(header bytes padded to 8, tensors in data order)."""
    order = sorted(tensors.items(), key=lambda item: (-_DTYPE_RANK[item[1].dtype], item[0]))
    header, offset = {}, 0
    if metadata:
        header["__metadata__"] = dict(sorted(metadata.items()))
    for name, t in order:
        nbytes = t.numel * t.storage.stype.itemsize
        header[name] = {"dtype": t.dtype, "shape": list(t.size), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    data = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return data + b" " * (-len(data) % 8), order


def write_safetensors(out_path, source, tensors, metadata):
    header, order = safetensors_header(tensors, metadata)
    cache = _StorageCache(source)
    tmp = f"{out_path}.tmp{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(struct.pack("<Q", len(header)))
            f.write(header)
            for name, t in order:
                f.write(gather(t, cache.get(t.storage.key)))
            f.flush()
            os.fsync(f.fileno())
            size = f.tell()
        os.replace(tmp, out_path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return size


def parse_metadata(items):
    metadata = {}
    for item in items or []:
        k, sep, v = item.partition("=")
        if not sep or not k:
            raise ConvertError(f"--metadata {item}: expected KEY=VALUE")
        metadata[k] = v
    return metadata


def parse_args(argv):
    p = argparse.ArgumentParser(prog="convert_torch_pth.py", description=__doc__.split("\n\n")[0])
    p.add_argument("input", help="a .pth/.pt/.bin file written by torch.save")
    p.add_argument("output", nargs="?", help="the .safetensors file to write")
    p.add_argument("--key", help="convert the state dict stored under this top-level key")
    p.add_argument("--metadata", nargs="*", metavar="K=V", help="string pairs for the __metadata__ header")
    p.add_argument("--list", action="store_true", help="print name, dtype and shape of each tensor; write nothing")
    args = p.parse_args(argv)
    if args.list == (args.output is not None):
        p.error("give either OUT.safetensors or --list")
    return args


def convert(args):
    metadata = parse_metadata(args.metadata)
    try:
        f = open(args.input, "rb")
    except OSError as e:
        raise ConvertError(f"cannot open: {e.strerror}") from None
    with f:
        source = open_source(args.input, f)
        tensors = select_state_dict(source.obj, args.key)
        for name, t in tensors.items():
            check_tensor(name, t)
        count = sum(t.numel for t in tensors.values())
        if args.list:
            for name, t in tensors.items():
                print(f"{name}\t{t.dtype}\t{list(t.size)}")
            print(f"{PROG}: {len(tensors)} tensors, {count:,} parameters ({source.kind} format)")
            return
        try:
            size = write_safetensors(args.output, source, tensors, metadata)
        except OSError as e:
            raise ConvertError(f"cannot write {args.output}: {e.strerror or e}") from None
    print(f"{PROG}: {args.output}: {len(tensors)} tensors, {count:,} parameters, {size:,} bytes "
          f"(from the {source.kind} format)")


def main(argv=None):
    args = parse_args(argv)
    try:
        convert(args)
    except ConvertError as e:
        message = str(e)
    except Exception as e:  # a bug or an unforeseen input: still one line, never a traceback
        message = f"unexpected {type(e).__name__}: {e}"
    else:
        return 0
    message = message.replace("\r", "\\r").replace("\n", "\\n")
    print(f"{PROG}: {args.input}: {message}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
