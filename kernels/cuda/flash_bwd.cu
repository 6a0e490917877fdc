// Flash-attention backward on CUDA: the entry point, its path choice, and the kernels around the
// main ones. Steps:
//   1. rows kernel: per query row, D = dout . o and lse2 = lse log2(e) into f32 scratch
//      [B*NH, T_pad] (T_pad = T rounded up to 64; padding rows D = 0, lse2 = +inf), which both
//      paths read (the tensor-core one a whole query block at a time, without bounds checks);
//   2. main kernels: flash_bwd_mma.cu (bf16/f16, HS 64 or 128, 16-byte aligned rows; dq into a
//      zeroed f32 [B,T,NH,HS] accumulator with atomics) or flash_fallback_bwd.cu (anything else);
//   3. dq kernel (tensor-core path only): dq = scale * accumulator, cast, written with dq_stride.
// TEMPER_FLASH_KERNEL=fallback forces the generic kernels; auto, mma and sm90 take the tensor-core
// kernel where eligible (there is no Hopper-specific backward yet).
// Rows kernel: one warp per (b, h, padded row i), 8 warps per block, lanes over the head dims.
// dq kernel: grid-stride, one thread per element of [B,T,NH*HS]. No shared memory in either.
#include <climits>
#include <cmath>

#include "kernels/cuda/flash_bwd.cuh"
#include "kernels/cuda/flash_mma.cuh"
#include "kernels/cuda/flash_paths.h"

namespace temper::cuda {
namespace {

constexpr int kRowsWarps = 8;

// One padded statistics row: delta/lse2 index w = (b*NH + h)*t_pad + i.
template <class T>
__global__ void flash_bwd_rows_kernel(float* delta, float* lse2, const T* dout, const T* o, int64_t o_stride,
                                      const float* lse, int64_t t, int64_t nh, int64_t hs, int64_t t_pad,
                                      int64_t n_rows) {
  const int lane = threadIdx.x % 32;
  const int64_t w = static_cast<int64_t>(blockIdx.x) * kRowsWarps + threadIdx.x / 32;
  if (w >= n_rows) return;  // whole warps leave together
  const int64_t i = w % t_pad, bh = w / t_pad;
  float d = 0.f, l2 = INFINITY;
  if (i < t) {
    const int64_t off = ((bh / nh) * t + i) * o_stride + (bh % nh) * hs;
    for (int64_t e = lane; e < hs; e += 32) d += to_f32(dout[off + e]) * to_f32(o[off + e]);
    d = warp_reduce(d, SumOp{});
    l2 = lse[bh * t + i] * flash::kLog2e;  // +inf (a row that sees no key) stays +inf
  }
  if (lane == 0) {
    delta[w] = d;
    lse2[w] = l2;
  }
}

// dq[(b*T + t)*dq_stride + h*HS + e] = scale * acc[((b*T + t)*NH + h)*HS + e].
template <class T>
__global__ void flash_bwd_dq_kernel(T* dq, const float* acc, int64_t dq_stride, int64_t width, int64_t n, float scale) {
  for (int64_t idx = global_thread(); idx < n; idx += grid_threads())
    dq[(idx / width) * dq_stride + idx % width] = from_f32<T>(scale * acc[idx]);
}

// Launches the rows kernel into stats ([2, B*NH, t_pad]: D, then lse2) and describes its output.
FlashBwdRows compute_rows(const FlashAttnArgs& a, const Tensor& stats, int64_t t_pad) {
  const int64_t n_rows = a.b * a.nh * t_pad;
  const int64_t blocks = (n_rows + kRowsWarps - 1) / kRowsWarps;
  TEMPER_CHECK(blocks <= INT_MAX, "flash_attention_backward (cuda): {} query rows are too many", n_rows);
  float* delta = mptr<float>(stats);
  float* lse2 = delta + n_rows;
  dispatch_float(a.dtype, "flash_attention_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    flash_bwd_rows_kernel<T><<<static_cast<unsigned>(blocks), 32 * kRowsWarps, 0, compute_stream()>>>(
        delta, lse2, static_cast<const T*>(a.dout), static_cast<const T*>(a.o), a.o_stride, a.lse, a.t, a.nh, a.hs,
        t_pad, n_rows);
    TEMPER_CUDA_LAUNCH_CHECK();
  });
  FlashBwdRows rows;
  rows.delta = delta;
  rows.lse2 = lse2;
  rows.t_pad = t_pad;
  return rows;
}

// The tensor-core path: dq through a zeroed f32 accumulator, then scaled and cast.
void backward_mma(const FlashAttnArgs& a, const FlashBwdRows& rows) {
  const Tensor acc = Tensor::empty({a.b, a.t, a.nh, a.hs}, DType::F32, Device::Cuda);
  TEMPER_CUDA_CHECK(cudaMemsetAsync(acc.raw(), 0, acc.nbytes(), compute_stream()));
  flash_backward_mma(a, rows, mptr<float>(acc));
  const int64_t n = acc.numel();
  dispatch_float(a.dtype, "flash_attention_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    flash_bwd_dq_kernel<T><<<grid_for(n), kBlock, 0, compute_stream()>>>(static_cast<T*>(a.dq), cptr<float>(acc),
                                                                         a.dq_stride, a.nh * a.hs, n, a.scale);
    TEMPER_CUDA_LAUNCH_CHECK();
  });
}

}  // namespace

void flash_attention_backward(const FlashAttnArgs& a) {
  if (a.b == 0 || a.t == 0) return;
  const bool mma = flash_kernel_path_from_env() != FlashKernelPath::Fallback && flash_backward_mma_supported(a);
  const int64_t t_pad = flash_bwd_padded_t(a.t);
  const Tensor stats = Tensor::empty({2, a.b * a.nh, t_pad}, DType::F32, Device::Cuda);
  const FlashBwdRows rows = compute_rows(a, stats, t_pad);
  if (mma) {
    backward_mma(a, rows);
  } else {
    flash_backward_fallback(a, rows);
  }
}

}  // namespace temper::cuda
