// CUDA fused softmax cross-entropy, bf16 or f32 logits, f32 losses and math.
// One block (512 threads) per row of V logits; threads stride over the row. Pass 1 keeps a
// per-thread online (max, sum of exp) pair, merged with two block reductions (shared memory:
// 32 floats). Pass 2 writes (softmax - onehot) * dloss. Every read of the row (including the
// target's logit) happens before the reductions' barriers and each thread writes only elements it
// has read itself, so dlogits may alias logits. Logits of -inf (masked) contribute 0, as on the
// CPU. Ignored rows (and, defensively, out-of-range targets; ids are validated on the host
// elsewhere) get loss 0 and a zero gradient.
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_ops.h"

namespace temper::cuda {
namespace {

constexpr int kCeBlock = 512;

template <class T>
__global__ void cross_entropy_kernel(float* losses, T* dlogits, const T* logits, const int32_t* targets, int64_t v,
                                     int ignore_index, float dloss) {
  const int64_t row = blockIdx.x;
  const T* lr = logits + row * v;
  const int32_t tg = targets[row];
  const bool keep = tg != ignore_index && tg >= 0 && tg < v;
  const float target_logit = keep && threadIdx.x == 0 ? to_f32(lr[tg]) : 0.f;
  float m = -INFINITY, s = 0.f;
  for (int64_t j = threadIdx.x; j < v; j += blockDim.x) {
    const float x = to_f32(lr[j]);
    if (x > m) {
      s = s * expf(m - x) + 1.f;
      m = x;
    } else if (x != -INFINITY) {  // a -inf logit adds 0 (exp(-inf - -inf) is NaN); NaN still spreads
      s += expf(x - m);
    }
  }
  const float row_max = block_max(m);
  const float sum = block_sum(m == -INFINITY ? 0.f : s * expf(m - row_max));
  if (threadIdx.x == 0) losses[row] = keep ? logf(sum) + row_max - target_logit : 0.f;
  if (dlogits == nullptr) return;
  T* dr = dlogits + row * v;
  const float inv = 1.f / sum;
  for (int64_t j = threadIdx.x; j < v; j += blockDim.x) {
    const float p = expf(to_f32(lr[j]) - row_max) * inv;
    dr[j] = from_f32<T>(keep ? (p - (j == tg ? 1.f : 0.f)) * dloss : 0.f);
  }
}

}  // namespace

void softmax_cross_entropy(const Tensor& losses, const Tensor& dlogits, const Tensor& logits, const Tensor& targets,
                           int ignore_index, float dloss) {
  const int64_t v = logits.dim(-1), n = v ? logits.numel() / v : 0;
  TEMPER_CHECK(losses.numel() == n && targets.numel() == n, "softmax_cross_entropy: {} rows, {} targets, {} losses", n,
               targets.numel(), losses.numel());
  check_dtype(losses, DType::F32, "softmax_cross_entropy (cuda)", "losses");
  check_dtype(targets, DType::I32, "softmax_cross_entropy (cuda)", "targets");
  check_on_cuda(losses, "softmax_cross_entropy", "losses");
  check_on_cuda(targets, "softmax_cross_entropy", "targets");
  if (dlogits.defined()) {
    TEMPER_CHECK(dlogits.numel() == logits.numel() && dlogits.dtype() == logits.dtype(),
                 "softmax_cross_entropy (cuda): dlogits must match logits in size and dtype");
    check_on_cuda(dlogits, "softmax_cross_entropy", "dlogits");
  }
  TEMPER_CHECK(n <= INT32_MAX, "softmax_cross_entropy (cuda): {} rows is too many", n);
  if (n == 0) return;
  dispatch_act(logits.dtype(), "softmax_cross_entropy", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* dl = dlogits.defined() ? mptr<T>(dlogits) : nullptr;
    cross_entropy_kernel<<<static_cast<unsigned>(n), kCeBlock, 0, compute_stream()>>>(
        mptr<float>(losses), dl, cptr<T>(logits), cptr<int32_t>(targets), v, ignore_index, dloss);
    TEMPER_CUDA_LAUNCH_CHECK();
  });
}

}  // namespace temper::cuda
