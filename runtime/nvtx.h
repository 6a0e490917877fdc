// NVTX ranges for Nsight timelines; compiled to nothing without CUDA.
#pragma once
#ifdef TEMPER_WITH_CUDA
#include <nvtx3/nvToolsExt.h>
#endif

namespace temper {

class NvtxRange {
 public:
  explicit NvtxRange(const char* name) {
#ifdef TEMPER_WITH_CUDA
    nvtxRangePushA(name);
#else
    (void)name;
#endif
  }
  ~NvtxRange() {
#ifdef TEMPER_WITH_CUDA
    nvtxRangePop();
#endif
  }
  NvtxRange(const NvtxRange&) = delete;
  NvtxRange& operator=(const NvtxRange&) = delete;
};

}  // namespace temper

#define TEMPER_NVTX_CAT2(a, b) a##b
#define TEMPER_NVTX_CAT(a, b) TEMPER_NVTX_CAT2(a, b)
#define TEMPER_NVTX(name) ::temper::NvtxRange TEMPER_NVTX_CAT(nvtx_range_, __LINE__)(name)
