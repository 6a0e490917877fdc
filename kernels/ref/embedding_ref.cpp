// CPU token (+ optional position) embedding and its scatter-add backward. Token ids are range-checked.
#include "kernels/ref/ref_ops.h"

namespace temper::ref {

void embedding_forward(const Tensor& out, const Tensor& tokens, const Tensor& wte, const Tensor& wpe) {
  const int64_t b = tokens.dim(0), t = tokens.dim(1), c = wte.dim(1), v = wte.dim(0);
  check_shape(out, {b, t, c}, "embedding_forward", "out");
  TEMPER_CHECK(!wpe.defined() || (wpe.dim(0) >= t && wpe.dim(1) == c), "embedding_forward: wpe {} too short for T={}",
               shape_str(wpe.shape()), t);
  const int32_t* tok = tokens.data<int32_t>();
  const float *e = wte.data<float>(), *p = wpe.defined() ? wpe.data<float>() : nullptr;
  float* o = out.data<float>();
  for (int64_t i = 0; i < b * t; ++i)
    TEMPER_CHECK(tok[i] >= 0 && tok[i] < v, "token id {} out of range [0, {})", tok[i], v);
#pragma omp parallel for
  for (int64_t i = 0; i < b * t; ++i) {
    const float* er = e + static_cast<int64_t>(tok[i]) * c;
    const float* pr = p ? p + (i % t) * c : nullptr;
    for (int64_t j = 0; j < c; ++j) o[i * c + j] = pr ? er[j] + pr[j] : er[j];
  }
}

void embedding_backward(const Tensor& dwte, const Tensor& dwpe, const Tensor& dout, const Tensor& tokens) {
  const int64_t b = tokens.dim(0), t = tokens.dim(1), c = dwte.dim(1);
  check_shape(dout, {b, t, c}, "embedding_backward", "dout");
  const int32_t* tok = tokens.data<int32_t>();
  const float* g = dout.data<float>();
  float *de = dwte.data<float>(), *dp = dwpe.defined() ? dwpe.data<float>() : nullptr;
  for (int64_t i = 0; i < b * t; ++i) {
    float* er = de + static_cast<int64_t>(tok[i]) * c;
    for (int64_t j = 0; j < c; ++j) er[j] += g[i * c + j];
    if (!dp) continue;
    float* pr = dp + (i % t) * c;
    for (int64_t j = 0; j < c; ++j) pr[j] += g[i * c + j];
  }
}

}  // namespace temper::ref
