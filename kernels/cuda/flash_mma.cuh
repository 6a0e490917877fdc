// Device primitives of the tensor-core (mma.sync, sm_80+) flash-attention kernels, forward and
// backward: cp.async with zero-fill, ldmatrix, mma.sync.m16n8k16 (bf16/f16 in, f32 accumulate),
// the fragment layouts they imply, an XOR swizzle for conflict-free 16-byte smem access, quad
// reductions and exp2. Names here are stable: other flash files include this header.
//
// mma.sync.m16n8k16 fragments (PTX ISA, "Matrix Fragments for mma.m16n8k16"), per lane:
//   g = lane / 4 (group), c = lane % 4 (thread in group). A regs hold 2 16-bit elements each, the
//   lower column in the low half.
//   A (16x16, row-major, 4 x b32): a[0] = A[g][2c..2c+1],   a[1] = A[g+8][2c..2c+1],
//                                  a[2] = A[g][2c+8..2c+9], a[3] = A[g+8][2c+8..2c+9]
//   B (16x8, "col", 2 x b32):      b[0] = B[2c..2c+1][g],   b[1] = B[2c+8..2c+9][g]
//   C/D (16x8 f32, 4 x f32):       d[0..1] = D[g][2c..2c+1], d[2..3] = D[g+8][2c..2c+1]
//   (frag_c_row / frag_c_col below give the (row, col) of d[r].)
// So two adjacent 16x8 accumulator tiles (columns 0-7 and 8-15 of a 16x16 block), converted to
// 16 bits with pack2, are exactly the A fragment of that 16x16 block: {pack2(d0[0],d0[1]),
// pack2(d0[2],d0[3]), pack2(d1[0],d1[1]), pack2(d1[2],d1[3])} (FA2's "P stays in registers").
//
// ldmatrix.x4 (8x8 16-bit matrices): lanes 8i..8i+7 give the row addresses of matrix i (16 bytes
// each); register r[i] of lane l receives matrix i's row l/4, columns 2(l%4)..+1; with .trans it
// receives matrix i's column l/4, rows 2(l%4)..+1. Hence, for tiles stored row-major in smem:
//   A of a 16x16 block at (r0, k0):      lane address (r0 + l%16, k0 + 8*(l/16)), x4 -> a[0..3].
//   B = X^T with X [n][k] row-major (K in S = Q K^T): lane address (n0 + l%8 + 8*(l/16),
//       k0 + 8*((l/8)%2)), x4 -> {b[0], b[1]} of n-tile n0 and {b[0], b[1]} of n-tile n0+8.
//   B = X with X [k][n] row-major (V in O = P V): .trans, lane address (k0 + l%16, n0 + 8*(l/16)),
//       x4 -> {b[0], b[1]} of n-tile n0 and of n-tile n0+8.
//
// Smem tiles of 16-bit elements whose rows are a multiple of 128 bytes (HS 64, 128) are stored
// swizzled: 16-byte chunk `ch` of row `r` lives at chunk ch ^ (r % 8) of that row. Eight lanes
// reading the same logical chunk of 8 consecutive rows (ldmatrix) then hit 8 distinct bank
// quads, as do 8 lanes writing 16-byte chunks of one row (cp.async).
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

namespace temper::cuda::flash {

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
#define TEMPER_FLASH_MMA_UNSUPPORTED 1  // device bodies trap: the host never picks these kernels
#endif

// ---- addresses, swizzle, fragment coordinates ----

__device__ __forceinline__ uint32_t smem_u32(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// Byte offset of 16-byte chunk `chunk` of row `row` in a swizzled tile with kRowBytes per row
// (kRowBytes a multiple of 128).
template <int kRowBytes>
__device__ __forceinline__ uint32_t swizzle_offset(int row, int chunk) {
  static_assert(kRowBytes % 128 == 0, "swizzled rows must span whole 128-byte lines");
  return static_cast<uint32_t>(row * kRowBytes + ((chunk ^ (row & 7)) << 4));
}

__device__ __forceinline__ int frag_c_row(int lane, int r) { return lane / 4 + 8 * (r / 2); }
__device__ __forceinline__ int frag_c_col(int lane, int r) { return 2 * (lane % 4) + (r % 2); }

// ---- cp.async (global -> shared, 16 bytes, L2 only) ----

// Copies 16 bytes, or writes 16 zero bytes when !valid (nothing is read then, but pass a mapped
// address anyway, e.g. the operand's base). Both addresses 16-byte aligned.
__device__ __forceinline__ void cp_async_16(uint32_t smem_addr, const void* gmem, bool valid) {
#ifndef TEMPER_FLASH_MMA_UNSUPPORTED
  const int src_bytes = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr), "l"(gmem), "r"(src_bytes));
#else
  __trap();
#endif
}

__device__ __forceinline__ void cp_async_commit() {
#ifndef TEMPER_FLASH_MMA_UNSUPPORTED
  asm volatile("cp.async.commit_group;\n" ::);
#endif
}

// Waits until at most kPending of this thread's most recent groups are in flight (all older ones
// complete). Other threads' copies become visible only after a following __syncthreads().
template <int kPending>
__device__ __forceinline__ void cp_async_wait() {
#ifndef TEMPER_FLASH_MMA_UNSUPPORTED
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending) : "memory");
#endif
}

// ---- ldmatrix (shared -> registers, 8x8 16-bit matrices) ----

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], uint32_t smem_addr) {
#ifndef TEMPER_FLASH_MMA_UNSUPPORTED
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr));
#else
  __trap();
#endif
}

__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], uint32_t smem_addr) {
#ifndef TEMPER_FLASH_MMA_UNSUPPORTED
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr));
#else
  __trap();
#endif
}

// x2: lanes 0-15 give the addresses (matrix i from lanes 8i..8i+7); lanes 16-31 ignored.
__device__ __forceinline__ void ldmatrix_x2(uint32_t (&r)[2], uint32_t smem_addr) {
#ifndef TEMPER_FLASH_MMA_UNSUPPORTED
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0, %1}, [%2];\n" : "=r"(r[0]), "=r"(r[1]) : "r"(smem_addr));
#else
  __trap();
#endif
}

__device__ __forceinline__ void ldmatrix_x2_trans(uint32_t (&r)[2], uint32_t smem_addr) {
#ifndef TEMPER_FLASH_MMA_UNSUPPORTED
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0, %1}, [%2];\n"
               : "=r"(r[0]), "=r"(r[1])
               : "r"(smem_addr));
#else
  __trap();
#endif
}

// ---- mma.sync.m16n8k16: d += a * b, f32 accumulators ----

// T = __nv_bfloat16 or __half: the type of the 16-bit A and B elements.
template <class T>
__device__ __forceinline__ void mma_m16n8k16(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1);

template <>
__device__ __forceinline__ void mma_m16n8k16<__nv_bfloat16>(float (&d)[4], const uint32_t (&a)[4], uint32_t b0,
                                                            uint32_t b1) {
#ifndef TEMPER_FLASH_MMA_UNSUPPORTED
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#else
  __trap();
#endif
}

template <>
__device__ __forceinline__ void mma_m16n8k16<__half>(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
#ifndef TEMPER_FLASH_MMA_UNSUPPORTED
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#else
  __trap();
#endif
}

// ---- conversions: two f32 -> one b32 of two 16-bit values (lo in the low half), round to nearest ----

template <class T>
__device__ __forceinline__ uint32_t pack2(float lo, float hi);

template <>
__device__ __forceinline__ uint32_t pack2<__nv_bfloat16>(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&v);
}

template <>
__device__ __forceinline__ uint32_t pack2<__half>(float lo, float hi) {
  const __half2 v = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&v);
}

// The A fragment of a 16x16 block from its two 16x8 f32 accumulator tiles (columns 0-7, 8-15).
template <class T>
__device__ __forceinline__ void acc_to_frag_a(uint32_t (&a)[4], const float (&lo)[4], const float (&hi)[4]) {
  a[0] = pack2<T>(lo[0], lo[1]);
  a[1] = pack2<T>(lo[2], lo[3]);
  a[2] = pack2<T>(hi[0], hi[1]);
  a[3] = pack2<T>(hi[2], hi[3]);
}

// ---- per-row reductions over the 4 lanes of a quad (the lanes holding one accumulator row) ----

__device__ __forceinline__ float quad_max(float v) {
  v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
  return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
}

__device__ __forceinline__ float quad_sum(float v) {
  v += __shfl_xor_sync(0xffffffffu, v, 1);
  return v + __shfl_xor_sync(0xffffffffu, v, 2);
}

// ---- math ----

// 2^x with the hardware approximation (ex2.approx.ftz: ~2 ulp, 2^-inf = +0, subnormals flushed).
__device__ __forceinline__ float exp2_approx(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

constexpr float kLog2e = 1.4426950408889634f;  // log2(e): exp(x) = 2^(x * kLog2e)
constexpr float kLn2 = 0.6931471805599453f;    // ln(2)

}  // namespace temper::cuda::flash
