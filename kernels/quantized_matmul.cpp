// QuantizedWeight helpers and the quantized matmuls: dequantize one weight into a transient buffer
// of the activation dtype, then the ordinary matmul (see quantized_matmul.h for why).
#include "kernels/quantized_matmul.h"

#include "runtime/device_memory.h"
#include "runtime/error.h"

namespace temper {
namespace {

constexpr GgmlType kCudaTypes[] = {GgmlType::F32,  GgmlType::F16,  GgmlType::BF16, GgmlType::Q4_0,
                                   GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::Q8_0,
                                   GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K};

// The dequantized weight [out, in] in `dtype` on w's device; freed when the caller drops it.
Tensor dequantized(const QuantizedWeight& w, DType dtype) {
  Tensor full = Tensor::empty({w.out, w.in}, dtype, w.device());
  ops::dequantize(full, w);
  return full;
}

}  // namespace

int64_t QuantizedWeight::row_bytes() const {
  const GgmlTypeTraits& t = ggml_type_traits(type);
  return in / t.block_size * t.type_size;
}

bool quantized_weight_supported(GgmlType t, Device device) {
  if (device == Device::Cpu) return ggml_type_traits(t).dequantizable;
  for (GgmlType c : kCudaTypes)
    if (c == t) return true;
  return false;
}

QuantizedWeight make_quantized_weight(GgmlType type, int64_t out, int64_t in, const std::vector<uint8_t>& bytes,
                                      Device device) {
  const GgmlTypeTraits& t = ggml_type_traits(type);
  TEMPER_CHECK(out > 0 && in > 0 && in % t.block_size == 0,
               "quantized weight [{}, {}]: the row length must be a positive multiple of {}'s block size {}", out,
               in, t.name, t.block_size);
  TEMPER_CHECK(quantized_weight_supported(type, device), "{} weights cannot be kept quantized on {}", t.name,
               device_name(device));
  QuantizedWeight w;
  w.type = type;
  w.out = out;
  w.in = in;
  TEMPER_CHECK(static_cast<int64_t>(bytes.size()) == w.nbytes(), "quantized weight [{}, {}] of {}: {} bytes, expected {}",
               out, in, t.name, bytes.size(), w.nbytes());
  w.blocks = Tensor::empty({w.nbytes()}, DType::U8, device);
  device_copy(w.blocks.raw(), device, bytes.data(), Device::Cpu, bytes.size());
  return w;
}

namespace ops {

void quantized_matmul(const Tensor& y, const Tensor& x, const QuantizedWeight& w, const Tensor* bias, float beta) {
  TEMPER_CHECK(x.ndim() >= 1 && x.dim(x.ndim() - 1) == w.in && y.dim(y.ndim() - 1) == w.out,
               "quantized_matmul: x {} and y {} do not fit the weight [{}, {}]", shape_str(x.shape()),
               shape_str(y.shape()), w.out, w.in);
  matmul(y, x, Trans::No, dequantized(w, x.dtype()), Trans::Yes, bias, beta);
}

void quantized_matmul_dx(const Tensor& dx, const Tensor& dy, const QuantizedWeight& w, float beta) {
  TEMPER_CHECK(dy.ndim() >= 1 && dy.dim(dy.ndim() - 1) == w.out && dx.dim(dx.ndim() - 1) == w.in,
               "quantized_matmul_dx: dy {} and dx {} do not fit the weight [{}, {}]", shape_str(dy.shape()),
               shape_str(dx.shape()), w.out, w.in);
  matmul(dx, dy, Trans::No, dequantized(w, dy.dtype()), Trans::No, nullptr, beta);
}

}  // namespace ops
}  // namespace temper
