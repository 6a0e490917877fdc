// Device helpers shared by the CUDA kernels: f32 load/store for bf16/f16/f32 elements, warp and
// block reductions, grid sizing, dtype dispatch on the host, cuBLAS handles and status checks.
// Math inside kernels is always f32 (f64 for sum_squares); storage types vary.
#pragma once
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "runtime/cuda/cuda_check.h"
#include "runtime/cuda/stream.h"
#include "runtime/tensor.h"

#define TEMPER_CUBLAS_CHECK(call)                                                                                    \
  do {                                                                                                               \
    cublasStatus_t st_ = (call);                                                                                     \
    if (st_ != CUBLAS_STATUS_SUCCESS)                                                                                \
      ::temper::detail::fail(#call, __FILE__, __LINE__,                                                              \
                             fmt::format("cuBLAS error {}: {}", static_cast<int>(st_), cublasGetStatusString(st_))); \
  } while (0)

namespace temper::cuda {

// ---- element conversions (f32 math, any storage type) ----

__device__ __forceinline__ float to_f32(float v) { return v; }
__device__ __forceinline__ float to_f32(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ __forceinline__ float to_f32(__half v) { return __half2float(v); }

template <class T>
__device__ __forceinline__ T from_f32(float v);
template <>
__device__ __forceinline__ float from_f32<float>(float v) {
  return v;
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_f32<__nv_bfloat16>(float v) {
  return __float2bfloat16(v);  // round to nearest even, like temper::f32_to_bf16
}
template <>
__device__ __forceinline__ __half from_f32<__half>(float v) {
  return __float2half(v);  // round to nearest even, like temper::f32_to_f16
}

// ---- reductions (blockDim.x must be a multiple of 32) ----

struct SumOp {
  template <class V>
  __device__ __forceinline__ V operator()(V a, V b) const {
    return a + b;
  }
};
struct MaxOp {
  __device__ __forceinline__ float operator()(float a, float b) const { return fmaxf(a, b); }
};

template <class V, class Op>
__device__ __forceinline__ V warp_reduce(V v, Op op) {
  for (int offset = 16; offset > 0; offset >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

// Reduces one value per thread over the block; every thread gets the result. Safe to call
// several times in a row (the leading barrier protects the shared slots of the previous call).
template <class V, class Op>
__device__ V block_reduce(V v, Op op, V identity) {
  __shared__ V slots[32];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, n_warps = blockDim.x / 32;
  v = warp_reduce(v, op);
  __syncthreads();
  if (lane == 0) slots[warp] = v;
  __syncthreads();
  v = lane < n_warps ? slots[lane] : identity;
  return warp_reduce(v, op);
}

__device__ __forceinline__ float block_sum(float v) { return block_reduce(v, SumOp{}, 0.f); }
__device__ __forceinline__ float block_max(float v) { return block_reduce(v, MaxOp{}, -INFINITY); }

// ---- launch helpers ----

constexpr int kBlock = 256;  // default threads per block for elementwise kernels

// Blocks for a grid-stride loop over n elements (capped: the loop covers the rest).
inline unsigned grid_for(int64_t n, int block = kBlock) {
  const int64_t blocks = (n + block - 1) / block;
  const int64_t cap = 65536;
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > cap ? cap : blocks));
}

__device__ __forceinline__ int64_t global_thread() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ int64_t grid_threads() { return static_cast<int64_t>(gridDim.x) * blockDim.x; }

// ---- host-side dtype dispatch ----

template <class T>
struct TypeTag {
  using type = T;
};

// Calls f(TypeTag<float>) or f(TypeTag<__nv_bfloat16>) for an activation dtype (F32 or BF16).
template <class F>
void dispatch_act(DType dt, const char* op, F&& f) {
  if (dt == DType::F32) {
    f(TypeTag<float>{});
  } else if (dt == DType::BF16) {
    f(TypeTag<__nv_bfloat16>{});
  } else {
    TEMPER_CHECK(false, "{} (cuda): unsupported dtype {} (f32 or bf16)", op, dtype_name(dt));
  }
}

// As dispatch_act, also accepting F16 (casts and optimizer parameter copies).
template <class F>
void dispatch_float(DType dt, const char* op, F&& f) {
  if (dt == DType::F16) {
    f(TypeTag<__half>{});
  } else {
    dispatch_act(dt, op, f);
  }
}

template <class T>
const T* cptr(const Tensor& t) {
  return static_cast<const T*>(t.raw());
}
template <class T>
T* mptr(const Tensor& t) {
  return static_cast<T*>(t.raw());
}

inline void check_on_cuda(const Tensor& t, const char* op, const char* name) {
  TEMPER_CHECK(t.defined() && t.device() == Device::Cuda, "{} (cuda): {} must be a defined CUDA tensor", op, name);
}

inline cudaDataType_t cuda_dtype(DType dt) {
  switch (dt) {
    case DType::F32:
      return CUDA_R_32F;
    case DType::BF16:
      return CUDA_R_16BF;
    case DType::F16:
      return CUDA_R_16F;
    case DType::I32:
      return CUDA_R_32I;
    case DType::U8:
      return CUDA_R_8U;
  }
  return CUDA_R_32F;
}

// ---- cuBLAS state (matmul.cu): created on first use, bound to the compute stream ----

cublasLtHandle_t cublaslt_handle();
cublasHandle_t cublas_handle();  // stream already set to compute_stream()
void* cublaslt_workspace();
size_t cublaslt_workspace_bytes();

}  // namespace temper::cuda
