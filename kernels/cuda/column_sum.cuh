// Deterministic column sums over a [rows, cols] grid, added into f32 accumulators
// (bias and LayerNorm weight gradients). No atomics: the result does not depend on scheduling.
//
// Stage 1 (column_partials_kernel): a block of (32, 8) threads covers 32 adjacent columns and one
// chunk of kRowsPerChunk rows; thread (tx, ty) sums rows ty, ty+8, ... of column tx (reads of a
// row are coalesced across tx). The 8 per-thread sums are combined in shared memory
// (8 x 32 float2 = 2 KiB) in a fixed order and stored to partial[chunk][col].
// Stage 2 (column_finish_kernel): one thread per column adds the chunk partials in order.
// The functor F gives two quantities per element, f(row, col) -> float2 (the second may be 0).
#pragma once
#include "kernels/cuda/cuda_common.cuh"

namespace temper::cuda {

constexpr int kColTile = 32;
constexpr int kRowThreads = 8;
constexpr int kRowsPerChunk = 256;

template <class F>
__global__ void column_partials_kernel(float2* partial, int64_t rows, int cols, F f) {
  __shared__ float2 tile[kRowThreads][kColTile];
  const int col = blockIdx.x * kColTile + threadIdx.x;
  const int64_t r0 = static_cast<int64_t>(blockIdx.y) * kRowsPerChunk;
  const int64_t r1 = r0 + kRowsPerChunk < rows ? r0 + kRowsPerChunk : rows;
  float2 acc = make_float2(0.f, 0.f);
  if (col < cols) {
    for (int64_t r = r0 + threadIdx.y; r < r1; r += kRowThreads) {
      const float2 v = f(r, col);
      acc.x += v.x;
      acc.y += v.y;
    }
  }
  tile[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y != 0 || col >= cols) return;
  for (int i = 1; i < kRowThreads; ++i) {
    acc.x += tile[i][threadIdx.x].x;
    acc.y += tile[i][threadIdx.x].y;
  }
  partial[static_cast<int64_t>(blockIdx.y) * cols + col] = acc;
}

// out0[col] += sum of partial[.][col].x; out1 (when not null) likewise with .y. Grid-stride, one thread per column.
static __global__ void column_finish_kernel(float* out0, float* out1, const float2* partial, int chunks, int cols) {
  for (int64_t col = global_thread(); col < cols; col += grid_threads()) {
    float2 acc = make_float2(0.f, 0.f);
    for (int i = 0; i < chunks; ++i) {
      const float2 v = partial[static_cast<int64_t>(i) * cols + col];
      acc.x += v.x;
      acc.y += v.y;
    }
    out0[col] += acc.x;
    if (out1 != nullptr) out1[col] += acc.y;
  }
}

// Adds the column sums of f over rows into out0 (and out1 when not null), both f32 [cols] on the GPU.
template <class F>
void column_sums(float* out0, float* out1, int64_t rows, int64_t cols, F f) {
  if (rows == 0 || cols == 0) return;
  const int64_t chunks = (rows + kRowsPerChunk - 1) / kRowsPerChunk;
  TEMPER_CHECK(chunks <= 65535 && cols <= (int64_t{1} << 30), "column_sums: {} rows x {} cols is too large", rows,
               cols);
  Tensor scratch = Tensor::empty({chunks * cols * 2}, DType::F32, Device::Cuda);
  float2* partial = mptr<float2>(scratch);
  const dim3 grid(static_cast<unsigned>((cols + kColTile - 1) / kColTile), static_cast<unsigned>(chunks));
  column_partials_kernel<<<grid, dim3(kColTile, kRowThreads), 0, compute_stream()>>>(partial, rows,
                                                                                     static_cast<int>(cols), f);
  TEMPER_CUDA_LAUNCH_CHECK();
  column_finish_kernel<<<grid_for(cols), kBlock, 0, compute_stream()>>>(out0, out1, partial, static_cast<int>(chunks),
                                                                        static_cast<int>(cols));
  TEMPER_CUDA_LAUNCH_CHECK();
}

}  // namespace temper::cuda
