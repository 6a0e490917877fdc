// Shape checks shared by the CPU and CUDA matmul: flatten operands to 2-D and verify M, N, K agree.
#pragma once
#include "kernels/matmul.h"

namespace temper::ref {

struct MatmulDims {
  int64_t m = 0, n = 0, k = 0;
};

// a is [M,K] ([K,M] when transposed), b is [K,N] ([N,K]), out [M,N], bias [N].
inline MatmulDims matmul_dims(const Tensor& out, const Tensor& a, ops::Trans ta, const Tensor& b, ops::Trans tb,
                              const Tensor* bias, const char* op) {
  const int64_t a_last = a.dim(-1), a_rows = a.numel() / (a_last ? a_last : 1);
  const int64_t b_last = b.dim(-1), b_rows = b.numel() / (b_last ? b_last : 1);
  MatmulDims d;
  d.m = ta == ops::Trans::Yes ? a_last : a_rows;
  d.k = ta == ops::Trans::Yes ? a_rows : a_last;
  const int64_t bk = tb == ops::Trans::Yes ? b_last : b_rows;
  d.n = tb == ops::Trans::Yes ? b_rows : b_last;
  TEMPER_CHECK(bk == d.k, "{}: inner dimensions differ: a {} vs b {}", op, shape_str(a.shape()), shape_str(b.shape()));
  TEMPER_CHECK(out.numel() == d.m * d.n && out.dim(-1) == d.n, "{}: out {} is not [{}, {}]", op,
               shape_str(out.shape()), d.m, d.n);
  if (bias) TEMPER_CHECK(bias->numel() == d.n, "{}: bias {} is not [{}]", op, shape_str(bias->shape()), d.n);
  check_same_device(out, a, op);
  check_same_device(out, b, op);
  return d;
}

}  // namespace temper::ref
