// Raw device memory primitives behind Storage and Tensor copies. CUDA versions live in
// runtime/cuda/device_memory.cpp; the CPU-only build reports a clear error for CUDA requests.
#pragma once
#include <cstddef>

#include "runtime/dtype.h"

namespace temper {

void* device_alloc(size_t bytes, Device device);
void device_free(void* p, Device device);
void device_copy(void* dst, Device dst_dev, const void* src, Device src_dev, size_t bytes);
void device_memset_zero(void* p, Device device, size_t bytes);
bool cuda_available();  // built with CUDA and at least one device present
void synchronize(Device device);  // waits for the device's queued work (no-op on CPU)
// Peak memory so far: CUDA = the caching allocator's high-water mark of allocated bytes;
// CPU = the process's peak resident set (what the OS measured, all allocations included).
size_t peak_memory_bytes(Device device);

}  // namespace temper
