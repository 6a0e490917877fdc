// GGUF checkpoints (llama.cpp's format): a validating reader. Checkpoints are untrusted input, so open()
// checks every count, size and offset before anything is allocated or read.
//
// Layout (little-endian, versions 2 and 3):
//   "GGUF" | u32 version | u64 tensor_count | u64 kv_count
//   kv_count x (string key | u32 value type | value)              -> GgufMetadata
//   tensor_count x (string name | u32 n_dims | u64 dims[n_dims] | u32 ggml type | u64 offset)
//   padding to `general.alignment` (u32, default 32) | data section
// A string is a u64 byte length and the bytes. dims are in GGML order (ne0 = the contiguous, fastest
// varying one); offsets are relative to the data section and multiples of the alignment.
//
// Bounds: a count is rejected when its items could not fit in the bytes left, so the memory the header
// takes is a small multiple of the file's size (at most ~13x, for arrays of empty nested arrays).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "kernels/ggml_types.h"
#include "models/io/gguf_metadata.h"
#include "runtime/tensor.h"

namespace temper {

struct GgufTensorInfo {
  std::string name;
  GgmlType type = GgmlType::F32;
  std::vector<int64_t> dims;  // GGUF order: dims[0] = ne0, the row length
  uint64_t offset = 0;        // bytes into the data section
  uint64_t nbytes = 0;        // bytes in the file (whole blocks)

  const char* type_name() const { return ggml_type_name(type); }
  int64_t numel() const;
  Shape shape() const { return Shape(dims.rbegin(), dims.rend()); }  // row-major: {ne1, ne0} for 2-D
};

class GgufFile {
 public:
  // Opens and validates the header. Every problem is an InputError whose file is `path` and whose
  // field names the part at fault: "magic", "version", "tensor_count", "kv_count", a metadata key,
  // "general.alignment", "tensors.NAME.{name,n_dims,dims,type,offset}", "data section", "file".
  static GgufFile open(const std::string& path);

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  const GgufMetadata& metadata() const { return metadata_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }  // file offset of the data section

  std::vector<std::string> names() const;  // in file (tensor info) order
  bool contains(const std::string& name) const { return index_.count(name) != 0; }
  const GgufTensorInfo& info(const std::string& name) const;  // InputError when absent

  // The tensor dequantized to f32 on the CPU, shaped row-major (GGUF dims reversed: [ne0, ne1] ->
  // {ne1, ne0}). InputError for types that cannot be dequantized (see kernels/ggml_types.h).
  Tensor load_f32(const std::string& name) const;
  // The tensor's bytes exactly as stored (quantized blocks), e.g. to keep a base model quantized.
  std::vector<uint8_t> raw(const std::string& name) const;

 private:
  struct Fd;
  void read_bytes(const GgufTensorInfo& t, void* dst) const;

  std::string path_;
  std::shared_ptr<Fd> fd_;  // kept open: a later rename over `path` cannot change what we read
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  GgufMetadata metadata_;
  std::vector<GgufTensorInfo> tensors_;  // file order
  std::unordered_map<std::string, size_t> index_;
};

}  // namespace temper
