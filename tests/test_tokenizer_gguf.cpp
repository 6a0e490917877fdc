// The tokenizer in a GGUF file's metadata (BpeTokenizer::from_gguf): the real SmolLM2-135M-Instruct
// file gives the ids HF gives (tests/fixtures/tokenizer/smollm2_expected.json, written by
// tools/make_smollm2_tokenizer_fixture.py), also after a round trip through save_tokenizer_json; small
// crafted files cover the rejected inputs. Needs tools/fetch_smollm2.sh for the real file.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "models/io/gguf.h"
#include "runtime/data/bpe_tokenizer.h"
#include "runtime/data/byte_level.h"
#include "runtime/data/tokenizer_loader.h"
#include "runtime/error.h"
#include "tests/test_util.h"

namespace temper {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string smollm2_path() {
  if (const char* env = std::getenv("TEMPER_SMOLLM2_GGUF")) return env;
  return std::string(TEMPER_SOURCE_DIR) + "/.cache/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";
}

json read_fixture() {
  std::ifstream in(test::fixture("tokenizer/smollm2_expected.json"), std::ios::binary);
  return json::parse(in);
}

class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / fmt::format("temper_tokgguf_{}_{}", getpid(), info->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

// Every fixture text encodes to HF's ids and decodes to HF's text.
void expect_matches_hf(const BpeTokenizer& tok, const json& fixture, const std::string& what) {
  size_t matched = 0;
  for (const json& c : fixture["cases"]) {
    const std::string text = c["text"].get<std::string>();
    const std::vector<int32_t> want = c["ids"].get<std::vector<int32_t>>();
    const std::vector<int32_t> got = tok.encode(text);
    EXPECT_EQ(got, want) << what << ": " << json(text).dump();
    EXPECT_EQ(tok.decode(want), c["decoded"].get<std::string>()) << what << ": " << json(text).dump();
    matched += got == want;
  }
  EXPECT_EQ(matched, fixture["cases"].size()) << what;
}

class SmolLm2Tokenizer : public TempDir {
 protected:
  void SetUp() override {
    TempDir::SetUp();
    ASSERT_TRUE(fs::exists(smollm2_path())) << "run tools/fetch_smollm2.sh";
  }
};

TEST_F(SmolLm2Tokenizer, FromGgufMatchesHf) {
  const auto tok = BpeTokenizer::from_gguf(GgufFile::open(smollm2_path()));
  EXPECT_EQ(tok->vocab_size(), 49152);
  EXPECT_EQ(tok->eos_id(), 2);
  EXPECT_EQ(tok->bos_id(), 1);
  EXPECT_EQ(tok->id_to_token(2), "<|im_end|>");
  EXPECT_EQ(tok->data().digits, DigitSplit::kIndividual);
  EXPECT_NE(tok->chat_template().find("<|im_start|>"), std::string::npos);
  const json fixture = read_fixture();
  ASSERT_GT(fixture["cases"].size(), 100u);
  expect_matches_hf(*tok, fixture, "from_gguf");
}

TEST_F(SmolLm2Tokenizer, SpecialTokensAndDigits) {
  const auto tok = BpeTokenizer::from_gguf(GgufFile::open(smollm2_path()));
  const std::vector<int32_t> ids = tok->encode("<|im_start|>user\nHi<|im_end|>");
  ASSERT_GE(ids.size(), 3u);
  EXPECT_EQ(ids.front(), 1);
  EXPECT_EQ(ids.back(), 2);
  // Digits are single tokens each: "2024" is 4 ids.
  EXPECT_EQ(tok->encode("2024").size(), 4u);
  EXPECT_EQ(tok->decode(tok->encode("2024")), "2024");
}

TEST_F(SmolLm2Tokenizer, RoundTrip) {
  const auto tok = BpeTokenizer::from_gguf(GgufFile::open(smollm2_path()));
  for (const json& c : read_fixture()["cases"]) {
    const std::string text = c["text"].get<std::string>();
    if (text.find('\x00') != std::string::npos) continue;
    EXPECT_EQ(tok->decode(tok->encode(text)), text) << json(text).dump();
  }
}

TEST_F(SmolLm2Tokenizer, LoadTokenizerAndIdentityOfGgufPath) {
  const auto tok = load_tokenizer(smollm2_path());
  EXPECT_EQ(tok->vocab_size(), 49152);
  EXPECT_EQ(tok->eos_id(), 2);
  const std::string id = tokenizer_identity(smollm2_path());
  EXPECT_EQ(id.rfind("gguf:98362432:", 0), 0u) << id;
  EXPECT_EQ(id, tokenizer_identity(smollm2_path()));
}

TEST_F(SmolLm2Tokenizer, SavedTokenizerJsonReloadsIdentically) {
  const auto tok = BpeTokenizer::from_gguf(GgufFile::open(smollm2_path()));
  const std::string path = (dir_ / "tokenizer.json").string();
  tok->save_tokenizer_json(path);
  write_tokenizer_config_json((dir_ / "tokenizer_config.json").string(), *tok, tok->chat_template());

  const auto back = BpeTokenizer::from_tokenizer_json(path);
  EXPECT_EQ(back->vocab_size(), 49152);
  EXPECT_EQ(back->data().digits, DigitSplit::kIndividual);
  EXPECT_EQ(back->eos_id(), 2);  // from tokenizer_config.json
  EXPECT_EQ(back->bos_id(), 1);
  EXPECT_EQ(back->chat_template(), tok->chat_template());
  expect_matches_hf(*back, read_fixture(), "tokenizer.json");

  // The directory loads through load_tokenizer too, with the same identity each time.
  EXPECT_EQ(load_tokenizer(dir_.string())->eos_id(), 2);
  if (const char* keep = std::getenv("TEMPER_KEEP_TOKENIZER_DIR")) {  // for the Python check
    fs::create_directories(keep);
    fs::copy(dir_, keep, fs::copy_options::overwrite_existing | fs::copy_options::recursive);
  }
}

// ---------------------------------------------------------------- crafted files

// GGUF bytes, little-endian: header, key/value pairs, no tensors.
struct Gguf {
  std::string b;
  uint64_t n_kv = 0;
  template <class T>
  void put(T v) {
    b.append(reinterpret_cast<const char*>(&v), sizeof(T));
  }
  void str(const std::string& s) {
    put<uint64_t>(s.size());
    b += s;
  }
  Gguf& kv_string(const std::string& k, const std::string& v) {
    str(k), put<uint32_t>(8), str(v), ++n_kv;
    return *this;
  }
  Gguf& kv_u32(const std::string& k, uint32_t v) {
    str(k), put<uint32_t>(4), put<uint32_t>(v), ++n_kv;
    return *this;
  }
  Gguf& kv_bool(const std::string& k, bool v) {
    str(k), put<uint32_t>(7), put<uint8_t>(v), ++n_kv;
    return *this;
  }
  Gguf& kv_strings(const std::string& k, const std::vector<std::string>& v) {
    str(k), put<uint32_t>(9), put<uint32_t>(8), put<uint64_t>(v.size()), ++n_kv;
    for (const std::string& s : v) str(s);
    return *this;
  }
  Gguf& kv_i32s(const std::string& k, const std::vector<int32_t>& v) {
    str(k), put<uint32_t>(9), put<uint32_t>(5), put<uint64_t>(v.size()), ++n_kv;
    for (int32_t x : v) put<int32_t>(x);
    return *this;
  }
  std::string bytes() const {
    Gguf h;
    h.b = "GGUF";
    h.put<uint32_t>(3), h.put<uint64_t>(0), h.put<uint64_t>(n_kv);
    return h.b + b;
  }
};

// A tiny byte-level vocabulary: the 256 byte chars (ids = the bytes), "he", "hel", "hello", a
// control token, a user-defined one, "12" and "hell".
Gguf tiny(const std::string& pre = "gpt2", const std::string& model = "gpt2") {
  std::vector<std::string> tokens;
  for (int b = 0; b < 256; ++b) tokens.push_back(byte_to_unicode(static_cast<unsigned char>(b)));
  for (const char* t : {"he", "hel", "hello", "<|end|>", "<tool>", "12", "hell"}) tokens.push_back(t);
  std::vector<int32_t> types(tokens.size(), 1);
  types[259] = 3, types[260] = 4;
  Gguf g;
  g.kv_string("tokenizer.ggml.model", model).kv_string("tokenizer.ggml.pre", pre);
  g.kv_strings("tokenizer.ggml.tokens", tokens).kv_i32s("tokenizer.ggml.token_type", types);
  g.kv_strings("tokenizer.ggml.merges", {"h e", "he l", "hel l", "hell o", "1 2"});
  return g;
}

class CraftedGguf : public TempDir {
 protected:
  std::string write(const Gguf& g) const {
    const std::string path = (dir_ / "t.gguf").string();
    std::ofstream(path, std::ios::binary) << g.bytes();
    return path;
  }
  // from_gguf must throw an InputError naming the file and `key`.
  void expect_error(const Gguf& g, const std::string& key) const {
    const std::string path = write(g);
    try {
      BpeTokenizer::from_gguf(GgufFile::open(path));
      ADD_FAILURE() << "no error; expected one on " << key;
    } catch (const InputError& e) {
      EXPECT_EQ(e.file(), path) << e.what();
      EXPECT_EQ(e.field(), key) << e.what();
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
    }
  }
};

TEST_F(CraftedGguf, TinyVocabulary) {
  Gguf g = tiny();
  g.kv_u32("tokenizer.ggml.eos_token_id", 259);
  const auto tok = BpeTokenizer::from_gguf(GgufFile::open(write(g)));
  EXPECT_EQ(tok->vocab_size(), 263);
  EXPECT_EQ(tok->eos_id(), 259);
  EXPECT_EQ(tok->bos_id(), -1);
  const int32_t sp = tok->token_to_id(byte_to_unicode(' '));
  EXPECT_EQ(tok->encode("hello<|end|> he<tool>"),
            (std::vector<int32_t>{258, 259, sp, 256, 260}));
  EXPECT_EQ(tok->decode({258, 259, 260}), "hello<|end|><tool>");
  EXPECT_EQ(tok->encode("a12"), (std::vector<int32_t>{'a', 261}));  // tokens 0..255 are the bytes
}

TEST_F(CraftedGguf, SmollmPreSplitsDigits) {
  const auto gpt2 = BpeTokenizer::from_gguf(GgufFile::open(write(tiny("gpt2"))));
  const auto smollm = BpeTokenizer::from_gguf(GgufFile::open(write(tiny("smollm"))));
  EXPECT_EQ(gpt2->data().digits, DigitSplit::kNone);
  EXPECT_EQ(smollm->data().digits, DigitSplit::kIndividual);
  EXPECT_EQ(gpt2->encode(" 12"), (std::vector<int32_t>{' ', 261}));  // " 12": space, then "12"
  EXPECT_EQ(smollm->encode(" 12"), (std::vector<int32_t>{' ', '1', '2'}));
}

TEST_F(CraftedGguf, NoTokenizerKeys) {
  const std::string small = test::fixture("gguf/small.gguf");
  try {
    BpeTokenizer::from_gguf(GgufFile::open(small));
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_EQ(e.file(), small);
    EXPECT_EQ(e.field(), "tokenizer.ggml.model") << e.what();
  }
  Gguf g;
  g.kv_string("tokenizer.ggml.model", "gpt2");
  expect_error(g, "tokenizer.ggml.tokens");
  Gguf m = Gguf();
  m.kv_string("tokenizer.ggml.model", "gpt2").kv_strings("tokenizer.ggml.tokens", {"a", "b"});
  expect_error(m, "tokenizer.ggml.merges");
}

TEST_F(CraftedGguf, RejectedInputs) {
  expect_error(tiny("gpt2", "llama"), "tokenizer.ggml.model");
  expect_error(tiny("qwen2"), "tokenizer.ggml.pre");
  expect_error(tiny().kv_bool("tokenizer.ggml.add_bos_token", true), "tokenizer.ggml.add_bos_token");
  expect_error(tiny().kv_u32("tokenizer.ggml.eos_token_id", 263), "tokenizer.ggml.eos_token_id");
  Gguf bad_merge = Gguf();
  bad_merge.kv_string("tokenizer.ggml.model", "gpt2").kv_strings("tokenizer.ggml.tokens", {"a", "b"});
  bad_merge.kv_strings("tokenizer.ggml.merges", {"a c"});
  expect_error(bad_merge, "tokenizer.ggml.merges");
  Gguf bad_types = Gguf();
  bad_types.kv_string("tokenizer.ggml.model", "gpt2").kv_strings("tokenizer.ggml.tokens", {"a", "b"});
  bad_types.kv_i32s("tokenizer.ggml.token_type", {1});
  expect_error(bad_types, "tokenizer.ggml.token_type");
}

// ---------------------------------------------------------------- tokenizer.json pre-tokenizer Sequence

TEST_F(TempDir, TokenizerJsonSequenceOfDigitsAndByteLevel) {
  std::ifstream in(test::fixture("tokenizer/tokenizer.json"), std::ios::binary);
  json spec = json::parse(in);
  const json byte_level = spec["pre_tokenizer"];
  auto load = [&](const json& pre) {
    spec["pre_tokenizer"] = pre;
    const std::string path = (dir_ / "tokenizer.json").string();
    std::ofstream(path, std::ios::binary) << spec.dump();
    return BpeTokenizer::from_tokenizer_json(path);
  };
  const json digits_true = {{"type", "Digits"}, {"individual_digits", true}};
  const json digits_false = {{"type", "Digits"}, {"individual_digits", false}};
  const auto individual = load({{"type", "Sequence"}, {"pretokenizers", {digits_true, byte_level}}});
  EXPECT_EQ(individual->data().digits, DigitSplit::kIndividual);
  const auto runs = load({{"type", "Sequence"}, {"pretokenizers", {digits_false, byte_level}}});
  EXPECT_EQ(runs->data().digits, DigitSplit::kRuns);
  // ByteLevel's add_prefix_space applies to each Digits piece, as HF does:
  // Sequence[Digits(true), ByteLevel(add_prefix_space=true)] cuts "ab12" into " ab", " 1", " 2".
  json prefixed = byte_level;
  prefixed["add_prefix_space"] = true;
  const auto plain = load(byte_level);
  std::vector<int32_t> want;
  for (const char* piece : {" ab", " 1", " 2"}) {
    const std::vector<int32_t> ids = plain->encode(piece);
    want.insert(want.end(), ids.begin(), ids.end());
  }
  EXPECT_EQ(load({{"type", "Sequence"}, {"pretokenizers", {digits_true, prefixed}}})->encode("ab12"), want);
  // Saved and reloaded, the pre-tokenizer is kept.
  individual->save_tokenizer_json((dir_ / "saved.json").string());
  EXPECT_EQ(BpeTokenizer::from_tokenizer_json((dir_ / "saved.json").string())->data().digits,
            DigitSplit::kIndividual);
  for (const json& other : {json{{"type", "Sequence"}, {"pretokenizers", {byte_level, digits_true}}},
                            json{{"type", "Sequence"}, {"pretokenizers", {digits_true}}},
                            json{{"type", "Digits"}, {"individual_digits", true}}}) {
    try {
      load(other);
      ADD_FAILURE() << "accepted " << other.dump();
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.field()).find("pre_tokenizer"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace temper
