// Caching allocator implementation. Sizes are rounded (512 B small, 2 MiB large) and a cached
// block is reused when it is at most twice the request, so reuse cannot waste more than half.
// Frees are stream-ordered on the single compute stream, so reuse needs no extra synchronisation.
#include "runtime/cuda/caching_allocator.h"

#include <map>
#include <mutex>
#include <unordered_map>

#include "runtime/cuda/cuda_check.h"

namespace temper::cuda {
namespace {

constexpr size_t kSmallRound = 512;
constexpr size_t kLargeRound = 2u << 20;

struct Pool {
  std::mutex mu;
  std::multimap<size_t, void*> free_blocks;     // size -> block
  std::unordered_map<void*, size_t> live;       // block -> size
  AllocatorStats stats;
};

Pool& pool() {
  static Pool* p = new Pool();  // never destroyed: blocks may be freed during static teardown
  return *p;
}

size_t round_size(size_t bytes) {
  const size_t r = bytes < kLargeRound ? kSmallRound : kLargeRound;
  return ((bytes + r - 1) / r) * r;
}

void* malloc_or_retry(Pool& p, size_t size) {
  void* ptr = nullptr;
  cudaError_t err = cudaMalloc(&ptr, size);
  if (err == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    for (auto& [s, blk] : p.free_blocks) {
      cudaFree(blk);
      p.stats.reserved -= s;
    }
    p.free_blocks.clear();
    err = cudaMalloc(&ptr, size);
  }
  if (err != cudaSuccess) {
    throw Error(fmt::format("CUDA out of memory allocating {} bytes ({} in use, {} reserved): {}", size,
                            p.stats.allocated, p.stats.reserved, cudaGetErrorString(err)));
  }
  p.stats.reserved += size;
  return ptr;
}

}  // namespace

void* caching_alloc(size_t bytes) {
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mu);
  const size_t size = round_size(bytes == 0 ? 1 : bytes);
  void* ptr = nullptr;
  size_t got = size;
  auto it = p.free_blocks.lower_bound(size);
  if (it != p.free_blocks.end() && it->first <= 2 * size) {
    got = it->first;
    ptr = it->second;
    p.free_blocks.erase(it);
  } else {
    ptr = malloc_or_retry(p, size);
  }
  p.live[ptr] = got;
  p.stats.allocated += got;
  if (p.stats.allocated > p.stats.peak_allocated) p.stats.peak_allocated = p.stats.allocated;
  return ptr;
}

void caching_free(void* ptr) {
  if (!ptr) return;
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mu);
  auto it = p.live.find(ptr);
  if (it == p.live.end()) return;
  p.stats.allocated -= it->second;
  p.free_blocks.emplace(it->second, ptr);
  p.live.erase(it);
}

void release_cached() {
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mu);
  for (auto& [s, blk] : p.free_blocks) {
    cudaFree(blk);
    p.stats.reserved -= s;
  }
  p.free_blocks.clear();
}

AllocatorStats allocator_stats() {
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mu);
  return p.stats;
}

void reset_peak() {
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mu);
  p.stats.peak_allocated = p.stats.allocated;
}

}  // namespace temper::cuda
