// safetensors checkpoints: a reader that validates everything before trusting it (checkpoints are
// untrusted input) and an atomic writer whose files the Hugging Face library reads.
//
// Layout: u64 little-endian header length N | N bytes of UTF-8 JSON | data section. The header maps
// each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (byte offsets into the data
// section) plus an optional "__metadata__" string->string map. As in the reference (Rust) library,
// tensors must tile the data section exactly: no overlaps, no holes, no trailing bytes.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "runtime/tensor.h"

namespace temper {

struct TensorInfo {
  std::string name;
  std::string dtype;  // as written in the file: "F32", "BF16", "I64", ...
  Shape shape;
  uint64_t begin = 0, end = 0;  // byte range within the data section
  int64_t numel() const { return shape_numel(shape); }
  uint64_t nbytes() const { return end - begin; }
};

class SafetensorsFile {
 public:
  // Opens and validates the whole header. Every problem is an InputError whose file is `path` and
  // whose field names the part at fault ("header length", "header", "__metadata__.KEY",
  // "tensors.NAME.shape", "tensors.NAME.data_offsets", "data section", "file").
  static SafetensorsFile open(const std::string& path);

  const std::string& path() const { return path_; }
  std::vector<std::string> names() const;  // ordered by data offset (ties: by name)
  bool contains(const std::string& name) const { return index_.count(name) != 0; }
  const TensorInfo& info(const std::string& name) const;  // InputError when absent
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  uint64_t data_offset() const { return data_offset_; }  // file offset of the data section

  // Reads one tensor into CPU memory as `target`. Float tensors (F32, F16, BF16, F64) convert to any
  // float target (rounding to nearest even); integer tensors (I32, I64) load as I32 only, I64 values
  // must fit. Other dtypes can be listed but not loaded (InputError).
  Tensor load(const std::string& name, DType target = DType::F32) const;

 private:
  struct Fd;
  std::string path_;
  std::shared_ptr<Fd> fd_;  // kept open: a later rename over `path` cannot change what we read
  uint64_t data_offset_ = 0;
  std::vector<TensorInfo> tensors_;  // sorted by data offset
  std::unordered_map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// Writes `tensors` in the given order (any device; copied to host). Float tensors are stored as
// `dtype` (F32, F16 or BF16; converted with round-to-nearest-even); I32 tensors are stored as I32.
// The header is space-padded to a multiple of 8 bytes as the Python library does; the file is written
// to `path.tmp` and renamed, so `path` is never half-written.
void save_safetensors(const std::string& path, const NamedTensors& tensors, DType dtype,
                      const std::map<std::string, std::string>& metadata = {});

// Same, but every tensor keeps its own dtype.
void save_safetensors_native(const std::string& path, const NamedTensors& tensors,
                             const std::map<std::string, std::string>& metadata = {});

// "F32", "BF16", "F16", "I32": the safetensors name of a temper dtype.
const char* safetensors_dtype_name(DType dtype);

}  // namespace temper
