// CPU dropout (f32, bf16, f16 storage; f32 math) and the public keep decision. The mask comes from
// kernels/dropout_mask.h, the definition the CUDA kernel shares, so both backends agree bit for bit:
// kept values are x * scale with scale = 1 / (1 - p) computed once in f32, one rounding, then
// rounded to the storage dtype (round to nearest even). Each element is read before it is written,
// so out may alias x.
#include "kernels/dropout.h"
#include "kernels/dropout_mask.h"
#include "kernels/ref/ref_ops.h"

namespace temper {
namespace ops {

bool dropout_keeps(uint64_t seed, int64_t i, float p) { return dropout_mask::keeps(seed, i, p); }

}  // namespace ops

namespace ref {
namespace {

float load(float v) { return v; }
float load_bf16(uint16_t v) { return bf16_to_f32(v); }
float load_f16(uint16_t v) { return f16_to_f32(v); }
float store(float v) { return v; }

// out[i] = keeps(i) ? round(x[i] * scale) : 0 over n elements of one storage type.
template <class T, class Load, class Store>
void dropout_loop(T* out, const T* x, int64_t n, float p, float scale, uint64_t seed, Load ld, Store st) {
#pragma omp parallel for
  for (int64_t i = 0; i < n; ++i) {
    out[i] = st(dropout_mask::keeps(seed, i, p) ? ld(x[i]) * scale : 0.f);
  }
}

}  // namespace

void dropout(const Tensor& out, const Tensor& x, float p, uint64_t seed) {
  TEMPER_CHECK(p >= 0.f && p < 1.f, "dropout: p must be in [0, 1), got {}", p);
  TEMPER_CHECK(out.defined() && x.defined(), "dropout: out and x must be defined");
  check_same_device(out, x, "dropout");
  check_shape(out, x.shape(), "dropout", "out");
  check_dtype(out, x.dtype(), "dropout", "out");
  const DType dt = x.dtype();
  TEMPER_CHECK(dt == DType::F32 || dt == DType::BF16 || dt == DType::F16,
               "dropout: unsupported dtype {} (f32, bf16 or f16)", dtype_name(dt));
  if (p == 0.f) {  // identity: a plain copy, none when out is x
    if (out.raw() != x.raw()) out.copy_from(x);
    return;
  }
  const float scale = 1.0f / (1.0f - p);
  const int64_t n = x.numel();
  if (dt == DType::F32) {
    dropout_loop(out.data<float>(), x.data<float>(), n, p, scale, seed, load, store);
  } else if (dt == DType::BF16) {
    dropout_loop(out.data<uint16_t>(), x.data<uint16_t>(), n, p, scale, seed, load_bf16, f32_to_bf16);
  } else {
    dropout_loop(out.data<uint16_t>(), x.data<uint16_t>(), n, p, scale, seed, load_f16, f32_to_f16);
  }
}

}  // namespace ref
}  // namespace temper
