// CUDA RMSNorm over the last dimension (Llama), bf16 or f32 activations, f32 statistics.
// Forward: one block (256 threads) per row; threads stride over the row's C elements; one block
// reduction of x^2 (32 floats of shared memory), as the CPU reference.
// Backward: dweight first, as deterministic column sums of dy * x * rstd (column_sum.cuh) added
// into the f32 accumulator; then one block per row for dx (one block sum, then the write), so dx
// may alias dy.
#include <climits>

#include "kernels/cuda/column_sum.cuh"
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_ops.h"

namespace temper::cuda {
namespace {

constexpr int kRmsBlock = 256;

template <class T>
__global__ void rmsnorm_forward_kernel(T* out, float* rstd, const T* x, const T* weight, int c, float eps) {
  const int64_t row = blockIdx.x;
  const T* xr = x + row * c;
  float s = 0.f;
  for (int j = threadIdx.x; j < c; j += blockDim.x) {
    const float v = to_f32(xr[j]);
    s += v * v;
  }
  const float r = 1.f / sqrtf(block_sum(s) / static_cast<float>(c) + eps);
  T* orow = out + row * c;
  for (int j = threadIdx.x; j < c; j += blockDim.x) orow[j] = from_f32<T>(to_f32(xr[j]) * r * to_f32(weight[j]));
  if (threadIdx.x == 0) rstd[row] = r;
}

// dx = r * (dy*w - x * r^2 * mean(dy*w*x))
template <class T>
__global__ void rmsnorm_dx_kernel(T* dx, const T* dy, const T* x, const T* weight, const float* rstd, int c) {
  const int64_t row = blockIdx.x;
  const T *xr = x + row * c, *gr = dy + row * c;
  const float r = rstd[row];
  float s = 0.f;
  for (int j = threadIdx.x; j < c; j += blockDim.x) s += to_f32(gr[j]) * to_f32(weight[j]) * to_f32(xr[j]);
  const float k = r * r * block_sum(s) / static_cast<float>(c);  // block_sum's barriers: reads done
  T* dr = dx + row * c;
  for (int j = threadIdx.x; j < c; j += blockDim.x)
    dr[j] = from_f32<T>(r * (to_f32(gr[j]) * to_f32(weight[j]) - to_f32(xr[j]) * k));
}

template <class T>
struct RmsNormWeightGrad {  // (dy * x * rstd, 0) per element, summed per column
  const T* dy;
  const T* x;
  const float* rstd;
  int64_t cols;
  __device__ float2 operator()(int64_t r, int c) const {
    return make_float2(to_f32(dy[r * cols + c]) * to_f32(x[r * cols + c]) * rstd[r], 0.f);
  }
};

void check_rows(int64_t n, int64_t c, const char* op) {
  TEMPER_CHECK(n <= INT32_MAX && c <= INT32_MAX, "{} (cuda): {} rows of {} is too large", op, n, c);
}

}  // namespace

void rmsnorm_forward(const Tensor& out, const Tensor& rstd, const Tensor& x, const Tensor& weight, float eps) {
  const int64_t c = x.dim(-1), n = c ? x.numel() / c : 0;
  check_shape(weight, {c}, "rmsnorm_forward", "weight");
  TEMPER_CHECK(rstd.numel() == n && out.numel() == x.numel(), "rmsnorm_forward: bad shapes");
  TEMPER_CHECK(out.dtype() == x.dtype() && weight.dtype() == x.dtype(),
               "rmsnorm_forward (cuda): out, x, weight must share a dtype");
  check_dtype(rstd, DType::F32, "rmsnorm_forward (cuda)", "rstd");
  for (const Tensor* t : {&out, &rstd, &x, &weight}) check_on_cuda(*t, "rmsnorm_forward", "operand");
  check_rows(n, c, "rmsnorm_forward");
  if (n == 0 || c == 0) return;
  dispatch_act(x.dtype(), "rmsnorm_forward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    rmsnorm_forward_kernel<<<static_cast<unsigned>(n), kRmsBlock, 0, compute_stream()>>>(
        mptr<T>(out), mptr<float>(rstd), cptr<T>(x), cptr<T>(weight), static_cast<int>(c), eps);
    TEMPER_CUDA_LAUNCH_CHECK();
  });
}

void rmsnorm_backward(const Tensor& dx, const Tensor& dweight, const Tensor& dy, const Tensor& x, const Tensor& weight,
                      const Tensor& rstd) {
  const int64_t c = x.dim(-1), n = c ? x.numel() / c : 0;
  TEMPER_CHECK(dx.numel() == x.numel() && dy.numel() == x.numel() && dweight.numel() == c && weight.numel() == c &&
                   rstd.numel() == n,
               "rmsnorm_backward: bad shapes");
  TEMPER_CHECK(dx.dtype() == x.dtype() && dy.dtype() == x.dtype() && weight.dtype() == x.dtype(),
               "rmsnorm_backward (cuda): dx, dy, x, weight must share a dtype");
  check_dtype(dweight, DType::F32, "rmsnorm_backward (cuda)", "dweight");
  check_dtype(rstd, DType::F32, "rmsnorm_backward (cuda)", "rstd");
  for (const Tensor* t : {&dx, &dweight, &dy, &x, &weight, &rstd}) check_on_cuda(*t, "rmsnorm_backward", "operand");
  check_rows(n, c, "rmsnorm_backward");
  if (n == 0 || c == 0) return;
  dispatch_act(x.dtype(), "rmsnorm_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    column_sums(mptr<float>(dweight), nullptr, n, c,
                RmsNormWeightGrad<T>{cptr<T>(dy), cptr<T>(x), cptr<float>(rstd), c});
    rmsnorm_dx_kernel<<<static_cast<unsigned>(n), kRmsBlock, 0, compute_stream()>>>(
        mptr<T>(dx), cptr<T>(dy), cptr<T>(x), cptr<T>(weight), cptr<float>(rstd), static_cast<int>(c));
    TEMPER_CUDA_LAUNCH_CHECK();
  });
}

}  // namespace temper::cuda
