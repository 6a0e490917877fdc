// Frozen base weights kept quantized on the device (QLoRA). Layers register a weight [out, in] by
// its checkpoint name before loading, like ParameterStore parameters; a loader then fills it from a
// GGUF tensor's own blocks or by quantizing f32 values to the store's type. Read-only afterwards.
#pragma once
#include <string>
#include <vector>

#include "kernels/quantized_matmul.h"

namespace temper {

class QuantizedStore {
 public:
  // `type`: what set_from_f32 quantizes to. `device`: where the blocks live.
  QuantizedStore(GgmlType type, Device device) : type_(type), device_(device) {}

  int add(const std::string& name, int64_t out, int64_t in);  // returns the weight's id
  int size() const { return static_cast<int>(entries_.size()); }
  int find(const std::string& name) const;  // -1 when absent
  const std::string& name(int id) const { return entries_.at(id).name; }
  Shape shape(int id) const { return {entries_.at(id).out, entries_.at(id).in}; }
  GgmlType type() const { return type_; }
  Device device() const { return device_; }

  // Stored as given: `bytes` are `type` blocks of the [out, in] weight, row-major.
  void set_blocks(int id, GgmlType type, const std::vector<uint8_t>& bytes);
  // Quantized to the store's type from a CPU f32 [out, in] tensor.
  void set_from_f32(int id, const Tensor& w);
  bool loaded(int id) const { return entries_.at(id).weight.blocks.defined(); }
  const QuantizedWeight& weight(int id) const;  // must be loaded
  size_t nbytes() const;                        // device bytes of every loaded weight

 private:
  struct Entry {
    std::string name;
    int64_t out = 0, in = 0;
    QuantizedWeight weight;
  };
  GgmlType type_;
  Device device_;
  std::vector<Entry> entries_;
};

}  // namespace temper
