// CPU reference of the dequantize op: each row through ggml's dequantize_row (the bit-exact twin
// of the gguf package), converted to the output dtype.
#include <vector>

#include "kernels/ref/ref_ops.h"
#include "runtime/error.h"

namespace temper::ref {

void dequantize(const Tensor& w, const QuantizedWeight& q) {
  TEMPER_CHECK(w.device() == Device::Cpu && q.device() == Device::Cpu, "dequantize: CPU tensors expected");
  TEMPER_CHECK(w.ndim() == 2 && w.dim(0) == q.out && w.dim(1) == q.in, "dequantize: output {} for a [{}, {}] weight",
               shape_str(w.shape()), q.out, q.in);
  TEMPER_CHECK(q.blocks.dtype() == DType::U8 && q.blocks.numel() == q.nbytes(), "dequantize: {} bytes of blocks, expected {}",
               q.blocks.numel(), q.nbytes());
  const uint8_t* src = q.blocks.data<uint8_t>();
  const int64_t row_bytes = q.row_bytes();
  if (w.dtype() == DType::F32) {
#pragma omp parallel for schedule(static)
    for (int64_t o = 0; o < q.out; ++o) dequantize_row(q.type, src + o * row_bytes, q.in, w.data<float>() + o * q.in);
    return;
  }
  TEMPER_CHECK(w.dtype() == DType::BF16 || w.dtype() == DType::F16, "dequantize: output dtype {} (f32, bf16, f16)",
               dtype_name(w.dtype()));
  std::vector<float> row(static_cast<size_t>(q.in));
  uint16_t* dst = w.data<uint16_t>();
  for (int64_t o = 0; o < q.out; ++o) {
    dequantize_row(q.type, src + o * row_bytes, q.in, row.data());
    for (int64_t i = 0; i < q.in; ++i)
      dst[o * q.in + i] = w.dtype() == DType::BF16 ? f32_to_bf16(row[i]) : f32_to_f16(row[i]);
  }
}

}  // namespace temper::ref
