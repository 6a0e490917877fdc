// safetensors reader/writer and JSON file helpers: round trips per dtype, compatibility with files the
// Python `safetensors` library wrote (tests/fixtures/safetensors, from tools/make_safetensors_fixture.py),
// and one test per kind of corrupt file: each must be an InputError naming the file and the field.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "models/io/json_file.h"
#include "models/io/safetensors.h"
#include "runtime/device_memory.h"

namespace temper {
namespace {

namespace fs = std::filesystem;

uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           fmt::format("temper_st_{}_{}_{}", getpid(), info->test_suite_name(), info->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string file(const std::string& name) const { return (dir_ / name).string(); }

  // Writes raw bytes as a file and returns its path.
  std::string write_bytes(const std::string& bytes, const std::string& name = "bad.safetensors") const {
    const std::string path = file(name);
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }

  // A safetensors file from its parts: `header_len` (u64 LE) | header | data.
  std::string write_raw(uint64_t header_len, const std::string& header, const std::string& data) const {
    std::string bytes(8, '\0');
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>(header_len >> (8 * i));
    return write_bytes(bytes + header + data);
  }
  std::string write_raw(const std::string& header, const std::string& data) const {
    return write_raw(header.size(), header, data);
  }

  fs::path dir_;
};

// open() must throw an InputError for `path` whose field is `field` and whose message names both
// (and contains `part` when given).
void expect_open_error(const std::string& path, const std::string& field, const std::string& part = "") {
  try {
    SafetensorsFile::open(path);
    ADD_FAILURE() << "open succeeded; expected an error on field " << field;
  } catch (const InputError& e) {
    const std::string what = e.what();
    EXPECT_EQ(e.file(), path) << what;
    EXPECT_EQ(e.field(), field) << what;
    EXPECT_NE(what.find(path), std::string::npos) << what;
    EXPECT_NE(what.find(field), std::string::npos) << what;
    if (!part.empty()) EXPECT_NE(what.find(part), std::string::npos) << what;
  }
}

const std::string kZeros4(4, '\0');

// ---------------------------------------------------------------- round trips

TEST_F(SafetensorsTest, RoundTripF32IsBitExact) {
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> v = {0.f,  -0.f,          1.f / 3.f, -1e-40f, 3.4e38f, inf,
                                -inf, std::nanf(""), 1e-45f,    42.f,    -7.5f,   1e-3f};
  const std::string path = file("a.safetensors");
  save_safetensors(path, {{"w", Tensor::from_f32(v, {3, 4})}, {"b", Tensor::from_f32({1.f, 2.f}, {2})}}, DType::F32);
  const SafetensorsFile f = SafetensorsFile::open(path);
  EXPECT_EQ(f.names(), (std::vector<std::string>{"w", "b"}));  // file order
  EXPECT_EQ(f.info("w").dtype, "F32");
  EXPECT_EQ(f.info("w").shape, (Shape{3, 4}));
  EXPECT_EQ(f.info("w").begin, 0u);
  EXPECT_EQ(f.info("w").end, 48u);
  const Tensor w = f.load("w");
  ASSERT_EQ(w.dtype(), DType::F32);
  ASSERT_EQ(w.shape(), (Shape{3, 4}));
  for (size_t i = 0; i < v.size(); ++i) EXPECT_EQ(bits_of(w.data<float>()[i]), bits_of(v[i])) << i;
  EXPECT_EQ(f.load("b").to_vector(), (std::vector<float>{1.f, 2.f}));
  EXPECT_FALSE(fs::exists(path + ".tmp"));
}

TEST_F(SafetensorsTest, RoundTripF16RoundsOnceToNearestEven) {
  const std::vector<float> v = {0.1f, -2.5f, 65504.f, 70000.f, 1e-7f, 3.14159f, 1.f + 1.f / 2048.f, -0.f};
  const std::string path = file("h.safetensors");
  save_safetensors(path, {{"x", Tensor::from_f32(v, {8})}}, DType::F16);
  const SafetensorsFile f = SafetensorsFile::open(path);
  EXPECT_EQ(f.info("x").dtype, "F16");
  EXPECT_EQ(f.info("x").nbytes(), 16u);
  const Tensor as_f32 = f.load("x");
  const Tensor as_f16 = f.load("x", DType::F16);
  ASSERT_EQ(as_f16.dtype(), DType::F16);
  for (size_t i = 0; i < v.size(); ++i) {
    EXPECT_EQ(as_f16.data<uint16_t>()[i], f32_to_f16(v[i])) << i;
    EXPECT_EQ(bits_of(as_f32.data<float>()[i]), bits_of(f16_to_f32(f32_to_f16(v[i])))) << i;
  }
  EXPECT_EQ(as_f32.data<float>()[0], 0.0999755859375f);
  EXPECT_TRUE(std::isinf(as_f32.data<float>()[3]));  // beyond the f16 range
}

TEST_F(SafetensorsTest, RoundTripBF16RoundsOnceToNearestEven) {
  const std::vector<float> v = {1.f / 3.f, -3.14159f, 1e30f, 1.f + 1.f / 256.f, 1.f + 3.f / 256.f, -0.f};
  const std::string path = file("b.safetensors");
  save_safetensors(path, {{"x", Tensor::from_f32(v, {2, 3})}}, DType::BF16);
  const SafetensorsFile f = SafetensorsFile::open(path);
  EXPECT_EQ(f.info("x").dtype, "BF16");
  const Tensor as_bf16 = f.load("x", DType::BF16);
  const Tensor as_f32 = f.load("x");
  const Tensor as_f16 = f.load("x", DType::F16);  // bf16 -> f32 -> f16
  for (size_t i = 0; i < v.size(); ++i) {
    EXPECT_EQ(as_bf16.data<uint16_t>()[i], f32_to_bf16(v[i])) << i;
    EXPECT_EQ(as_f32.data<float>()[i], bf16_to_f32(f32_to_bf16(v[i]))) << i;
    EXPECT_EQ(as_f16.data<uint16_t>()[i], f32_to_f16(bf16_to_f32(f32_to_bf16(v[i])))) << i;
  }
  EXPECT_EQ(as_f32.data<float>()[3], 1.f);                 // tie rounds to even
  EXPECT_EQ(as_f32.data<float>()[4], 1.f + 4.f / 256.f);  // tie rounds to even (up)
}

TEST_F(SafetensorsTest, LoadConvertsF32FileToHalfTargets) {
  const std::vector<float> v = {0.1f, -1.7f, 300.25f};
  const std::string path = file("c.safetensors");
  save_safetensors(path, {{"x", Tensor::from_f32(v, {3})}}, DType::F32);
  const SafetensorsFile f = SafetensorsFile::open(path);
  const Tensor bf = f.load("x", DType::BF16), h = f.load("x", DType::F16);
  for (size_t i = 0; i < v.size(); ++i) {
    EXPECT_EQ(bf.data<uint16_t>()[i], f32_to_bf16(v[i]));
    EXPECT_EQ(h.data<uint16_t>()[i], f32_to_f16(v[i]));
  }
}

TEST_F(SafetensorsTest, MetadataRoundTrip) {
  const std::map<std::string, std::string> meta = {
      {"format", "pt"}, {"empty", ""}, {"quote\"and\\slash", "line\nbreak"}, {"unicode", "h\xc3\xa9llo \xe2\x9c\x93"}};
  const std::string path = file("m.safetensors");
  save_safetensors(path, {{"x", Tensor::from_f32({1.f}, {1})}}, DType::F32, meta);
  EXPECT_EQ(SafetensorsFile::open(path).metadata(), meta);
  save_safetensors(path, {{"x", Tensor::from_f32({1.f}, {1})}}, DType::F32);  // overwrite, no metadata
  EXPECT_TRUE(SafetensorsFile::open(path).metadata().empty());
}

TEST_F(SafetensorsTest, EmptyAndScalarTensors) {
  const std::string path = file("e.safetensors");
  save_safetensors(path,
                   {{"empty", Tensor::empty({0}, DType::F32)},
                    {"scalar", Tensor::from_f32({2.75f}, {})},
                    {"empty2d", Tensor::empty({2, 0}, DType::F32)}},
                   DType::BF16);
  const SafetensorsFile f = SafetensorsFile::open(path);
  EXPECT_EQ(f.names(), (std::vector<std::string>{"empty", "scalar", "empty2d"}));
  EXPECT_EQ(f.info("empty").shape, (Shape{0}));
  EXPECT_EQ(f.info("empty").begin, 0u);
  EXPECT_EQ(f.info("empty").end, 0u);
  EXPECT_EQ(f.info("scalar").shape, Shape{});
  EXPECT_EQ(f.info("scalar").nbytes(), 2u);
  EXPECT_EQ(f.info("empty2d").begin, 2u);
  EXPECT_EQ(f.load("empty").numel(), 0);
  EXPECT_EQ(f.load("empty2d").shape(), (Shape{2, 0}));
  const Tensor s = f.load("scalar");
  EXPECT_EQ(s.ndim(), 0);
  EXPECT_EQ(s.to_vector(), (std::vector<float>{2.75f}));
}

TEST_F(SafetensorsTest, EmptyFileHasNoTensors) {
  const std::string path = file("none.safetensors");
  save_safetensors(path, {}, DType::F32);
  EXPECT_TRUE(SafetensorsFile::open(path).names().empty());
  EXPECT_EQ(slurp(path).substr(8, 2), "{}");
}

TEST_F(SafetensorsTest, IntegerTensorsKeepTheirDtype) {
  const std::string path = file("i.safetensors");
  const Tensor ids = Tensor::from_i32({0, -1, 7, 2147483647}, {4});
  save_safetensors(path, {{"ids", ids}, {"w", Tensor::from_f32({1.5f}, {1})}}, DType::F16);
  const SafetensorsFile f = SafetensorsFile::open(path);
  EXPECT_EQ(f.info("ids").dtype, "I32");
  EXPECT_EQ(f.info("w").dtype, "F16");
  const Tensor back = f.load("ids", DType::I32);
  EXPECT_EQ(std::vector<int32_t>(back.data<int32_t>(), back.data<int32_t>() + 4),
            (std::vector<int32_t>{0, -1, 7, 2147483647}));
  // Floats and integers do not convert into each other.
  EXPECT_THROW(f.load("ids", DType::F32), InputError);
  EXPECT_THROW(f.load("w", DType::I32), InputError);
}

TEST_F(SafetensorsTest, NativeWriterKeepsEachDtype) {
  Tensor bf = Tensor::empty({3}, DType::BF16);
  for (int i = 0; i < 3; ++i) bf.data<uint16_t>()[i] = static_cast<uint16_t>(0x3f80 + i);
  const std::string path = file("n.safetensors");
  save_safetensors_native(path, {{"bf", bf}, {"f", Tensor::from_f32({0.1f}, {1})}});
  const SafetensorsFile f = SafetensorsFile::open(path);
  EXPECT_EQ(f.info("bf").dtype, "BF16");
  EXPECT_EQ(f.info("f").dtype, "F32");
  const Tensor back = f.load("bf", DType::BF16);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(back.data<uint16_t>()[i], 0x3f80 + i);
  EXPECT_EQ(f.load("f").to_vector()[0], 0.1f);
}

TEST_F(SafetensorsTest, HeaderIsSpacePaddedToEightBytes) {
  const std::string path = file("p.safetensors");
  save_safetensors(path, {{"abc", Tensor::from_f32({1.f}, {1})}}, DType::F32);
  const std::string bytes = slurp(path);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  EXPECT_EQ(n % 8, 0u);
  EXPECT_EQ(bytes.size(), 8 + n + 4);
  const std::string header = bytes.substr(8, n);
  EXPECT_EQ(header.substr(0, header.find_last_not_of(' ') + 1),
            R"({"abc":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})");
}

TEST_F(SafetensorsTest, WriterRejectsMisuse) {
  const std::string path = file("x.safetensors");
  const Tensor t = Tensor::from_f32({1.f}, {1});
  EXPECT_THROW(save_safetensors(path, {{"a", t}, {"a", t}}, DType::F32), Error);
  EXPECT_THROW(save_safetensors(path, {{"__metadata__", t}}, DType::F32), Error);
  EXPECT_THROW(save_safetensors(path, {{"a", Tensor()}}, DType::F32), Error);
  EXPECT_THROW(save_safetensors(path, {{"a", t}}, DType::I32), Error);
  EXPECT_FALSE(fs::exists(path));
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  try {
    save_safetensors(file("no/such/dir/x.safetensors"), {{"a", t}}, DType::F32);
    ADD_FAILURE() << "expected an error";
  } catch (const InputError& e) {
    EXPECT_EQ(e.field(), "file");
  }
}

// A failure while tensor data is being written leaves the previous checkpoint untouched.
TEST_F(SafetensorsTest, FailedWriteKeepsThePreviousFile) {
  // A tensor claiming to live on a GPU fails to copy when there is none (or no CUDA backend).
  if (cuda_available()) GTEST_SKIP() << "needs a machine without a GPU to make a device copy fail";
  const std::string path = file("keep.safetensors");
  save_safetensors(path, {{"a", Tensor::from_f32({1.f, 2.f}, {2})}}, DType::F32);
  const std::string before = slurp(path);
  float host[2] = {3.f, 4.f};
  const Tensor on_gpu = Tensor::wrap(host, {2}, DType::F32, Device::Cuda);  // copying it throws here
  EXPECT_THROW(save_safetensors(path, {{"a", Tensor::from_f32({5.f, 6.f}, {2})}, {"b", on_gpu}}, DType::F32), Error);
  EXPECT_EQ(slurp(path), before);
  EXPECT_FALSE(fs::exists(path + ".tmp"));
}

// ---------------------------------------------------------------- compatibility with the Python library

TEST_F(SafetensorsTest, ReadsFileWrittenByPythonLibrary) {
  const std::string dir = std::string(TEMPER_SOURCE_DIR) + "/tests/fixtures/safetensors/";
  const nlohmann::json expected = read_json_file(dir + "sample.expected.json");
  const SafetensorsFile f = SafetensorsFile::open(dir + "sample.safetensors");
  EXPECT_EQ(f.names(), expected["order"].get<std::vector<std::string>>());
  EXPECT_EQ(f.metadata(), (expected["metadata"].get<std::map<std::string, std::string>>()));
  const std::map<std::string, std::string> st_dtype = {{"float32", "F32"}, {"float16", "F16"}, {"bfloat16", "BF16"},
                                                       {"float64", "F64"}, {"int32", "I32"},   {"int64", "I64"},
                                                       {"uint8", "U8"}};
  for (const auto& [name, e] : expected["tensors"].items()) {
    SCOPED_TRACE(name);
    const TensorInfo& info = f.info(name);
    EXPECT_EQ(info.dtype, st_dtype.at(e["dtype"].get<std::string>()));
    EXPECT_EQ(info.shape, e["shape"].get<Shape>());
    if (name == "u8.bytes" || name == "i64.big") continue;  // checked below
    const bool integer = info.dtype[0] == 'I';
    const Tensor t = f.load(name, integer ? DType::I32 : DType::F32);
    ASSERT_EQ(t.numel(), static_cast<int64_t>(e["values"].size()));
    for (int64_t i = 0; i < t.numel(); ++i) {
      if (integer)
        EXPECT_EQ(t.data<int32_t>()[i], e["values"][i].get<int64_t>()) << i;
      else
        EXPECT_EQ(t.data<float>()[i], static_cast<float>(e["values"][i].get<double>())) << i;
    }
  }
  try {
    f.load("i64.big", DType::I32);
    ADD_FAILURE() << "2^40 loaded as i32";
  } catch (const InputError& e) {
    EXPECT_EQ(e.field(), "tensors.i64.big");
  }
  try {
    f.load("u8.bytes");
    ADD_FAILURE() << "U8 loaded as f32";
  } catch (const InputError& e) {
    EXPECT_EQ(e.field(), "tensors.u8.bytes.dtype");
  }
  const Tensor bytes = f.load("u8.bytes", DType::U8);  // raw bytes, as they are
  const auto want = expected["tensors"]["u8.bytes"]["values"].get<std::vector<int>>();
  ASSERT_EQ(bytes.numel(), static_cast<int64_t>(want.size()));
  for (int64_t i = 0; i < bytes.numel(); ++i) EXPECT_EQ(bytes.data<uint8_t>()[i], want[i]) << i;
  EXPECT_THROW(f.load("i32.ids", DType::U8), InputError);
}

// Writes the files tools/make_safetensors_fixture.py verifies with the Python library; set
// TEMPER_SAFETENSORS_EXPORT_DIR=DIR, run this test, then `make_safetensors_fixture.py verify DIR`.
TEST_F(SafetensorsTest, WriterOutputForPythonLibrary) {
  std::vector<float> base;
  for (int i = 0; i < 6; ++i) base.push_back(i * 0.5f - 1.f);
  const NamedTensors tensors = {{"a", Tensor::from_f32(base, {2, 3})},
                                {"idx", Tensor::from_i32({0, -1, 7, 123456}, {4})},
                                {"scalar", Tensor::from_f32({3.25f}, {})},
                                {"empty", Tensor::empty({0}, DType::F32)}};
  const std::map<std::string, std::string> meta = {{"format", "pt"}, {"step", "7"}};
  NamedTensors with_f16 = tensors;
  Tensor b = Tensor::empty({2, 3}, DType::F16);
  for (int i = 0; i < 6; ++i) b.data<uint16_t>()[i] = f32_to_f16(base[i]);
  with_f16.insert(with_f16.begin() + 1, {"b", b});
  save_safetensors_native(file("ours_np.safetensors"), with_f16, meta);
  save_safetensors(file("ours_bf16.safetensors"), tensors, DType::BF16, meta);
  const SafetensorsFile f = SafetensorsFile::open(file("ours_bf16.safetensors"));
  EXPECT_EQ(f.load("a").to_vector(), base);
  EXPECT_EQ(SafetensorsFile::open(file("ours_np.safetensors")).load("b").to_vector(), base);
  if (const char* out = std::getenv("TEMPER_SAFETENSORS_EXPORT_DIR")) {
    copy_file(file("ours_np.safetensors"), std::string(out) + "/ours_np.safetensors");
    copy_file(file("ours_bf16.safetensors"), std::string(out) + "/ours_bf16.safetensors");
  }
}

// The reference library accepts these; so do we.
TEST_F(SafetensorsTest, AcceptsWhatTheReferenceLibraryAccepts) {
  const std::string one = std::string("\0\0\x80\x3f", 4);  // 1.0f
  const std::vector<std::string> headers = {
      R"(  {"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",                       // leading space
      "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}\n   ",             // trailing space
      R"({"__metadata__":null,"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",     // null metadata
      R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"extra":{"x":[1]}}})",       // unknown key
      R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"z":{"dtype":"F16","shape":[0],"data_offsets":[4,4]}})",
  };
  for (const std::string& h : headers) {
    SCOPED_TRACE(h);
    const SafetensorsFile f = SafetensorsFile::open(write_raw(h, one));
    EXPECT_EQ(f.load("w").to_vector(), std::vector<float>{1.f});
  }
  const SafetensorsFile f4 =
      SafetensorsFile::open(write_raw(R"({"q":{"dtype":"F4","shape":[4],"data_offsets":[0,2]}})", "ab"));
  EXPECT_EQ(f4.info("q").dtype, "F4");
  EXPECT_THROW(f4.load("q"), InputError);  // listed, not loadable
  EXPECT_TRUE(SafetensorsFile::open(write_raw("{}", "")).names().empty());
}

// ---------------------------------------------------------------- corrupt files

TEST_F(SafetensorsTest, MissingFile) {
  const std::string path = file("does_not_exist.safetensors");
  expect_open_error(path, "file", "cannot open");
}

TEST_F(SafetensorsTest, DirectoryInsteadOfFile) { expect_open_error(dir_.string(), "file", "cannot open"); }

TEST_F(SafetensorsTest, FileShorterThanHeaderLength) {
  expect_open_error(write_bytes("abc"), "header length", "fewer than");
  expect_open_error(write_bytes(""), "header length", "fewer than");
}

TEST_F(SafetensorsTest, HeaderLengthZero) { expect_open_error(write_raw(0, "", kZeros4), "header length", "is 0"); }

TEST_F(SafetensorsTest, HeaderLengthPastEndOfFile) {
  expect_open_error(write_raw(1000, "{}", ""), "header length", "past the end");
}

TEST_F(SafetensorsTest, HeaderLengthAbsurd) {
  expect_open_error(write_raw(200'000'000, "{}", ""), "header length", "limit");
  expect_open_error(write_raw(~uint64_t{0}, "{}", ""), "header length", "limit");
}

TEST_F(SafetensorsTest, HeaderNotJson) { expect_open_error(write_raw(R"({"w": {"dtype": )", ""), "header", "JSON"); }

TEST_F(SafetensorsTest, HeaderNotUtf8) {
  expect_open_error(write_raw("{\"w\xff\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", kZeros4),
                    "header", "UTF-8");
}

TEST_F(SafetensorsTest, HeaderNotObject) {
  expect_open_error(write_raw("[1, 2]", ""), "header", "object");
  expect_open_error(write_raw("\"text\"", ""), "header", "object");
}

TEST_F(SafetensorsTest, HeaderNestedTooDeep) {
  const std::string deep = std::string(200, '[') + std::string(200, ']');
  expect_open_error(write_raw(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":)" + deep + "}}", kZeros4),
                    "header", "nested");
}

TEST_F(SafetensorsTest, EntryNotObject) { expect_open_error(write_raw(R"({"w": [0, 4]})", ""), "tensors.w", "object"); }

TEST_F(SafetensorsTest, EntryMissingDtype) {
  expect_open_error(write_raw(R"({"w":{"shape":[1],"data_offsets":[0,4]}})", kZeros4), "tensors.w.dtype", "missing");
}

TEST_F(SafetensorsTest, EntryMissingShape) {
  expect_open_error(write_raw(R"({"w":{"dtype":"F32","data_offsets":[0,4]}})", kZeros4), "tensors.w.shape", "missing");
}

TEST_F(SafetensorsTest, EntryMissingDataOffsets) {
  expect_open_error(write_raw(R"({"w":{"dtype":"F32","shape":[1]}})", kZeros4), "tensors.w.data_offsets", "missing");
}

TEST_F(SafetensorsTest, DtypeNotString) {
  expect_open_error(write_raw(R"({"w":{"dtype":4,"shape":[1],"data_offsets":[0,4]}})", kZeros4), "tensors.w.dtype",
                    "string");
}

TEST_F(SafetensorsTest, UnknownDtype) {
  expect_open_error(write_raw(R"({"w":{"dtype":"F128","shape":[1],"data_offsets":[0,4]}})", kZeros4),
                    "tensors.w.dtype", "unknown dtype \"F128\"");
  expect_open_error(write_raw(R"({"w":{"dtype":"f32","shape":[1],"data_offsets":[0,4]}})", kZeros4),
                    "tensors.w.dtype", "unknown dtype");
}

TEST_F(SafetensorsTest, ShapeNotArray) {
  expect_open_error(write_raw(R"({"w":{"dtype":"F32","shape":1,"data_offsets":[0,4]}})", kZeros4), "tensors.w.shape",
                    "array");
}

TEST_F(SafetensorsTest, ShapeNegativeDim) {
  expect_open_error(write_raw(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", kZeros4),
                    "tensors.w.shape", "negative");
}

TEST_F(SafetensorsTest, ShapeNonIntegerDim) {
  expect_open_error(write_raw(R"({"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", kZeros4),
                    "tensors.w.shape", "integer");
  expect_open_error(write_raw(R"({"w":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}})", kZeros4),
                    "tensors.w.shape", "integer");
  expect_open_error(write_raw(R"({"w":{"dtype":"F32","shape":["1"],"data_offsets":[0,4]}})", kZeros4),
                    "tensors.w.shape", "integer");
}

TEST_F(SafetensorsTest, ShapeElementCountOverflow) {
  expect_open_error(write_raw(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}})", kZeros4),
                    "tensors.w.shape", "overflow");
  expect_open_error(write_raw(R"({"w":{"dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,4]}})", kZeros4),
                    "tensors.w.shape", "too large");
  // numel fits in int64 but numel * 4 bytes does not.
  expect_open_error(write_raw(R"({"w":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,4]}})", kZeros4),
                    "tensors.w.data_offsets", "overflow");
}

TEST_F(SafetensorsTest, DataOffsetsNotAPair) {
  for (const char* off : {"[0]", "[0,4,4]", "\"0-4\"", "{\"begin\":0}"}) {
    SCOPED_TRACE(off);
    const std::string header = fmt::format(R"({{"w":{{"dtype":"F32","shape":[1],"data_offsets":{}}}}})", off);
    expect_open_error(write_raw(header, kZeros4), "tensors.w.data_offsets", "[begin, end]");
  }
  expect_open_error(write_raw(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4.0]}})", kZeros4),
                    "tensors.w.data_offsets", "integer");
}

TEST_F(SafetensorsTest, DataOffsetsNegative) {
  expect_open_error(write_raw(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})", kZeros4),
                    "tensors.w.data_offsets", "negative");
}

TEST_F(SafetensorsTest, DataOffsetsBeginAfterEnd) {
  expect_open_error(write_raw(R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}})", kZeros4),
                    "tensors.w.data_offsets", "after end");
}

TEST_F(SafetensorsTest, DataOffsetsBeyondDataSection) {
  expect_open_error(write_raw(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", kZeros4),
                    "tensors.w.data_offsets", "truncated");
}

TEST_F(SafetensorsTest, ByteSizeDoesNotMatchShape) {
  expect_open_error(write_raw(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", kZeros4),
                    "tensors.w.data_offsets", "needs 8");
  expect_open_error(write_raw(R"({"w":{"dtype":"F16","shape":[1],"data_offsets":[0,4]}})", kZeros4),
                    "tensors.w.data_offsets", "needs 2");
}

TEST_F(SafetensorsTest, SubByteDtypeNotOnByteBoundary) {
  expect_open_error(write_raw(R"({"w":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}})", "ab"),
                    "tensors.w.data_offsets", "byte boundary");
}

TEST_F(SafetensorsTest, OverlappingTensors) {
  expect_open_error(write_raw(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                              R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                              std::string(12, '\0')),
                    "tensors.b.data_offsets", "overlap tensor \"a\"");
  // A zero-size tensor inside another one overlaps too (the reference library rejects it).
  expect_open_error(write_raw(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                              R"("z":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}})",
                              std::string(8, '\0')),
                    "tensors.z.data_offsets", "overlap");
}

TEST_F(SafetensorsTest, HoleBetweenTensors) {
  expect_open_error(write_raw(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                              R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                              std::string(12, '\0')),
                    "tensors.b.data_offsets", "hole");
  expect_open_error(write_raw(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", std::string(8, '\0')),
                    "tensors.a.data_offsets", "hole");
}

TEST_F(SafetensorsTest, TrailingBytesAfterLastTensor) {
  expect_open_error(write_raw(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", std::string(8, '\0')),
                    "data section", "4 bytes after the last tensor");
  expect_open_error(write_raw("{}", "x"), "data section");
}

TEST_F(SafetensorsTest, DuplicateTensorName) {
  expect_open_error(write_raw(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                              R"("w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                              std::string(8, '\0')),
                    "tensors.w", "duplicate");
  expect_open_error(write_raw(R"({"w":{"dtype":"F32","dtype":"F16","shape":[1],"data_offsets":[0,4]}})", kZeros4),
                    "tensors.w.dtype", "duplicate");
}

TEST_F(SafetensorsTest, MetadataNotStringMap) {
  expect_open_error(write_raw(R"({"__metadata__":["a"]})", ""), "__metadata__", "object");
  expect_open_error(write_raw(R"({"__metadata__":"a"})", ""), "__metadata__", "object");
  expect_open_error(write_raw(R"({"__metadata__":{"k":1}})", ""), "__metadata__.k", "string");
  expect_open_error(write_raw(R"({"__metadata__":{"k":{"x":"y"}}})", ""), "__metadata__.k", "string");
}

TEST_F(SafetensorsTest, DuplicateMetadataKey) {
  expect_open_error(write_raw(R"({"__metadata__":{"k":"1","k":"2"}})", ""), "__metadata__.k", "duplicate");
  expect_open_error(write_raw(R"({"__metadata__":{},"__metadata__":{}})", ""), "tensors.__metadata__", "duplicate");
}

TEST_F(SafetensorsTest, TruncatedFile) {
  const std::string path = file("t.safetensors");
  save_safetensors(path, {{"a", Tensor::from_f32({1, 2}, {2})}, {"b", Tensor::from_f32({3, 4}, {2})}}, DType::F32);
  fs::resize_file(path, fs::file_size(path) - 3);
  expect_open_error(path, "tensors.b.data_offsets", "truncated");
}

TEST_F(SafetensorsTest, UnknownTensorName) {
  const std::string path = file("u.safetensors");
  save_safetensors(path, {{"a", Tensor::from_f32({1}, {1})}}, DType::F32);
  const SafetensorsFile f = SafetensorsFile::open(path);
  EXPECT_FALSE(f.contains("nope"));
  EXPECT_TRUE(f.contains("a"));
  try {
    f.load("nope");
    ADD_FAILURE() << "expected an error";
  } catch (const InputError& e) {
    EXPECT_EQ(e.file(), path);
    EXPECT_EQ(e.field(), "tensors.nope");
  }
}

// ---------------------------------------------------------------- JSON / file helpers

TEST_F(SafetensorsTest, JsonFileRoundTripAndCopy) {
  const nlohmann::json j = {{"n_layer", 12}, {"name", "gpt2"}, {"eps", 1e-5}};
  const std::string path = file("config.json");
  write_json_file_atomic(path, j);
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  EXPECT_EQ(read_json_file(path), j);
  copy_file(path, file("copy.json"));
  EXPECT_EQ(slurp(file("copy.json")), slurp(path));
  write_file_atomic(path, "[1]");
  EXPECT_EQ(read_json_file(path), nlohmann::json::array({1}));
}

TEST_F(SafetensorsTest, JsonFileErrorsNameFileAndPosition) {
  const std::string missing = file("missing.json");
  try {
    read_json_file(missing);
    ADD_FAILURE() << "expected an error";
  } catch (const InputError& e) {
    EXPECT_EQ(e.file(), missing);
    EXPECT_NE(std::string(e.what()).find("cannot open"), std::string::npos) << e.what();
  }
  const std::string bad = write_bytes("{\n  \"a\": 1,\n  \"b\": tru\n}\n", "bad.json");
  try {
    read_json_file(bad);
    ADD_FAILURE() << "expected an error";
  } catch (const InputError& e) {
    EXPECT_EQ(e.file(), bad);
    EXPECT_EQ(e.field().rfind("line 3, column", 0), 0u) << e.what();
    EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
  }
  EXPECT_THROW(copy_file(missing, file("x.json")), InputError);
  EXPECT_FALSE(fs::exists(file("x.json")));
}

}  // namespace
}  // namespace temper
