// CUDA LayerNorm over the last dimension, bf16 or f32 activations, f32 statistics.
// Forward: one block (256 threads) per row; threads stride over the row's C elements; two-pass
// mean then variance with block reductions (32 floats of shared memory), like the CPU reference.
// Backward: dweight/dbias first, as deterministic column sums (column_sum.cuh) added into the
// f32 accumulators; then one block per row for dx (two block sums, then the write), so dx may
// even alias dy.
#include "kernels/cuda/column_sum.cuh"
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_ops.h"

namespace temper::cuda {
namespace {

constexpr int kLnBlock = 256;

template <class T>
__global__ void layernorm_forward_kernel(T* out, float* mean, float* rstd, const T* x, const T* weight, const T* bias,
                                         int c, float eps) {
  const int64_t row = blockIdx.x;
  const T* xr = x + row * c;
  float s = 0.f;
  for (int j = threadIdx.x; j < c; j += blockDim.x) s += to_f32(xr[j]);
  const float m = block_sum(s) / static_cast<float>(c);
  float v = 0.f;
  for (int j = threadIdx.x; j < c; j += blockDim.x) {
    const float d = to_f32(xr[j]) - m;
    v += d * d;
  }
  const float r = 1.f / sqrtf(block_sum(v) / static_cast<float>(c) + eps);
  T* orow = out + row * c;
  for (int j = threadIdx.x; j < c; j += blockDim.x)
    orow[j] = from_f32<T>((to_f32(xr[j]) - m) * r * to_f32(weight[j]) + to_f32(bias[j]));
  if (threadIdx.x == 0) {
    mean[row] = m;
    rstd[row] = r;
  }
}

template <class T>
__global__ void layernorm_dx_kernel(T* dx, const T* dy, const T* x, const T* weight, const float* mean,
                                    const float* rstd, int c) {
  const int64_t row = blockIdx.x;
  const T *xr = x + row * c, *gr = dy + row * c;
  const float mu = mean[row], rs = rstd[row];
  float s1 = 0.f, s2 = 0.f;
  for (int j = threadIdx.x; j < c; j += blockDim.x) {
    const float g = to_f32(gr[j]) * to_f32(weight[j]);
    s1 += g;
    s2 += g * (to_f32(xr[j]) - mu) * rs;
  }
  const float mean_dn = block_sum(s1) / static_cast<float>(c);
  const float mean_dn_xhat = block_sum(s2) / static_cast<float>(c);  // block_sum's barriers: reads done
  T* dr = dx + row * c;
  for (int j = threadIdx.x; j < c; j += blockDim.x) {
    const float g = to_f32(gr[j]) * to_f32(weight[j]);
    const float xhat = (to_f32(xr[j]) - mu) * rs;
    dr[j] = from_f32<T>(rs * (g - mean_dn - xhat * mean_dn_xhat));
  }
}

template <class T>
struct LayerNormParamGrad {  // (dy * xhat, dy) per element, summed per column
  const T* dy;
  const T* x;
  const float* mean;
  const float* rstd;
  int64_t cols;
  __device__ float2 operator()(int64_t r, int c) const {
    const float g = to_f32(dy[r * cols + c]);
    return make_float2(g * (to_f32(x[r * cols + c]) - mean[r]) * rstd[r], g);
  }
};

void check_rows(int64_t n, int64_t c, const char* op) {
  TEMPER_CHECK(n <= INT32_MAX && c <= INT32_MAX, "{} (cuda): {} rows of {} is too large", op, n, c);
}

}  // namespace

void layernorm_forward(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& x, const Tensor& weight,
                       const Tensor& bias, float eps) {
  const int64_t c = x.dim(-1), n = c ? x.numel() / c : 0;
  check_shape(weight, {c}, "layernorm_forward", "weight");
  check_shape(bias, {c}, "layernorm_forward", "bias");
  TEMPER_CHECK(mean.numel() == n && rstd.numel() == n && out.numel() == x.numel(), "layernorm_forward: bad shapes");
  TEMPER_CHECK(out.dtype() == x.dtype() && weight.dtype() == x.dtype() && bias.dtype() == x.dtype(),
               "layernorm_forward (cuda): out, x, weight, bias must share a dtype");
  check_dtype(mean, DType::F32, "layernorm_forward (cuda)", "mean");
  check_dtype(rstd, DType::F32, "layernorm_forward (cuda)", "rstd");
  for (const Tensor* t : {&out, &mean, &rstd, &weight, &bias}) check_on_cuda(*t, "layernorm_forward", "operand");
  check_rows(n, c, "layernorm_forward");
  if (n == 0 || c == 0) return;
  dispatch_act(x.dtype(), "layernorm_forward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    layernorm_forward_kernel<<<static_cast<unsigned>(n), kLnBlock, 0, compute_stream()>>>(
        mptr<T>(out), mptr<float>(mean), mptr<float>(rstd), cptr<T>(x), cptr<T>(weight), cptr<T>(bias),
        static_cast<int>(c), eps);
    TEMPER_CUDA_LAUNCH_CHECK();
  });
}

void layernorm_backward(const Tensor& dx, const Tensor& dweight, const Tensor& dbias, const Tensor& dy, const Tensor& x,
                        const Tensor& weight, const Tensor& mean, const Tensor& rstd) {
  const int64_t c = x.dim(-1), n = c ? x.numel() / c : 0;
  TEMPER_CHECK(dx.numel() == x.numel() && dy.numel() == x.numel() && dweight.numel() == c && dbias.numel() == c &&
                   weight.numel() == c && mean.numel() == n && rstd.numel() == n,
               "layernorm_backward: bad shapes");
  TEMPER_CHECK(dx.dtype() == x.dtype() && dy.dtype() == x.dtype() && weight.dtype() == x.dtype(),
               "layernorm_backward (cuda): dx, dy, x, weight must share a dtype");
  for (const Tensor* t : {&dweight, &dbias, &mean, &rstd})
    check_dtype(*t, DType::F32, "layernorm_backward (cuda)", "stat/grad");
  for (const Tensor* t : {&dx, &dweight, &dbias, &dy, &weight, &mean, &rstd})
    check_on_cuda(*t, "layernorm_backward", "operand");
  check_rows(n, c, "layernorm_backward");
  if (n == 0 || c == 0) return;
  dispatch_act(x.dtype(), "layernorm_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    column_sums(mptr<float>(dweight), mptr<float>(dbias), n, c,
                LayerNormParamGrad<T>{cptr<T>(dy), cptr<T>(x), cptr<float>(mean), cptr<float>(rstd), c});
    layernorm_dx_kernel<<<static_cast<unsigned>(n), kLnBlock, 0, compute_stream()>>>(
        mptr<T>(dx), cptr<T>(dy), cptr<T>(x), cptr<T>(weight), cptr<float>(mean), cptr<float>(rstd),
        static_cast<int>(c));
    TEMPER_CUDA_LAUNCH_CHECK();
  });
}

}  // namespace temper::cuda
