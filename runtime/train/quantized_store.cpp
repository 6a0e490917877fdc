// QuantizedStore: registration, filling from blocks or f32 values, lookup.
#include "runtime/train/quantized_store.h"

#include "runtime/error.h"

namespace temper {

int QuantizedStore::add(const std::string& name, int64_t out, int64_t in) {
  TEMPER_CHECK(find(name) < 0, "duplicate quantized weight {}", name);
  const GgmlTypeTraits& t = ggml_type_traits(type_);
  TEMPER_CHECK(in % t.block_size == 0, "{} [{}, {}]: rows of {} elements cannot be cut into {} blocks of {} (choose "
               "another --qlora type)", name, out, in, in, t.name, t.block_size);
  entries_.push_back({name, out, in, QuantizedWeight()});
  return size() - 1;
}

int QuantizedStore::find(const std::string& name) const {
  for (int i = 0; i < size(); ++i)
    if (entries_[static_cast<size_t>(i)].name == name) return i;
  return -1;
}

void QuantizedStore::set_blocks(int id, GgmlType type, const std::vector<uint8_t>& bytes) {
  Entry& e = entries_.at(static_cast<size_t>(id));
  e.weight = make_quantized_weight(type, e.out, e.in, bytes, device_);
}

void QuantizedStore::set_from_f32(int id, const Tensor& w) {
  const Entry& e = entries_.at(static_cast<size_t>(id));
  TEMPER_CHECK(w.device() == Device::Cpu && w.dtype() == DType::F32 && w.shape() == shape(id),
               "{}: expected a CPU f32 [{}, {}] tensor, got {} {}", e.name, e.out, e.in, dtype_name(w.dtype()),
               shape_str(w.shape()));
  QuantizedWeight probe;
  probe.type = type_;
  probe.in = e.in;
  const int64_t row_bytes = probe.row_bytes();
  std::vector<uint8_t> bytes(static_cast<size_t>(e.out * row_bytes));
  const float* src = w.data<float>();
#pragma omp parallel for schedule(static)
  for (int64_t o = 0; o < e.out; ++o) quantize_row(type_, src + o * e.in, e.in, bytes.data() + o * row_bytes);
  set_blocks(id, type_, bytes);
}

const QuantizedWeight& QuantizedStore::weight(int id) const {
  const Entry& e = entries_.at(static_cast<size_t>(id));
  TEMPER_CHECK(e.weight.blocks.defined(), "quantized weight {} was never loaded", e.name);
  return e.weight;
}

size_t QuantizedStore::nbytes() const {
  size_t n = 0;
  for (const Entry& e : entries_)
    if (e.weight.blocks.defined()) n += static_cast<size_t>(e.weight.nbytes());
  return n;
}

}  // namespace temper
