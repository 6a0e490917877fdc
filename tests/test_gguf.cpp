// GGUF reader: metadata of every value type and bit-exact dequantization of every supported tensor type
// against the `gguf` Python package (tests/fixtures/gguf/small.gguf and small_expected.safetensors, from
// tools/make_gguf_fixture.py), and one test per kind of corrupt file: each must be an InputError
// naming the file and the field.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>

#include "models/io/gguf.h"
#include "models/io/safetensors.h"
#include "test_util.h"

namespace temper {
namespace {

namespace fs = std::filesystem;
using test::fixture;

uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// GGUF bytes built piece by piece (little-endian), for the corrupt-file cases.
struct Bytes {
  std::string b;
  template <class T>
  Bytes& put(T v) {
    b.append(reinterpret_cast<const char*>(&v), sizeof(T));
    return *this;
  }
  Bytes& u32(uint32_t v) { return put(v); }
  Bytes& u64(uint64_t v) { return put(v); }
  Bytes& str(const std::string& s) {
    u64(s.size());
    b += s;
    return *this;
  }
  Bytes& header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    b += "GGUF";
    return u32(version).u64(n_tensors).u64(n_kv);
  }
  Bytes& kv_string(const std::string& key, const std::string& value) { return str(key).u32(8).str(value); }
  Bytes& kv_u32(const std::string& key, uint32_t value) { return str(key).u32(4).u32(value); }
  Bytes& tensor(const std::string& name, std::vector<uint64_t> dims, uint32_t type, uint64_t offset) {
    str(name).u32(static_cast<uint32_t>(dims.size()));
    for (const uint64_t d : dims) u64(d);
    return u32(type).u64(offset);
  }
  Bytes& pad(size_t align) {
    b.append((align - b.size() % align) % align, '\0');
    return *this;
  }
  Bytes& zeros(size_t n) {
    b.append(n, '\0');
    return *this;
  }
};

constexpr uint32_t kF32 = 0, kQ4_0 = 2, kQ8_1 = 9;

// The smallest valid file: one metadata pair, one 2x4 F32 tensor.
Bytes minimal(uint32_t version = 3) {
  Bytes f;
  f.header(1, 1, version).kv_string("general.architecture", "llama").tensor("w", {4, 2}, kF32, 0);
  return f.pad(32).zeros(32);
}

class GgufTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / fmt::format("temper_gguf_{}_{}", getpid(), info->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& bytes, const std::string& name = "bad.gguf") const {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }
  std::string write(const Bytes& bytes) const { return write(bytes.b); }

  fs::path dir_;
};

// `fn` must throw an InputError for `path` whose field is `field` and whose message names both (and
// contains `part` when given).
template <class Fn>
void expect_input_error(Fn&& fn, const std::string& path, const std::string& field, const std::string& part = "") {
  try {
    fn();
    ADD_FAILURE() << "no error; expected an InputError on field " << field;
  } catch (const InputError& e) {
    const std::string what = e.what();
    EXPECT_EQ(e.file(), path) << what;
    EXPECT_EQ(e.field(), field) << what;
    EXPECT_NE(what.find(path), std::string::npos) << what;
    EXPECT_NE(what.find(field), std::string::npos) << what;
    if (!part.empty()) {
      EXPECT_NE(what.find(part), std::string::npos) << what;
    }
  }
}

void expect_open_error(const std::string& path, const std::string& field, const std::string& part = "") {
  expect_input_error([&] { GgufFile::open(path); }, path, field, part);
}

// ---------------------------------------------------------------- the Python-written fixture

TEST(GgufFixture, MetadataOfEveryValueType) {
  const std::string path = fixture("gguf/small.gguf");
  const GgufFile f = GgufFile::open(path);
  const GgufMetadata& m = f.metadata();
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), 64u);
  EXPECT_EQ(f.data_offset() % 64, 0u);
  EXPECT_EQ(m.keys().front(), "general.architecture");  // file order
  EXPECT_EQ(m.get_string("general.architecture"), "llama");
  EXPECT_EQ(m.get_int("general.alignment"), 64);
  EXPECT_EQ(m.get_int("test.u8"), 200);
  EXPECT_EQ(m.get_int("test.i8"), -100);
  EXPECT_EQ(m.get_int("test.u16"), 60000);
  EXPECT_EQ(m.get_int("test.i16"), -30000);
  EXPECT_EQ(m.get_int("test.u32"), 4000000000);
  EXPECT_EQ(m.get_int("test.i32"), -2000000000);
  EXPECT_EQ(m.get_int("test.u64"), (int64_t{1} << 40) + 3);
  EXPECT_EQ(m.get_int("test.i64"), -(int64_t{1} << 50) - 7);
  EXPECT_EQ(m.at("test.u64_big").type, GgufValueType::U64);
  EXPECT_EQ(static_cast<uint64_t>(m.at("test.u64_big").i), (uint64_t{1} << 63) + 5);
  EXPECT_EQ(m.get_float("test.f32"), static_cast<double>(3.14159f));  // f32 kept exactly
  EXPECT_EQ(m.get_float("test.f64"), 2.718281828459045);
  EXPECT_TRUE(m.get_bool("test.true"));
  EXPECT_FALSE(m.get_bool("test.false"));
  EXPECT_EQ(m.get_string("test.string"), "h\xc3\xa9llo w\xc3\xb6rld");
  EXPECT_EQ(m.get_string("test.empty_string"), "");
  EXPECT_EQ(m.get_string_array("test.strings"), (std::vector<std::string>{"a", "bb", "", "\xc3\xbcn\xc3\xaf"}));
  EXPECT_EQ(m.get_int_array("test.i32s"), (std::vector<int64_t>{1, -2, 3}));
  EXPECT_EQ(m.get_int_array("test.u8s"), (std::vector<int64_t>{0, 255, 7}));
  EXPECT_EQ(m.get_int_array("test.u64s"), (std::vector<int64_t>{int64_t{1} << 40, 1}));
  EXPECT_EQ(m.get_float_array("test.f32s"), (std::vector<double>{0.5, -1.25, static_cast<double>(1e-3f)}));
  EXPECT_EQ(m.get_float_array("test.f64s"), (std::vector<double>{0.1, -2.5}));
  EXPECT_EQ(m.at("test.bools").type_name(), "array of bool");
  EXPECT_EQ(m.at("test.bools").ints, (std::vector<int64_t>{1, 0, 1}));
  const GgufValue& nested = m.at("test.nested");
  ASSERT_EQ(nested.type_name(), "array of array");
  ASSERT_EQ(nested.size(), 2u);
  EXPECT_EQ(nested.arrays[0].strings, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(nested.arrays[1].strings, (std::vector<std::string>{"z"}));
  const GgufValue& mixed = m.at("test.mixed_nested");
  ASSERT_EQ(mixed.size(), 2u);
  EXPECT_EQ(mixed.arrays[0].type_name(), "array of int32");
  EXPECT_EQ(mixed.arrays[0].ints, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(mixed.arrays[1].strings, (std::vector<std::string>{"w"}));
  // Tokenizer metadata is plain metadata.
  EXPECT_EQ(m.get_string_array("tokenizer.ggml.tokens"),
            (std::vector<std::string>{"<s>", "</s>", "hi", "\xc4\xa0there"}));
  EXPECT_EQ(m.get_string_array("tokenizer.ggml.merges"), (std::vector<std::string>{"h i", "\xc4\xa0 t"}));
  EXPECT_EQ(m.get_int("tokenizer.ggml.bos_token_id"), 0);
  EXPECT_EQ(m.get_int("tokenizer.ggml.eos_token_id"), 1);
  EXPECT_EQ(m.get_string("tokenizer.chat_template"), "{% for m in messages %}{{ m['content'] }}{% endfor %}");
  EXPECT_EQ(m.get_int_or("absent", 7), 7);
  EXPECT_EQ(m.get_string_or("test.string", "x"), m.get_string("test.string"));
}

TEST(GgufFixture, MetadataAccessorsNameFileAndKey) {
  const std::string path = fixture("gguf/small.gguf");
  const GgufFile f = GgufFile::open(path);
  const GgufMetadata& m = f.metadata();
  expect_input_error([&] { m.get_string("no.such.key"); }, path, "no.such.key", "no such metadata key");
  expect_input_error([&] { m.get_int("test.string"); }, path, "test.string", "is string, expected an integer");
  expect_input_error([&] { m.get_string("test.u32"); }, path, "test.u32", "is uint32, expected a string");
  expect_input_error([&] { m.get_float("test.i32"); }, path, "test.i32", "expected a float");
  expect_input_error([&] { m.get_bool("test.u8"); }, path, "test.u8", "expected a bool");
  expect_input_error([&] { m.get_int("test.u64_big"); }, path, "test.u64_big", "does not fit in int64");
  expect_input_error([&] { m.get_string_array("test.i32s"); }, path, "test.i32s", "is array of int32");
  expect_input_error([&] { m.get_int_array("test.strings"); }, path, "test.strings", "is array of string");
  expect_input_error([&] { m.get_float_array("test.nested"); }, path, "test.nested", "is array of array");
  expect_input_error([&] { m.get_int_or("test.string", 1); }, path, "test.string", "expected an integer");
}

TEST(GgufFixture, TensorInfos) {
  const GgufFile f = GgufFile::open(fixture("gguf/small.gguf"));
  const std::vector<std::string> names = f.names();
  ASSERT_EQ(names.size(), 24u);
  EXPECT_EQ(names.front(), "f32.vec");  // file order
  EXPECT_EQ(names.back(), "i32.vec");
  const GgufTensorInfo& q = f.info("q4_0.mat");  // numpy (3, 64)
  EXPECT_EQ(q.type, GgmlType::Q4_0);
  EXPECT_STREQ(q.type_name(), "Q4_0");
  EXPECT_EQ(q.dims, (std::vector<int64_t>{64, 3}));
  EXPECT_EQ(q.shape(), (Shape{3, 64}));
  EXPECT_EQ(q.nbytes, 3u * 2 * 18);
  EXPECT_EQ(q.offset % 64, 0u);
  EXPECT_EQ(f.info("q8_0.3d").dims, (std::vector<int64_t>{32, 3, 2}));
  EXPECT_EQ(f.info("q4_1.4d").shape(), (Shape{2, 2, 1, 32}));
  EXPECT_EQ(f.info("q6_k.rand").nbytes, 2u * 2 * 210);
  EXPECT_EQ(f.info("f32.vec").dims, (std::vector<int64_t>{7}));
  EXPECT_STREQ(f.info("i32.vec").type_name(), "I32");
  EXPECT_TRUE(f.contains("bf16.mat"));
  EXPECT_FALSE(f.contains("nope"));
  expect_input_error([&] { f.info("nope"); }, f.path(), "tensors.nope", "no such tensor");
}

// Every dequantizable tensor equals gguf.quants.dequantize bit for bit (same f32 operations, same order).
TEST(GgufFixture, DequantizationIsBitExactWithGgufPackage) {
  const GgufFile f = GgufFile::open(fixture("gguf/small.gguf"));
  const SafetensorsFile expected = SafetensorsFile::open(fixture("gguf/small_expected.safetensors"));
  std::set<std::string> types;
  for (const std::string& name : expected.names()) {
    SCOPED_TRACE(name);
    const Tensor want = expected.load(name);
    const Tensor got = f.load_f32(name);
    ASSERT_EQ(got.shape(), want.shape());
    ASSERT_EQ(got.shape(), f.info(name).shape());
    const float* g = got.data<float>();
    const float* w = want.data<float>();
    int mismatches = 0;
    for (int64_t i = 0; i < got.numel() && mismatches < 5; ++i)
      if (bits_of(g[i]) != bits_of(w[i])) {
        ADD_FAILURE() << "element " << i << ": " << g[i] << " != " << w[i];
        ++mismatches;
      }
    types.insert(f.info(name).type_name());
  }
  EXPECT_EQ(types, (std::set<std::string>{"F32", "F16", "BF16", "F64", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K",
                                          "Q3_K", "Q4_K", "Q5_K", "Q6_K"}));
}

TEST(GgufFixture, RawBytesAndTypesNotDequantized) {
  const GgufFile f = GgufFile::open(fixture("gguf/small.gguf"));
  const std::vector<uint8_t> raw = f.raw("q8_k.raw");
  ASSERT_EQ(raw.size(), 292u);
  for (size_t i = 0; i < raw.size(); ++i) ASSERT_EQ(raw[i], static_cast<uint8_t>(i * 7 + 3)) << i;
  expect_input_error([&] { f.load_f32("q8_k.raw"); }, f.path(), "tensors.q8_k.raw.type", "Q8_K");
  expect_input_error([&] { f.load_f32("i32.vec"); }, f.path(), "tensors.i32.vec.type", "I32");
  // raw() + dequantize_row() == load_f32().
  const std::vector<uint8_t> q = f.raw("q5_1.mat");
  EXPECT_EQ(q.size(), f.info("q5_1.mat").nbytes);
  std::vector<float> y(static_cast<size_t>(f.info("q5_1.mat").numel()));
  dequantize_row(GgmlType::Q5_1, q.data(), static_cast<int64_t>(y.size()), y.data());
  EXPECT_EQ(y, f.load_f32("q5_1.mat").to_vector());
}

TEST(GgufFixture, TypeTable) {
  EXPECT_EQ(ggml_type_traits(4u), nullptr);  // removed Q4_2
  EXPECT_EQ(ggml_type_traits(99u), nullptr);
  const GgmlTypeTraits& q4k = ggml_type_traits(GgmlType::Q4_K);
  EXPECT_EQ(q4k.block_size, 256u);
  EXPECT_EQ(q4k.type_size, 144u);
  EXPECT_TRUE(q4k.dequantizable);
  EXPECT_STREQ(ggml_type_name(GgmlType::BF16), "BF16");
}

// ---------------------------------------------------------------- hand-built files

TEST_F(GgufTest, MinimalFilesOfVersion2And3) {
  for (const uint32_t version : {2u, 3u}) {
    const GgufFile f = GgufFile::open(write(minimal(version)));
    EXPECT_EQ(f.version(), version);
    EXPECT_EQ(f.alignment(), 32u);
    EXPECT_EQ(f.data_offset() % 32, 0u);
    EXPECT_EQ(f.load_f32("w").shape(), (Shape{2, 4}));
    EXPECT_EQ(f.load_f32("w").to_vector(), std::vector<float>(8, 0.f));
  }
}

TEST_F(GgufTest, NoTensorsNoPadding) {
  Bytes b;
  b.header(0, 1).kv_string("general.architecture", "llama");
  const GgufFile f = GgufFile::open(write(b));
  EXPECT_TRUE(f.names().empty());
  EXPECT_EQ(f.metadata().size(), 1u);
}

TEST_F(GgufTest, MissingFile) { expect_open_error((dir_ / "absent.gguf").string(), "file", "cannot open"); }

TEST_F(GgufTest, DirectoryInsteadOfFile) { expect_open_error(dir_.string(), "file", "not a regular file"); }

// Every prefix of a valid file is an InputError (never a crash or a bad allocation).
TEST_F(GgufTest, TruncatedFile) {
  const std::string whole = slurp(fixture("gguf/small.gguf"));
  const GgufFile f = GgufFile::open(fixture("gguf/small.gguf"));
  uint64_t end = 0;  // the last tensor's end; the padding after it may go
  for (const std::string& name : f.names()) end = std::max(end, f.info(name).offset + f.info(name).nbytes);
  end += f.data_offset();
  ASSERT_LE(end, whole.size());
  for (size_t n = 0; n < end; n += (n < 2600 ? 1 : 61)) {
    const std::string path = write(whole.substr(0, n));
    try {
      GgufFile::open(path);
      ADD_FAILURE() << "a prefix of " << n << " bytes opened";
    } catch (const InputError& e) {
      const std::string what = e.what();
      ASSERT_EQ(e.file(), path) << what;
      ASSERT_FALSE(e.field().empty()) << what;
      ASSERT_NE(what.find(e.field()), std::string::npos) << what;
    }
  }
  expect_open_error(write(whole.substr(0, 2)), "magic", "needs 4 bytes");
  expect_open_error(write(whole.substr(0, 20)), "tensor_count", "cannot fit");  // 24 infos need >= 768 bytes
  expect_open_error(write(whole.substr(0, 1060)), "tokenizer.ggml.tokens");
  expect_open_error(write(whole.substr(0, end - 1)), "tensors." + f.names().back() + ".offset", "past");
  EXPECT_NO_THROW(GgufFile::open(write(whole.substr(0, end))));
}

TEST_F(GgufTest, BadMagic) {
  Bytes b = minimal();
  b.b[0] = 'X';
  expect_open_error(write(b), "magic", "expected \"GGUF\"");
}

TEST_F(GgufTest, UnsupportedVersion) {
  expect_open_error(write(minimal(1)), "version", "version 1 is not supported");
  expect_open_error(write(minimal(4)), "version", "version 4");
  expect_open_error(write(minimal(0x03000000u)), "version", "big-endian");
}

TEST_F(GgufTest, AbsurdCounts) {
  Bytes t;
  t.header(uint64_t{1} << 60, 0);
  expect_open_error(write(t), "tensor_count", "cannot fit");
  Bytes k;
  k.header(0, uint64_t{1} << 40);
  expect_open_error(write(k), "kv_count", "cannot fit");
}

TEST_F(GgufTest, AbsurdStringLength) {
  Bytes key;
  key.header(0, 1).u64(uint64_t{1} << 62).zeros(16);
  expect_open_error(write(key), "metadata pair 0 key", "exceeds");
  Bytes value;
  value.header(0, 1).str("general.name").u32(8).u64(~uint64_t{0}).zeros(16);
  expect_open_error(write(value), "general.name", "string length");
  Bytes name;
  name.header(1, 0).u64(1000).zeros(40);
  expect_open_error(write(name), "tensor info 0 name", "exceeds");
}

TEST_F(GgufTest, AbsurdArrayLength) {
  Bytes b;
  b.header(0, 1).str("tokenizer.ggml.tokens").u32(9).u32(8).u64(uint64_t{1} << 61).zeros(64);
  expect_open_error(write(b), "tokenizer.ggml.tokens", "array length");
  Bytes ints;  // 1000 u32 need 4000 bytes; 64 are left
  ints.header(0, 1).str("x").u32(9).u32(4).u64(1000).zeros(64);
  expect_open_error(write(ints), "x", "array length 1000 cannot fit");
}

TEST_F(GgufTest, ArraysNestedTooDeep) {
  Bytes b;
  b.header(0, 1).str("deep").u32(9);
  for (int i = 0; i < 40; ++i) b.u32(9).u64(1);
  b.u32(0).u64(0);
  expect_open_error(write(b), "deep", "nested deeper");
}

TEST_F(GgufTest, UnknownValueType) {
  Bytes b;
  b.header(0, 1).str("general.x").u32(13).zeros(16);
  expect_open_error(write(b), "general.x", "unknown value type 13");
  Bytes a;
  a.header(0, 1).str("general.y").u32(9).u32(77).u64(1).zeros(16);
  expect_open_error(write(a), "general.y", "unknown array element type 77");
}

TEST_F(GgufTest, BadBoolByte) {
  Bytes b;
  b.header(0, 1).str("flag").u32(7).put<uint8_t>(2);
  expect_open_error(write(b), "flag", "must be 0 or 1");
}

TEST_F(GgufTest, DuplicateMetadataKey) {
  Bytes b;
  b.header(0, 2).kv_string("general.name", "a").kv_string("general.name", "b");
  expect_open_error(write(b), "general.name", "duplicate");
}

TEST_F(GgufTest, EmptyMetadataKey) {
  Bytes b;
  b.header(0, 1).kv_string("", "a");
  expect_open_error(write(b), "metadata pair 0 key", "empty");
}

TEST_F(GgufTest, BadAlignment) {
  Bytes b;
  b.header(0, 1).kv_u32("general.alignment", 48);
  expect_open_error(write(b), "general.alignment", "not a power of two");
  Bytes t;
  t.header(0, 1).kv_string("general.alignment", "32");
  expect_open_error(write(t), "general.alignment", "expected uint32");
}

TEST_F(GgufTest, UnknownTensorType) {
  Bytes b;
  b.header(1, 0).tensor("w", {32}, 99, 0).pad(32).zeros(128);
  expect_open_error(write(b), "tensors.w.type", "unknown ggml type 99");
  Bytes q;
  q.header(1, 0).tensor("w", {32}, kQ8_1, 0).pad(32).zeros(128);
  expect_open_error(write(q), "tensors.w.type", "Q8_1 is not supported");
}

TEST_F(GgufTest, BadDims) {
  Bytes many;
  many.header(1, 0).tensor("w", {1, 1, 1, 1, 1}, kF32, 0).pad(32).zeros(32);
  expect_open_error(write(many), "tensors.w.n_dims", "5 dimensions");
  Bytes none;
  none.header(1, 0).tensor("w", {}, kF32, 0).pad(32).zeros(32);
  expect_open_error(write(none), "tensors.w.n_dims", "0 dimensions");
  Bytes zero;
  zero.header(1, 0).tensor("w", {4, 0}, kF32, 0).pad(32).zeros(32);
  expect_open_error(write(zero), "tensors.w.dims", "must be positive");
  Bytes block;  // Q4_0 rows are whole 32-element blocks
  block.header(1, 0).tensor("w", {30, 2}, kQ4_0, 0).pad(32).zeros(64);
  expect_open_error(write(block), "tensors.w.dims", "not a multiple of the Q4_0 block size 32");
}

TEST_F(GgufTest, DimsOverflow) {
  Bytes numel;
  numel.header(1, 0).tensor("w", {uint64_t{1} << 32, uint64_t{1} << 32}, kF32, 0).pad(32).zeros(32);
  expect_open_error(write(numel), "tensors.w.dims", "element count overflows");
  Bytes bytes;  // 2^62 elements fit in int64, 2^64 bytes of F32 do not
  bytes.header(1, 0).tensor("w", {uint64_t{1} << 31, uint64_t{1} << 31}, kF32, 0).pad(32).zeros(32);
  expect_open_error(write(bytes), "tensors.w.dims", "byte size");
  Bytes huge;  // fits in the arithmetic, not in the file
  huge.header(1, 0).tensor("w", {uint64_t{1} << 20, uint64_t{1} << 20}, kF32, 0).pad(32).zeros(32);
  expect_open_error(write(huge), "tensors.w.offset", "past");
}

TEST_F(GgufTest, MisalignedOffset) {
  Bytes b;
  b.header(1, 0).tensor("w", {4}, kF32, 4).pad(32).zeros(64);
  expect_open_error(write(b), "tensors.w.offset", "not a multiple of the alignment 32");
}

TEST_F(GgufTest, OffsetPastEndOfFile) {
  Bytes b;
  b.header(1, 0).tensor("w", {4}, kF32, 1 << 20).pad(32).zeros(64);
  expect_open_error(write(b), "tensors.w.offset", "past");
  Bytes wrap;  // offset + size wraps around 2^64
  wrap.header(1, 0).tensor("w", {8}, kF32, ~uint64_t{31}).pad(32).zeros(64);
  expect_open_error(write(wrap), "tensors.w.offset", "past");
  Bytes no_data;  // the data section itself starts after the end
  no_data.header(1, 0).tensor("w", {1}, kF32, 0);
  expect_open_error(write(no_data), "data section", "past the end");
}

TEST_F(GgufTest, OverlappingTensors) {
  Bytes b;  // a: 16 floats at 0 (64 bytes); b: at 32, inside a
  b.header(2, 0).tensor("a", {16}, kF32, 0).tensor("b", {4}, kF32, 32).pad(32).zeros(128);
  expect_open_error(write(b), "tensors.b.offset", "overlap tensor \"a\"");
}

TEST_F(GgufTest, DuplicateTensorName) {
  Bytes b;
  b.header(2, 0).tensor("w", {4}, kF32, 0).tensor("w", {4}, kF32, 32).pad(32).zeros(64);
  expect_open_error(write(b), "tensors.w", "duplicate tensor name");
}

TEST_F(GgufTest, EmptyTensorName) {
  Bytes b;
  b.header(1, 0).tensor("", {4}, kF32, 0).pad(32).zeros(64);
  expect_open_error(write(b), "tensor info 0 name", "empty");
}

TEST_F(GgufTest, UnprintableNamesAreEscapedInMessages) {
  Bytes b;
  b.header(2, 0).tensor("w\n\x01", {4}, kF32, 0).tensor("w\n\x01", {4}, kF32, 32).pad(32).zeros(64);
  expect_open_error(write(b), "tensors.w\\x0a\\x01", "duplicate");
}

TEST_F(GgufTest, FileShrunkAfterOpen) {
  const std::string path = write(minimal());
  const GgufFile f = GgufFile::open(path);
  fs::resize_file(path, 40);
  expect_input_error([&] { f.load_f32("w"); }, path, "tensors.w", "short read");
  expect_input_error([&] { f.raw("w"); }, path, "tensors.w", "short read");
}

}  // namespace
}  // namespace temper
