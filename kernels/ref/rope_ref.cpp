// CPU rotary embedding, rotate_half convention: element i < HS/2 of a head pairs with i + HS/2,
// both at angle(t, i). Backward applies the transposed rotation (the gradient; the inverse
// rotation whenever cos^2 + sin^2 = 1, as for every table rope_tables builds).
#include "kernels/ref/ref_ops.h"

namespace temper::ref {
namespace {

enum class RopeDir { Forward, Transposed };

// x[B,T,H,HS]; the tables hold at least T rows of HS/2 (a longer table serves shorter inputs).
void rope_apply(const Tensor& x, const Tensor& cos, const Tensor& sin, RopeDir dir, const char* op) {
  TEMPER_CHECK(x.ndim() == 4, "{}: x must be [B,T,H,HS], got {}", op, shape_str(x.shape()));
  const int64_t b = x.dim(0), t = x.dim(1), h = x.dim(2), hs = x.dim(3), half = hs / 2;
  TEMPER_CHECK(hs % 2 == 0, "{}: head size {} must be even", op, hs);
  TEMPER_CHECK(cos.ndim() == 2 && cos.dim(1) == half && cos.dim(0) >= t && cos.shape() == sin.shape(),
               "{}: cos {} / sin {} must be [>={}, {}]", op, shape_str(cos.shape()), shape_str(sin.shape()), t, half);
  check_same_device(x, cos, op);
  check_same_device(x, sin, op);
  float* xp = x.data<float>();
  const float *cp = cos.data<float>(), *sp = sin.data<float>();
  const float sign = dir == RopeDir::Forward ? 1.f : -1.f;
#pragma omp parallel for collapse(2)
  for (int64_t bi = 0; bi < b; ++bi)
    for (int64_t ti = 0; ti < t; ++ti)
      for (int64_t hi = 0; hi < h; ++hi) {
        float* head = xp + ((bi * t + ti) * h + hi) * hs;
        for (int64_t i = 0; i < half; ++i) {
          const float c = cp[ti * half + i], s = sign * sp[ti * half + i];
          const float x1 = head[i], x2 = head[i + half];
          head[i] = x1 * c - x2 * s;
          head[i + half] = x2 * c + x1 * s;
        }
      }
}

}  // namespace

void rope_forward(const Tensor& x, const Tensor& cos, const Tensor& sin) {
  rope_apply(x, cos, sin, RopeDir::Forward, "rope_forward");
}

void rope_backward(const Tensor& d, const Tensor& cos, const Tensor& sin) {
  rope_apply(d, cos, sin, RopeDir::Transposed, "rope_backward");
}

}  // namespace temper::ref
