// Hopper (sm_90a) building blocks for the flash-attention kernels: shared-memory addresses,
// mbarriers, TMA tensor loads, wgmma shared-memory descriptors, the wgmma.mma_async shapes the
// forward uses, setmaxnreg and a raw exp2. Each wrapper is one PTX instruction (or a fixed short
// sequence); comments name the PTX ISA facts relied on.
//
// Device code for sm_90a only: everything below exists only when __CUDA_ARCH_FEAT_SM90_ALL is
// defined (nvcc -gencode arch=compute_90a,code=sm_90a), so callers wrap their uses in the same
// guard and the including file still compiles for sm_80 / sm_90 (and in the host pass).
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)

namespace temper::cuda::sm90 {

// ---- shared-memory addresses (32-bit .shared::cta addresses, as the PTX below takes them) ----

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// ---- mbarriers (PTX "mbarrier"): 8-byte objects in shared memory ----

__device__ __forceinline__ void mbar_init(uint32_t bar, uint32_t arrivals) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(bar), "r"(arrivals) : "memory");
}

// Makes the initialised barriers visible to the async proxy (TMA) and the other threads; a
// __syncthreads() must follow before anyone uses them.
__device__ __forceinline__ void fence_mbar_init() {
  asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
  asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
}

// One arrival that also announces `bytes` of TMA transactions for the current phase: the phase
// completes when all arrivals happened and all announced bytes landed.
__device__ __forceinline__ void mbar_arrive_expect_tx(uint32_t bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(bar), "r"(bytes) : "memory");
}

__device__ __forceinline__ void mbar_arrive(uint32_t bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(bar) : "memory");
}

// Waits until the phase with parity `parity` has completed. A fresh barrier is in phase 0, and
// waiting for parity 1 on it returns at once (the "preceding phase" counts as complete): producers
// waiting on an empty-buffer barrier start with parity 1, consumers on a full one with parity 0.
__device__ __forceinline__ void mbar_wait(uint32_t bar, uint32_t parity) {
  uint32_t done = 0;
  do {
    asm volatile(
        "{\n\t.reg .pred p;\n\t"
        "mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n\t"
        "selp.u32 %0, 1, 0, p;\n\t}"
        : "=r"(done)
        : "r"(bar), "r"(parity)
        : "memory");
  } while (!done);
}

// ---- TMA (PTX "cp.async.bulk.tensor") ----

__device__ __forceinline__ void prefetch_tensor_map(const void* tmap) {
  asm volatile("prefetch.tensormap [%0];" ::"l"(reinterpret_cast<uint64_t>(tmap)) : "memory");
}

// Copies the box at coordinates (c0 innermost .. c3) of a 4-D tensor map into shared memory at
// `dst` (1024-byte aligned for the 128-byte swizzle) and completes its bytes on mbarrier `bar`.
// Out-of-range elements are written as zeros and still count towards the transaction bytes.
// `tmap` is the generic address of a __grid_constant__ kernel parameter.
__device__ __forceinline__ void tma_load_4d(uint32_t dst, const void* tmap, uint32_t bar, int c0, int c1, int c2,
                                            int c3) {
  asm volatile(
      "cp.async.bulk.tensor.4d.shared::cluster.global.mbarrier::complete_tx::bytes"
      " [%0], [%1, {%2, %3, %4, %5}], [%6];" ::"r"(dst),
      "l"(reinterpret_cast<uint64_t>(tmap)), "r"(c0), "r"(c1), "r"(c2), "r"(c3), "r"(bar)
      : "memory");
}

// ---- register reallocation between warpgroups (PTX "setmaxnreg"; every thread of the warpgroup
// executes it; only effective in a kernel with a register cap from __launch_bounds__(n, 1)) ----

template <int kRegs>
__device__ __forceinline__ void setmaxnreg_inc() {
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;" ::"n"(kRegs));
}
template <int kRegs>
__device__ __forceinline__ void setmaxnreg_dec() {
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;" ::"n"(kRegs));
}

// ---- math ----

// 2^x with the SFU (ex2.approx.ftz): ex2(-inf) = +0, which the masked softmax relies on.
__device__ __forceinline__ float ex2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}

// Two f32 -> one 32-bit register of two 16-bit values, `lo` in the low half (the element with the
// smaller column index in every wgmma / mma fragment).
template <class T>
__device__ __forceinline__ uint32_t pack2(float lo, float hi);
template <>
__device__ __forceinline__ uint32_t pack2<__nv_bfloat16>(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);  // .x = lo (low 16 bits)
  return *reinterpret_cast<const uint32_t*>(&v);
}
template <>
__device__ __forceinline__ uint32_t pack2<__half>(float lo, float hi) {
  const __half2 v = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&v);
}

// ---- wgmma shared-memory descriptors (PTX "Matrix Descriptor Format") ----
//
// bits 0-13: start address >> 4; 16-29: leading-dimension byte offset (LBO) >> 4; 32-45: stride-
// dimension byte offset (SBO) >> 4; 49-51: base offset (0: our tiles start on 1024-byte boundaries);
// 62-63: swizzle mode, 1 = 128-byte swizzle.
//
// With the 128-byte swizzle a tile is made of atoms of 8 rows x 128 bytes (1024 bytes, rows 128
// bytes apart, the 16-byte chunk index XORed with row % 8 -- exactly what TMA's
// CU_TENSOR_MAP_SWIZZLE_128B writes for a box whose inner extent is 128 bytes). The swizzle is a
// function of the address bits, so sub-tiles are addressed by moving the start address:
//   K-major operand (K contiguous, e.g. Q and K for S = Q K^T): SBO = 1024 (next 8 rows of M/N),
//     LBO unused for swizzled K-major (set to 1); the k-th 16-element step inside the 64-element
//     atom row is start + 32*k bytes.
//   MN-major operand (N contiguous, V for O = P V, used with imm-trans-b = 1): SBO = 1024 (next 8
//     rows of K), LBO = byte distance between consecutive 64-element column slabs of N.
__device__ __forceinline__ uint64_t desc_sw128(uint32_t addr, uint32_t lbo_bytes, uint32_t sbo_bytes) {
  return static_cast<uint64_t>((addr & 0x3FFFFu) >> 4) | (static_cast<uint64_t>((lbo_bytes & 0x3FFFFu) >> 4) << 16) |
         (static_cast<uint64_t>((sbo_bytes & 0x3FFFFu) >> 4) << 32) | (1ull << 62);
}

// ---- wgmma ordering (PTX "wgmma.fence", "wgmma.commit_group", "wgmma.wait_group") ----

// Before the first wgmma of a batch whose accumulator or A registers ordinary code wrote.
__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory"); }
// Waits until at most kPending committed groups of this thread are still in flight.
template <int kPending>
__device__ __forceinline__ void wgmma_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;" ::"n"(kPending) : "memory");
}

// Compiler-level fence on accumulator registers: the wgmma asm statements look synchronous to the
// compiler, so after wgmma_wait every accumulator read must depend on this (volatile, ordered)
// statement, or the compiler could hoist the read above the wait.
template <int kN>
__device__ __forceinline__ void fence_operands(float (&r)[kN]) {
#pragma unroll
  for (int i = 0; i < kN; ++i) asm volatile("" : "+f"(r[i])::"memory");
}

// ---- wgmma.mma_async shapes (f32 accumulators, bf16 or f16 inputs) ----
//
// Accumulator fragment (PTX "wgmma m64nNk16 register fragment layout for D", f32): warp w of the
// warpgroup (w = warp index % 4) holds rows 16w..16w+15; lane l = 4g + q holds, for each
// 8-column chunk i (0..N/8-1): d[4i+0], d[4i+1] = row 16w+g, columns 8i+2q, 8i+2q+1;
// d[4i+2], d[4i+3] = row 16w+g+8, the same columns.
// A fragment from registers (16-bit, m64 x k16): four 32-bit registers of two values each,
// a[0] = row 16w+g, cols 2q..2q+1; a[1] = row 16w+g+8, cols 2q..2q+1; a[2] = row 16w+g,
// cols 2q+8..2q+9; a[3] = row 16w+g+8, cols 2q+8..2q+9 (low half = lower column). So the f32
// accumulator of S (key columns) turns into the A operand of P V without moving data between
// threads: for the k-step covering columns 16k..16k+15, a[r] = pack(d[8k+2r], d[8k+2r+1]).

#define TEMPER_SM90_D8(d, i)                                                                                     \
  "+f"(d[i + 0]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3]), "+f"(d[i + 4]), "+f"(d[i + 5]), "+f"(d[i + 6]), \
      "+f"(d[i + 7])
#define TEMPER_SM90_D32(d) TEMPER_SM90_D8(d, 0), TEMPER_SM90_D8(d, 8), TEMPER_SM90_D8(d, 16), TEMPER_SM90_D8(d, 24)
#define TEMPER_SM90_D64(d) \
  TEMPER_SM90_D32(d), TEMPER_SM90_D8(d, 32), TEMPER_SM90_D8(d, 40), TEMPER_SM90_D8(d, 48), TEMPER_SM90_D8(d, 56)
#define TEMPER_SM90_R32                                                                                      \
  "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, " \
  "%23, %24, %25, %26, %27, %28, %29, %30, %31}"
#define TEMPER_SM90_R64                                                                                        \
  "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, "   \
  "%23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, " \
  "%45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}"

// D[64 x 128] (+)= A[64 x 16] B[16 x 128]; A and B K-major in shared memory (imm-trans 0, 0).
// scale_d = 0 overwrites D, 1 accumulates.
#define TEMPER_SM90_SS_N128(TY)                                                                          \
  asm volatile(                                                                                          \
      "{\n\t.reg .pred p;\n\tsetp.ne.b32 p, %66, 0;\n\t"                                                 \
      "wgmma.mma_async.sync.aligned.m64n128k16.f32." TY "." TY " " TEMPER_SM90_R64 ", %64, %65, p, 1, 1, 0, 0;\n\t}" \
      : TEMPER_SM90_D64(d)                                                                               \
      : "l"(desc_a), "l"(desc_b), "r"(scale_d))

template <bool kBf16>
__device__ __forceinline__ void wgmma_ss_m64n128k16(float (&d)[64], uint64_t desc_a, uint64_t desc_b, int scale_d) {
  if constexpr (kBf16) {
    TEMPER_SM90_SS_N128("bf16");
  } else {
    TEMPER_SM90_SS_N128("f16");
  }
}

// D[64 x N] += A[64 x 16] (registers) B[16 x N] (shared memory, N-major: imm-trans-b = 1).
#define TEMPER_SM90_RS(N, REGS, DOPS, A0, DB, SD, TY)                                                       \
  asm volatile("{\n\t.reg .pred p;\n\tsetp.ne.b32 p, %" SD ", 0;\n\t"                                       \
               "wgmma.mma_async.sync.aligned.m64n" N "k16.f32." TY "." TY " " REGS ", {%" A0 "}, %" DB     \
               ", p, 1, 1, 1;\n\t}"                                                                        \
               : DOPS                                                                                      \
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc_b), "r"(scale_d))

template <bool kBf16>
__device__ __forceinline__ void wgmma_rs_m64n64k16(float (&d)[32], const uint32_t (&a)[4], uint64_t desc_b,
                                                   int scale_d) {
  if constexpr (kBf16) {
    TEMPER_SM90_RS("64", TEMPER_SM90_R32, TEMPER_SM90_D32(d), "32, %33, %34, %35", "36", "37", "bf16");
  } else {
    TEMPER_SM90_RS("64", TEMPER_SM90_R32, TEMPER_SM90_D32(d), "32, %33, %34, %35", "36", "37", "f16");
  }
}

template <bool kBf16>
__device__ __forceinline__ void wgmma_rs_m64n128k16(float (&d)[64], const uint32_t (&a)[4], uint64_t desc_b,
                                                    int scale_d) {
  if constexpr (kBf16) {
    TEMPER_SM90_RS("128", TEMPER_SM90_R64, TEMPER_SM90_D64(d), "64, %65, %66, %67", "68", "69", "bf16");
  } else {
    TEMPER_SM90_RS("128", TEMPER_SM90_R64, TEMPER_SM90_D64(d), "64, %65, %66, %67", "68", "69", "f16");
  }
}

#undef TEMPER_SM90_RS
#undef TEMPER_SM90_SS_N128
#undef TEMPER_SM90_R64
#undef TEMPER_SM90_R32
#undef TEMPER_SM90_D64
#undef TEMPER_SM90_D32
#undef TEMPER_SM90_D8

}  // namespace temper::cuda::sm90

#endif  // __CUDA_ARCH_FEAT_SM90_ALL
