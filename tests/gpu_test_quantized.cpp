// GPU tests of QLoRA's quantized base weights (kernels/quantized_matmul.h), for every type CUDA keeps
// quantized, on random valid weights (random bits with finite f16 scales in +-[1e-3, 1]):
// - CUDA dequantize to f32 equals ggml's CPU dequantize_row bit for bit; to bf16 / f16 it equals
//   those values rounded to nearest even; also with a misaligned output and blocks at an odd address;
// - quantized_matmul and quantized_matmul_dx (f32 and bf16 activations, bias and beta = 1, or neither)
//   agree with the CPU path to 1e-4 (f32) or 2e-2 (bf16) of max(1, max|ref|), as gpu_test_ops.cpp;
// - types without a CUDA kernel (Q2_K, Q3_K) are refused with an error naming the type.
// Every test skips without a CUDA device.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/ggml_types.h"
#include "kernels/quantized_matmul.h"
#include "runtime/device_memory.h"
#include "runtime/tensor.h"

namespace temper {
namespace {

#define SKIP_WITHOUT_GPU() \
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device"

constexpr GgmlType kCudaTypes[] = {GgmlType::F32,  GgmlType::F16,  GgmlType::BF16, GgmlType::Q4_0,
                                   GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::Q8_0,
                                   GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K};
constexpr DType kOutDtypes[] = {DType::F32, DType::BF16, DType::F16};
constexpr DType kActDtypes[] = {DType::F32, DType::BF16};

// ---- random weights ----

// Byte offsets of a block's f16 scale fields (d, and m or dmin); the other bytes may hold any bits.
std::vector<int> scale_fields(GgmlType t) {
  switch (t) {
    case GgmlType::Q4_0:
    case GgmlType::Q5_0:
    case GgmlType::Q8_0:
      return {0};
    case GgmlType::Q4_1:
    case GgmlType::Q5_1:
    case GgmlType::Q4_K:
    case GgmlType::Q5_K:
      return {0, 2};
    case GgmlType::Q6_K:
      return {208};
    case GgmlType::Q2_K:
      return {80, 82};
    case GgmlType::Q3_K:
      return {108};
    default:
      return {};
  }
}

float random_signed(std::mt19937& rng, float lo, float hi) {
  const float v = std::uniform_real_distribution<float>(lo, hi)(rng);
  return (rng() & 1u) ? -v : v;
}

void put_u16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }

// Plain types: one finite value per element, a few of them tiny (f16 subnormals, for F16).
void fill_plain(GgmlType t, std::vector<uint8_t>& bytes, std::mt19937& rng) {
  const size_t size = ggml_type_traits(t).type_size;
  for (size_t i = 0; i < bytes.size(); i += size) {
    const float v = random_signed(rng, 0.f, 2.f) * ((rng() % 16 == 0) ? 1e-6f : 1.f);
    if (t == GgmlType::F32) std::memcpy(&bytes[i], &v, 4);
    if (t == GgmlType::F16) put_u16(&bytes[i], f32_to_f16(v));
    if (t == GgmlType::BF16) put_u16(&bytes[i], f32_to_bf16(v));
  }
}

std::vector<uint8_t> random_weight_bytes(GgmlType t, int64_t out, int64_t in, std::mt19937& rng) {
  const GgmlTypeTraits& tr = ggml_type_traits(t);
  std::vector<uint8_t> bytes(static_cast<size_t>(out * (in / tr.block_size) * tr.type_size));
  if (tr.block_size == 1) {
    fill_plain(t, bytes, rng);
    return bytes;
  }
  for (uint8_t& b : bytes) b = static_cast<uint8_t>(rng());
  for (size_t blk = 0; blk < bytes.size(); blk += tr.type_size)
    for (int off : scale_fields(t)) put_u16(&bytes[blk + off], f32_to_f16(random_signed(rng, 1e-3f, 1.f)));
  return bytes;
}

// ggml's CPU dequantization of the whole weight, row by row.
std::vector<float> cpu_dequantized(GgmlType t, int64_t out, int64_t in, const std::vector<uint8_t>& bytes) {
  const GgmlTypeTraits& tr = ggml_type_traits(t);
  const int64_t row_bytes = in / tr.block_size * tr.type_size;
  std::vector<float> w(static_cast<size_t>(out * in));
  for (int64_t o = 0; o < out; ++o) dequantize_row(t, bytes.data() + o * row_bytes, in, w.data() + o * in);
  return w;
}

struct WeightShape {
  int64_t out, in;
};

// Several rows, row counts that fill no tile, one block per row, and a larger weight.
std::vector<WeightShape> shapes_for(GgmlType t) {
  switch (ggml_type_traits(t).block_size) {
    case 1:
      return {{1, 1}, {5, 7}, {37, 64}, {3, 1001}, {257, 1024}};
    case 32:
      return {{1, 32}, {37, 64}, {5, 96}, {64, 576}, {257, 1024}};
    default:
      return {{1, 256}, {37, 512}, {3, 1536}, {257, 1024}};
  }
}

// ---- device buffers ----

// A CUDA tensor of `numel + skip` elements of dt, every byte 0xff (NaN in f32, bf16 and f16), viewed
// from element `skip` as `shape`: anything the kernel fails to write stays NaN.
Tensor nan_filled_cuda(const Shape& shape, DType dt, int64_t skip) {
  Tensor host = Tensor::empty({shape_numel(shape) + skip}, dt);
  std::memset(host.raw(), 0xff, host.nbytes());
  return host.to(Device::Cuda).slice_flat(skip, shape);
}

// The weight's blocks on the device starting one byte past a 256-byte aligned allocation.
QuantizedWeight odd_address_weight(GgmlType t, int64_t out, int64_t in, const std::vector<uint8_t>& bytes) {
  QuantizedWeight q;
  q.type = t;
  q.out = out;
  q.in = in;
  Tensor host = Tensor::empty({static_cast<int64_t>(bytes.size()) + 1}, DType::U8);
  std::memcpy(static_cast<uint8_t*>(host.raw()) + 1, bytes.data(), bytes.size());
  q.blocks = host.to(Device::Cuda).slice_flat(1, {static_cast<int64_t>(bytes.size())});
  return q;
}

// The bits dt stores for the f32 value v (bf16 / f16: rounded to nearest even).
uint32_t expected_bits(float v, DType dt) {
  if (dt == DType::BF16) return f32_to_bf16(v);
  if (dt == DType::F16) return f32_to_f16(v);
  uint32_t u;
  std::memcpy(&u, &v, 4);
  return u;
}

uint32_t stored_bits(const Tensor& host, int64_t i) {
  const uint8_t* p = static_cast<const uint8_t*>(host.raw());
  uint32_t u = 0;
  std::memcpy(&u, p + i * static_cast<int64_t>(dtype_size(host.dtype())), dtype_size(host.dtype()));
  return u;
}

// The CUDA output equals the CPU f32 values stored in its dtype, bit for bit.
void expect_bits(const Tensor& d_w, const std::vector<float>& ref, const std::string& what) {
  const Tensor h = d_w.to(Device::Cpu);
  ASSERT_EQ(h.numel(), static_cast<int64_t>(ref.size())) << what;
  int64_t bad = 0, first = -1;
  for (int64_t i = 0; i < h.numel(); ++i)
    if (stored_bits(h, i) != expected_bits(ref[static_cast<size_t>(i)], h.dtype()) && bad++ == 0) first = i;
  if (bad > 0)
    ADD_FAILURE() << what << ": " << bad << " of " << ref.size() << " elements differ; first [" << first
                  << "] has bits 0x" << std::hex << stored_bits(h, first) << ", expected 0x"
                  << expected_bits(ref[static_cast<size_t>(first)], h.dtype()) << std::dec << " (f32 value "
                  << ref[static_cast<size_t>(first)] << ")";
}

// ---- activations and comparisons (as gpu_test_ops.cpp) ----

// Host f32 values in [-1, 1], rounded through bf16 for a bf16 run so both sides see the same inputs.
Tensor input(const Shape& shape, std::mt19937& rng, DType dt) {
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
  for (float& x : v) x = dt == DType::BF16 ? bf16_to_f32(f32_to_bf16(dist(rng))) : dist(rng);
  return Tensor::from_f32(v, shape);
}

Tensor to_device(const Tensor& host, DType dt) {
  if (dt == DType::F32) return host.to(Device::Cuda);
  Tensor out = Tensor::empty(host.shape(), dt);
  for (int64_t i = 0; i < host.numel(); ++i) out.data<uint16_t>()[i] = f32_to_bf16(host.data<float>()[i]);
  return out.to(Device::Cuda);
}

// |got - ref| <= tol * max(1, max|ref|) (+ 1e-5 |ref| for f32), tol = 1e-4 for f32, 2e-2 for bf16.
void expect_close(const Tensor& got_t, const Tensor& ref_t, const std::string& what) {
  ASSERT_EQ(got_t.numel(), ref_t.numel()) << what;
  const bool f32 = got_t.dtype() == DType::F32;
  const double abs_tol = f32 ? 1e-4 : 2e-2, rel_tol = f32 ? 1e-5 : 0.0;
  const std::vector<float> got = got_t.to_vector(), ref = ref_t.to_vector();
  double scale = 1.0;
  for (float r : ref) scale = std::max(scale, static_cast<double>(std::fabs(r)));
  int64_t bad = 0;
  size_t worst = 0;
  double worst_ratio = -1.0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double err = std::fabs(static_cast<double>(got[i]) - ref[i]);
    const double ratio = std::isfinite(got[i]) ? err / (abs_tol * scale + rel_tol * std::fabs(ref[i])) : INFINITY;
    if (ratio > 1.0) ++bad;
    if (ratio > worst_ratio) {
      worst_ratio = ratio;
      worst = i;
    }
  }
  if (bad > 0)
    ADD_FAILURE() << what << ": " << bad << " of " << ref.size() << " elements off; worst [" << worst << "] got "
                  << got[worst] << " ref " << ref[worst] << " (scale " << scale << ")";
}

std::string case_name(GgmlType t, const WeightShape& s, DType dt) {
  return fmt::format("{} [{}, {}] -> {}", ggml_type_name(t), s.out, s.in, dtype_name(dt));
}

// ---- dequantize ----

TEST(GpuQuantized, DequantizeEqualsCpuBitForBit) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(31);
  for (GgmlType t : kCudaTypes)
    for (const WeightShape& s : shapes_for(t)) {
      const std::vector<uint8_t> bytes = random_weight_bytes(t, s.out, s.in, rng);
      const std::vector<float> ref = cpu_dequantized(t, s.out, s.in, bytes);
      const QuantizedWeight q = make_quantized_weight(t, s.out, s.in, bytes, Device::Cuda);
      const QuantizedWeight q_odd = odd_address_weight(t, s.out, s.in, bytes);
      for (DType dt : kOutDtypes) {
        const Tensor w = nan_filled_cuda({s.out, s.in}, dt, 0);
        ops::dequantize(w, q);
        expect_bits(w, ref, case_name(t, s, dt));
        // Output one element past an aligned address (no vector stores), blocks at an odd address.
        const Tensor w_odd = nan_filled_cuda({s.out, s.in}, dt, 1);
        ops::dequantize(w_odd, q_odd);
        expect_bits(w_odd, ref, case_name(t, s, dt) + " misaligned");
      }
    }
}

// The CPU dequantize op (the matmuls' reference) gives the same values as dequantize_row.
TEST(GpuQuantized, DequantizeOpMatchesOnBothDevices) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(32);
  for (GgmlType t : kCudaTypes) {
    const WeightShape s = shapes_for(t)[1];
    const std::vector<uint8_t> bytes = random_weight_bytes(t, s.out, s.in, rng);
    const QuantizedWeight q_cpu = make_quantized_weight(t, s.out, s.in, bytes, Device::Cpu);
    const QuantizedWeight q_gpu = make_quantized_weight(t, s.out, s.in, bytes, Device::Cuda);
    for (DType dt : kOutDtypes) {
      const Tensor w_cpu = Tensor::empty({s.out, s.in}, dt), w_gpu = nan_filled_cuda({s.out, s.in}, dt, 0);
      ops::dequantize(w_cpu, q_cpu);
      ops::dequantize(w_gpu, q_gpu);
      const Tensor h = w_gpu.to(Device::Cpu);
      EXPECT_EQ(std::memcmp(h.raw(), w_cpu.raw(), h.nbytes()), 0) << case_name(t, s, dt);
    }
  }
}

// ---- quantized matmuls ----

struct MatmulCase {
  bool bias;   // with bias (forward only) and beta = 1; otherwise neither
  Shape lead;  // leading dimensions of x / y (N = their product)
};
const MatmulCase kMatmulCases[] = {{true, {3}}, {true, {2, 5}}, {false, {7}}};

WeightShape matmul_shape(GgmlType t) {
  return ggml_type_traits(t).block_size == 256 ? WeightShape{37, 512} : WeightShape{37, 64};
}

Shape with_last(Shape lead, int64_t last) {
  lead.push_back(last);
  return lead;
}

void check_forward(GgmlType t, const QuantizedWeight& q_cpu, const QuantizedWeight& q_gpu, DType dt,
                   const MatmulCase& mc, std::mt19937& rng) {
  const Tensor x = input(with_last(mc.lead, q_cpu.in), rng, dt), y0 = input(with_last(mc.lead, q_cpu.out), rng, dt);
  const Tensor bias = input({q_cpu.out}, rng, dt);
  const float beta = mc.bias ? 1.f : 0.f;
  const Tensor y = y0.clone();
  ops::quantized_matmul(y, x, q_cpu, mc.bias ? &bias : nullptr, beta);
  const Tensor d_y = to_device(y0, dt), d_bias = to_device(bias, dt);
  ops::quantized_matmul(d_y, to_device(x, dt), q_gpu, mc.bias ? &d_bias : nullptr, beta);
  expect_close(d_y, y,
               fmt::format("quantized_matmul {} x {} {} bias={}", ggml_type_name(t), shape_str(x.shape()),
                           dtype_name(dt), mc.bias));
}

void check_dx(GgmlType t, const QuantizedWeight& q_cpu, const QuantizedWeight& q_gpu, DType dt, const MatmulCase& mc,
              std::mt19937& rng) {
  const Tensor dy = input(with_last(mc.lead, q_cpu.out), rng, dt), dx0 = input(with_last(mc.lead, q_cpu.in), rng, dt);
  const float beta = mc.bias ? 1.f : 0.f;
  const Tensor dx = dx0.clone();
  ops::quantized_matmul_dx(dx, dy, q_cpu, beta);
  const Tensor d_dx = to_device(dx0, dt);
  ops::quantized_matmul_dx(d_dx, to_device(dy, dt), q_gpu, beta);
  expect_close(d_dx, dx,
               fmt::format("quantized_matmul_dx {} dy {} {} beta={}", ggml_type_name(t), shape_str(dy.shape()),
                           dtype_name(dt), beta));
}

TEST(GpuQuantized, QuantizedMatmulsMatchCpu) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(33);
  for (GgmlType t : kCudaTypes) {
    const WeightShape s = matmul_shape(t);
    const std::vector<uint8_t> bytes = random_weight_bytes(t, s.out, s.in, rng);
    const QuantizedWeight q_cpu = make_quantized_weight(t, s.out, s.in, bytes, Device::Cpu);
    const QuantizedWeight q_gpu = make_quantized_weight(t, s.out, s.in, bytes, Device::Cuda);
    for (DType dt : kActDtypes)
      for (const MatmulCase& mc : kMatmulCases) {
        check_forward(t, q_cpu, q_gpu, dt, mc, rng);
        check_dx(t, q_cpu, q_gpu, dt, mc, rng);
      }
  }
}

// ---- refusals ----

// Throws temper::Error whose message names `needle`.
template <class F>
void expect_error_naming(F&& f, const std::string& needle, const std::string& what) {
  try {
    f();
    ADD_FAILURE() << what << ": no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << what << ": " << e.what();
  }
}

TEST(GpuQuantized, UnsupportedTypesAreRefused) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(34);
  for (GgmlType t : {GgmlType::Q2_K, GgmlType::Q3_K}) {
    const std::string name = ggml_type_name(t);
    EXPECT_FALSE(quantized_weight_supported(t, Device::Cuda)) << name;
    const std::vector<uint8_t> bytes = random_weight_bytes(t, 4, 256, rng);
    EXPECT_THROW(make_quantized_weight(t, 4, 256, bytes, Device::Cuda), Error) << name;
    // A weight put together by hand still reaches no kernel.
    const QuantizedWeight q = odd_address_weight(t, 4, 256, bytes);
    const Tensor w = nan_filled_cuda({4, 256}, DType::BF16, 0);
    expect_error_naming([&] { ops::dequantize(w, q); }, name, "dequantize " + name);
    const Tensor x = to_device(input({3, 256}, rng, DType::BF16), DType::BF16);
    const Tensor y = Tensor::empty({3, 4}, DType::BF16, Device::Cuda);
    expect_error_naming([&] { ops::quantized_matmul(y, x, q, nullptr, 0.f); }, name, "quantized_matmul " + name);
  }
}

TEST(GpuQuantized, BadOutputsAreRefused) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(35);
  const std::vector<uint8_t> bytes = random_weight_bytes(GgmlType::Q4_1, 4, 64, rng);
  const QuantizedWeight q = make_quantized_weight(GgmlType::Q4_1, 4, 64, bytes, Device::Cuda);
  EXPECT_THROW(ops::dequantize(Tensor::empty({4, 64}, DType::I32, Device::Cuda), q), Error);
  EXPECT_THROW(ops::dequantize(Tensor::empty({4, 32}, DType::F32, Device::Cuda), q), Error);
  EXPECT_THROW(ops::dequantize(Tensor::empty({64, 4}, DType::F32, Device::Cuda), q), Error);
}

}  // namespace
}  // namespace temper
