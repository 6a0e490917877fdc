// CPU matmul: OpenBLAS sgemm on f32, row-major; bias added per row; bias gradient as a row sum.
#include <cblas.h>

#include "kernels/ref/ref_ops.h"
#include "kernels/ref/shape_util.h"

namespace temper::ref {

void matmul(const Tensor& out, const Tensor& a, Trans ta, const Tensor& b, Trans tb, const Tensor* bias,
            float beta) {
  const MatmulDims d = matmul_dims(out, a, ta, b, tb, bias, "matmul");
  for (const Tensor* t : {&out, &a, &b}) check_dtype(*t, DType::F32, "matmul (cpu)", "operand");
  const bool tra = ta == Trans::Yes, trb = tb == Trans::Yes;
  if (d.m > 0 && d.n > 0) {
    cblas_sgemm(CblasRowMajor, tra ? CblasTrans : CblasNoTrans, trb ? CblasTrans : CblasNoTrans,
                static_cast<int>(d.m), static_cast<int>(d.n), static_cast<int>(d.k), 1.f, a.data<float>(),
                static_cast<int>(tra ? d.m : d.k), b.data<float>(), static_cast<int>(trb ? d.k : d.n), beta,
                out.data<float>(), static_cast<int>(d.n));
  }
  if (bias == nullptr) return;
  check_dtype(*bias, DType::F32, "matmul (cpu)", "bias");
  float* o = out.data<float>();
  const float* bb = bias->data<float>();
  for (int64_t i = 0; i < d.m; ++i)
    for (int64_t j = 0; j < d.n; ++j) o[i * d.n + j] += bb[j];
}

void bias_backward(const Tensor& dbias, const Tensor& dy) {
  const int64_t n = dy.dim(-1), m = dy.numel() / n;
  check_shape(dbias, {n}, "bias_backward", "dbias");
  float* db = dbias.data<float>();
  const float* g = dy.data<float>();
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) db[j] += g[i * n + j];
}

}  // namespace temper::ref
