// CPU SwiGLU: out = silu(gate) * up. Each element reads all its inputs before writing, so the
// gradients may alias dout, gate or up.
#include <cmath>

#include "kernels/ref/ref_ops.h"

namespace temper::ref {
namespace {
float sigmoid(float v) { return 1.f / (1.f + std::exp(-v)); }
}  // namespace

void swiglu_forward(const Tensor& out, const Tensor& gate, const Tensor& up) {
  TEMPER_CHECK(out.numel() == gate.numel() && up.numel() == gate.numel(), "swiglu_forward: sizes differ");
  const float *g = gate.data<float>(), *u = up.data<float>();
  float* o = out.data<float>();
  const int64_t n = gate.numel();
#pragma omp parallel for
  for (int64_t i = 0; i < n; ++i) o[i] = g[i] * sigmoid(g[i]) * u[i];
}

void swiglu_backward(const Tensor& dgate, const Tensor& dup, const Tensor& dout, const Tensor& gate, const Tensor& up) {
  const int64_t n = gate.numel();
  TEMPER_CHECK(dgate.numel() == n && dup.numel() == n && dout.numel() == n && up.numel() == n,
               "swiglu_backward: sizes differ");
  const float *d = dout.data<float>(), *g = gate.data<float>(), *u = up.data<float>();
  float *dg = dgate.data<float>(), *du = dup.data<float>();
#pragma omp parallel for
  for (int64_t i = 0; i < n; ++i) {
    const float gv = g[i], uv = u[i], dv = d[i], s = sigmoid(gv);
    dg[i] = dv * uv * s * (1.f + gv * (1.f - s));
    du[i] = dv * gv * s;
  }
}

}  // namespace temper::ref
