// CPU elementwise ops and dtype casts.
#include <cmath>

#include "kernels/ref/ref_ops.h"

namespace temper::ref {

void add(const Tensor& out, const Tensor& a, const Tensor& b) {
  TEMPER_CHECK(out.numel() == a.numel() && a.numel() == b.numel(), "add: sizes differ");
  const float *x = a.data<float>(), *y = b.data<float>();
  float* o = out.data<float>();
  const int64_t n = a.numel();
#pragma omp parallel for
  for (int64_t i = 0; i < n; ++i) o[i] = x[i] + y[i];
}

void add_inplace(const Tensor& a, const Tensor& b) { add(a, a, b); }

void tanh_forward(const Tensor& out, const Tensor& x) {
  const float* xp = x.data<float>();
  float* o = out.data<float>();
  for (int64_t i = 0; i < x.numel(); ++i) o[i] = std::tanh(xp[i]);
}

void tanh_backward(const Tensor& dx, const Tensor& dout, const Tensor& y) {
  const float *yp = y.data<float>(), *g = dout.data<float>();
  float* d = dx.data<float>();
  for (int64_t i = 0; i < y.numel(); ++i) d[i] = g[i] * (1.f - yp[i] * yp[i]);
}

void scale_rows(const Tensor& x, const Tensor& s) {
  const int64_t n = x.dim(0), c = x.dim(1);
  float* p = x.data<float>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < c; ++j) p[i * c + j] *= s.data<float>()[i];
}

void scale_inplace(const Tensor& x, float s) {
  float* p = x.data<float>();
  const int64_t n = x.numel();
#pragma omp parallel for
  for (int64_t i = 0; i < n; ++i) p[i] *= s;
}

void cast(const Tensor& out, const Tensor& in) {
  TEMPER_CHECK(out.numel() == in.numel(), "cast: sizes differ");
  const int64_t n = in.numel();
  if (in.dtype() == out.dtype()) {
    out.copy_from(in);
  } else if (out.dtype() == DType::F32) {
    Tensor f = in.to_host_f32();
    out.copy_from(f.reshape(out.shape()));
  } else {
    check_dtype(in, DType::F32, "cast", "in");
    const float* s = in.data<float>();
    uint16_t* d = out.data<uint16_t>();
    const bool bf = out.dtype() == DType::BF16;
    TEMPER_CHECK(bf || out.dtype() == DType::F16, "cast: unsupported target {}", dtype_name(out.dtype()));
    for (int64_t i = 0; i < n; ++i) d[i] = bf ? f32_to_bf16(s[i]) : f32_to_f16(s[i]);
  }
}

}  // namespace temper::ref
