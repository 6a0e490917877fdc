// CUDA side of runtime/device_memory.h: allocations via the caching allocator, copies and
// memsets ordered on the compute stream (synchronous only when host memory is involved).
#include <cuda_runtime.h>

#include "runtime/cuda/caching_allocator.h"
#include "runtime/cuda/cuda_check.h"
#include "runtime/cuda/stream.h"

namespace temper::cuda {

void* alloc(size_t bytes) { return caching_alloc(bytes); }
void free(void* p) { caching_free(p); }

void copy(void* dst, const void* src, size_t bytes, bool host_involved) {
  TEMPER_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, compute_stream()));
  // Device-to-device copies stay stream-ordered; host memory must be complete when we return.
  if (host_involved) TEMPER_CUDA_CHECK(cudaStreamSynchronize(compute_stream()));
}

void memset_zero(void* p, size_t bytes) { TEMPER_CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, compute_stream())); }

size_t peak_allocated() { return allocator_stats().peak_allocated; }

bool available() {
  static const bool ok = [] {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
      cudaGetLastError();
      return false;
    }
    return n > 0;
  }();
  return ok;
}

}  // namespace temper::cuda
