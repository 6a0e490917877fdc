// Caching CUDA allocator: freed blocks are kept in size-ordered pools and reused, so the
// training loop's per-step activations cost no cudaMalloc/cudaFree after the first step.
#pragma once
#include <cstddef>

namespace temper::cuda {

struct AllocatorStats {
  size_t allocated = 0;       // bytes handed out now
  size_t peak_allocated = 0;  // high-water mark of `allocated`
  size_t reserved = 0;        // bytes held from cudaMalloc (in use + cached)
};

void* caching_alloc(size_t bytes);
void caching_free(void* p);
void release_cached();  // return cached blocks to the driver
AllocatorStats allocator_stats();
void reset_peak();

}  // namespace temper::cuda
