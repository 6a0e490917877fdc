// CUDA error checks: throw temper::Error with the failing call and file:line.
// TEMPER_SYNC_DEBUG=1 makes TEMPER_CUDA_LAUNCH_CHECK synchronise after every launch.
#pragma once
#include <cuda_runtime.h>

#include "runtime/error.h"

namespace temper::cuda {
bool sync_debug();
}

#define TEMPER_CUDA_CHECK(call)                                                              \
  do {                                                                                       \
    cudaError_t err_ = (call);                                                               \
    if (err_ != cudaSuccess)                                                                 \
      ::temper::detail::fail(#call, __FILE__, __LINE__,                                      \
                             fmt::format("CUDA error {}: {}", cudaGetErrorName(err_),         \
                                         cudaGetErrorString(err_)));                          \
  } while (0)

#define TEMPER_CUDA_LAUNCH_CHECK()                                         \
  do {                                                                     \
    TEMPER_CUDA_CHECK(cudaGetLastError());                                 \
    if (::temper::cuda::sync_debug()) TEMPER_CUDA_CHECK(cudaDeviceSynchronize()); \
  } while (0)
