// quantize_row() against the `gguf` Python package: the same bytes as gguf.quants.quantize for every
// quantizable type on awkward, random and special inputs (tests/fixtures/quant/quant.safetensors, from
// tools/make_quant_fixture.py); the round trip through dequantize_row() within each type's error bound;
// the list of quantizable types; and the errors for unsupported types and partial blocks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "kernels/ggml_types.h"
#include "models/io/safetensors.h"
#include "runtime/dtype.h"
#include "runtime/error.h"
#include "test_util.h"

namespace temper {
namespace {

using test::fixture;

const std::vector<GgmlType> kQuantizable = {GgmlType::F32,  GgmlType::F16,  GgmlType::BF16, GgmlType::Q4_0,
                                            GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::Q8_0};

// The raw bytes of one tensor of the fixture (the quantized ones are U8, which load() does not take).
std::vector<uint8_t> raw_bytes(const SafetensorsFile& f, const std::string& name) {
  const TensorInfo& info = f.info(name);
  std::vector<uint8_t> out(info.nbytes());
  std::ifstream in(f.path(), std::ios::binary);
  in.seekg(static_cast<std::streamoff>(f.data_offset() + info.begin));
  in.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(out.size()));
  EXPECT_TRUE(in.good()) << name;
  return out;
}

std::vector<float> raw_floats(const SafetensorsFile& f, const std::string& name) {
  EXPECT_EQ(f.info(name).dtype, "F32");
  const std::vector<uint8_t> b = raw_bytes(f, name);
  std::vector<float> out(b.size() / 4);
  std::memcpy(out.data(), b.data(), b.size());
  return out;
}

std::vector<uint8_t> quantize(GgmlType t, const std::vector<float>& x) {
  const GgmlTypeTraits& tr = ggml_type_traits(t);
  std::vector<uint8_t> out(x.size() / tr.block_size * tr.type_size);
  quantize_row(t, x.data(), static_cast<int64_t>(x.size()), out.data());
  return out;
}

std::vector<float> round_trip(GgmlType t, const std::vector<float>& x) {
  const std::vector<uint8_t> q = quantize(t, x);
  std::vector<float> y(x.size());
  dequantize_row(t, q.data(), static_cast<int64_t>(y.size()), y.data());
  return y;
}

const SafetensorsFile& quant_fixture() {
  static const SafetensorsFile f = SafetensorsFile::open(fixture("quant/quant.safetensors"));
  return f;
}

TEST(GgmlQuantize, QuantizableTypes) {
  std::set<std::string> quantizable;
  for (uint32_t id = 0; id < 64; ++id)
    if (const GgmlTypeTraits* tr = ggml_type_traits(id); tr && ggml_quantizable(tr->type)) quantizable.insert(tr->name);
  EXPECT_EQ(quantizable, (std::set<std::string>{"F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0"}));
}

// Every (input, type) pair of the fixture: identical bytes; the first difference is reported with its block.
TEST(GgmlQuantize, BitExactWithGgufPackage) {
  const SafetensorsFile& f = quant_fixture();
  int compared = 0;
  for (const std::string src : {"input", "random", "special"}) {
    const std::vector<float> x = raw_floats(f, src);
    for (const GgmlType t : kQuantizable) {
      const std::string name = src + "." + ggml_type_name(t);
      if (!f.contains(name)) continue;
      SCOPED_TRACE(name);
      const std::vector<uint8_t> want = raw_bytes(f, name);
      const std::vector<uint8_t> got = quantize(t, x);
      ASSERT_EQ(got.size(), want.size());
      const auto diff = std::mismatch(got.begin(), got.end(), want.begin());
      if (diff.first != got.end()) {
        const size_t at = static_cast<size_t>(diff.first - got.begin());
        const size_t block = ggml_type_traits(t).type_size;
        ADD_FAILURE() << "byte " << at << " (block " << at / block << ", offset " << at % block << "): got 0x"
                      << std::hex << int(*diff.first) << ", gguf wrote 0x" << int(*diff.second);
      }
      ++compared;
    }
  }
  EXPECT_EQ(compared, 2 * 8 + 3);  // input and random: every type; special: F32 F16 BF16
}

// Largest |x - dequantize(quantize(x))| allowed in one 32-element block. Each bound is the rounding step
// of the quants (half a step; a whole one for the symmetric types, whose level +2^(bits-1) is clipped)
// plus the largest quant times the error of storing the scale (and min) as f16, plus f32 slack.
double block_bound(GgmlType t, const float* x, const uint8_t* b) {
  double mn = x[0], mx = x[0], amax = 0;
  for (int j = 0; j < 32; ++j) {
    mn = std::min(mn, double(x[j]));
    mx = std::max(mx, double(x[j]));
    amax = std::max(amax, std::abs(double(x[j])));
  }
  const double d16 = f16_to_f32(static_cast<uint16_t>(b[0] | (b[1] << 8)));
  const double slack = 1e-6 * amax;
  auto affine = [&](double levels) {
    const double d = (mx - mn) / levels;
    const double m16 = f16_to_f32(static_cast<uint16_t>(b[2] | (b[3] << 8)));
    return 0.5 * d + levels * std::abs(d - d16) + std::abs(mn - m16) + slack;
  };
  switch (t) {
    case GgmlType::Q4_0:
      return amax / 8 + 8 * std::abs(amax / 8 - std::abs(d16)) + slack;
    case GgmlType::Q5_0:
      return amax / 16 + 16 * std::abs(amax / 16 - std::abs(d16)) + slack;
    case GgmlType::Q8_0:
      return 0.5 * amax / 127 + 127 * std::abs(amax / 127 - d16) + slack;
    case GgmlType::Q4_1:
      return affine(15);
    case GgmlType::Q5_1:
      return affine(31);
    default:
      return 0;
  }
}

// Plain types: f16 keeps 11 significant bits (subnormal step 2^-24, overflow to inf), bf16 keeps 8.
void expect_plain_close(GgmlType t, float x, float y, size_t i) {
  if (t == GgmlType::F32) {
    EXPECT_EQ(std::memcmp(&x, &y, 4), 0) << "element " << i;
  } else if (t == GgmlType::F16 && std::abs(x) >= 65520.f) {
    EXPECT_TRUE(std::isinf(y) && std::signbit(x) == std::signbit(y)) << "element " << i << ": " << x << " -> " << y;
  } else {
    const double tol =
        t == GgmlType::F16 ? std::ldexp(std::abs(x), -11) + std::ldexp(1.0, -25) : std::ldexp(std::abs(x), -8) + 1e-40;
    EXPECT_LE(std::abs(double(x) - y), tol) << ggml_type_name(t) << " element " << i << ": " << x << " -> " << y;
  }
}

TEST(GgmlQuantize, RoundTripWithinTypeError) {
  const SafetensorsFile& f = quant_fixture();
  for (const std::string src : {"input", "random"}) {
    const std::vector<float> x = raw_floats(f, src);
    for (const GgmlType t : kQuantizable) {
      SCOPED_TRACE(src + "." + ggml_type_name(t));
      const std::vector<float> y = round_trip(t, x);
      if (ggml_type_traits(t).block_size == 1) {
        for (size_t i = 0; i < x.size(); ++i) expect_plain_close(t, x[i], y[i], i);
        continue;
      }
      const std::vector<uint8_t> q = quantize(t, x);
      const size_t type_size = ggml_type_traits(t).type_size;
      for (size_t blk = 0; blk < x.size() / 32; ++blk) {
        const double bound = block_bound(t, &x[blk * 32], &q[blk * type_size]);
        double err = 0;
        for (size_t j = blk * 32; j < blk * 32 + 32; ++j) err = std::max(err, std::abs(double(x[j]) - y[j]));
        EXPECT_LE(err, bound) << "block " << blk;
      }
    }
  }
}

// A few blocks spelled out, independent of the fixture: the package's quirks that ggml shares.
TEST(GgmlQuantize, KnownBlocks) {
  // All zeros, Q4_0: d = 0 / -8 = -0 (f16 0x8000), id = 0, every quant 0 + 8.5 -> 8.
  std::vector<uint8_t> q = quantize(GgmlType::Q4_0, std::vector<float>(32, 0.f));
  EXPECT_EQ(q[0], 0x00);
  EXPECT_EQ(q[1], 0x80);
  for (int j = 2; j < 18; ++j) EXPECT_EQ(q[j], 0x88) << j;
  // Q8_0 with d = 127 / 127 = 1: ties round half away from zero, not to even.
  std::vector<float> x(32, 0.f);
  x[0] = 127.f, x[1] = 0.5f, x[2] = -0.5f, x[3] = 2.5f, x[4] = -2.5f, x[5] = 126.5f;
  q = quantize(GgmlType::Q8_0, x);
  EXPECT_EQ(q[0] | (q[1] << 8), 0x3c00);  // f16 1.0
  const int8_t want[] = {127, 1, -1, 3, -3, 127};
  for (int j = 0; j < 6; ++j) EXPECT_EQ(static_cast<int8_t>(q[2 + j]), want[j]) << j;
  // Q4_0 with max = -8 (d = 1): x + 8.5 truncated, so 0.5 -> 9 and -0.5 -> 8; +8 clips to 15.
  std::fill(x.begin(), x.end(), 0.f);
  x[0] = -8.f, x[1] = 0.5f, x[2] = -0.5f, x[16] = 8.f;
  q = quantize(GgmlType::Q4_0, x);
  EXPECT_EQ(q[0] | (q[1] << 8), 0x3c00);
  EXPECT_EQ(q[2], 0xf0);  // element 0 -> 0, element 16 -> 15
  EXPECT_EQ(q[3], 0x89);
  EXPECT_EQ(q[4], 0x88);
}

TEST(GgmlQuantize, RejectsUnsupportedTypesAndPartialBlocks) {
  std::vector<float> x(512, 1.f);
  std::vector<uint8_t> out(4096);
  for (const GgmlType t : {GgmlType::Q8_1, GgmlType::Q2_K, GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::Q8_K,
                           GgmlType::IQ4_NL, GgmlType::I32, GgmlType::F64, GgmlType::MXFP4}) {
    EXPECT_FALSE(ggml_quantizable(t)) << ggml_type_name(t);
    EXPECT_THROW(quantize_row(t, x.data(), 256, out.data()), Error) << ggml_type_name(t);
  }
  EXPECT_THROW(quantize_row(static_cast<GgmlType>(4), x.data(), 32, out.data()), Error);  // not a type
  EXPECT_THROW(quantize_row(GgmlType::Q4_0, x.data(), 33, out.data()), Error);
  EXPECT_THROW(quantize_row(GgmlType::Q8_0, x.data(), 16, out.data()), Error);
  EXPECT_THROW(quantize_row(GgmlType::Q5_1, x.data(), -32, out.data()), Error);
  EXPECT_THROW(quantize_row(GgmlType::F16, x.data(), -1, out.data()), Error);
  // Empty rows are fine and write nothing; plain types take any length.
  std::fill(out.begin(), out.end(), 0xab);
  quantize_row(GgmlType::Q4_0, x.data(), 0, out.data());
  EXPECT_EQ(out[0], 0xab);
  quantize_row(GgmlType::BF16, x.data(), 3, out.data());
  EXPECT_EQ(out[5], 0x3f);
  EXPECT_EQ(out[6], 0xab);
}

}  // namespace
}  // namespace temper
