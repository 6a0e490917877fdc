// Host side of device memory: aligned CPU allocations, and the dispatch to CUDA when built with it.
#include <malloc.h>
#include <sys/resource.h>

#include <cstdlib>
#include <cstring>

#include "runtime/device_memory.h"
#include "runtime/error.h"

namespace temper {

#ifdef TEMPER_WITH_CUDA
namespace cuda {
void* alloc(size_t bytes);
void free(void* p);
// cudaMemcpyDefault on the compute stream; waits for completion when the host reads or wrote the data.
void copy(void* dst, const void* src, size_t bytes, bool host_involved);
void memset_zero(void* p, size_t bytes);
bool available();
void synchronize_compute();
size_t peak_allocated();
}  // namespace cuda
#endif

#ifndef TEMPER_WITH_CUDA
namespace {
[[noreturn]] void no_cuda() {
  throw Error("this temper build has no CUDA backend (rebuild with -DTEMPER_CUDA=ON on a machine with nvcc)");
}
}  // namespace
#endif

namespace {
// Activations are allocated and freed every step. glibc serves large blocks with mmap/munmap,
// so each step would pay page faults and zeroing again; keeping them in the heap lets them be
// reused (the CPU counterpart of the CUDA caching allocator).
const bool g_malloc_tuned = [] {
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  return true;
}();
}  // namespace

void* device_alloc(size_t bytes, Device device) {
  if (device == Device::Cuda) {
#ifdef TEMPER_WITH_CUDA
    return cuda::alloc(bytes);
#else
    no_cuda();
#endif
  }
  const size_t rounded = ((bytes + 63) / 64) * 64;
  void* p = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
  TEMPER_CHECK(p != nullptr, "out of host memory allocating {} bytes", bytes);
  return p;
}

void device_free(void* p, Device device) {
  if (device == Device::Cuda) {
#ifdef TEMPER_WITH_CUDA
    cuda::free(p);
#endif
    return;
  }
  std::free(p);
}

void device_copy(void* dst, Device dst_dev, const void* src, Device src_dev, size_t bytes) {
  if (dst_dev == Device::Cpu && src_dev == Device::Cpu) {
    std::memmove(dst, src, bytes);
    return;
  }
#ifdef TEMPER_WITH_CUDA
  cuda::copy(dst, src, bytes, dst_dev == Device::Cpu || src_dev == Device::Cpu);
#else
  no_cuda();
#endif
}

void device_memset_zero(void* p, Device device, size_t bytes) {
  if (device == Device::Cpu) {
    std::memset(p, 0, bytes);
    return;
  }
#ifdef TEMPER_WITH_CUDA
  cuda::memset_zero(p, bytes);
#else
  no_cuda();
#endif
}

void synchronize(Device device) {
#ifdef TEMPER_WITH_CUDA
  if (device == Device::Cuda) cuda::synchronize_compute();
#else
  (void)device;
#endif
}

size_t peak_memory_bytes(Device device) {
  if (device == Device::Cuda) {
#ifdef TEMPER_WITH_CUDA
    return cuda::peak_allocated();
#else
    return 0;
#endif
  }
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<size_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

bool cuda_available() {
#ifdef TEMPER_WITH_CUDA
  return cuda::available();
#else
  return false;
#endif
}

}  // namespace temper
