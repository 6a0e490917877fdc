// BpeTokenizer against HF `tokenizers`: the ids in tests/fixtures/tokenizer/*expected.json were
// produced by tools/make_tokenizer_fixture.py with the Python package; every line must match
// exactly, through both loaders, plus round trips and rejection of bad files.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <functional>
#include <random>

#include "runtime/data/bpe_tokenizer.h"
#include "runtime/data/byte_level.h"
#include "runtime/data/unicode_tables.h"
#include "runtime/error.h"

namespace temper {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string fixture(const std::string& name) {
  return std::string(TEMPER_SOURCE_DIR) + "/tests/fixtures/tokenizer/" + name;
}

json read_json(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  return json::parse(in);
}

// A scratch file under the test temp dir, named after the running test.
std::string temp_path(const std::string& name) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const fs::path dir = fs::path(::testing::TempDir()) / "temper_test_tokenizer" / info->name();
  fs::create_directories(dir);
  return (dir / name).string();
}

std::string write_file(const std::string& name, const std::string& content) {
  const std::string path = temp_path(name);
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

// The fixture tokenizer.json, edited by `edit`, written to a scratch file.
std::string edited_tokenizer_json(const std::string& name, const std::function<void(json&)>& edit) {
  json spec = read_json(fixture("tokenizer.json"));
  edit(spec);
  return write_file(name, spec.dump());
}

std::vector<int32_t> ids_of(const json& j) { return j.get<std::vector<int32_t>>(); }

// Every case's `key` ids must equal encode(text), and decode(ids) HF's "decoded" (which is for
// the "ids" key); returns how many matched.
int expect_cases_match(const Tokenizer& tok, const json& cases, const std::string& key) {
  int matched = 0;
  for (const json& c : cases) {
    const std::string text = c["text"].get<std::string>();
    const std::vector<int32_t> ids = tok.encode(text);
    EXPECT_EQ(ids, ids_of(c[key])) << "text: " << json(text).dump();
    matched += ids == ids_of(c[key]);
    if (key == "ids" && c.contains("decoded")) {
      EXPECT_EQ(tok.decode(ids_of(c[key])), c["decoded"].get<std::string>())
          << "text: " << json(text).dump();
    }
  }
  return matched;
}

// `fn` must throw an InputError naming `file` and a field containing `field`.
void expect_input_error(const std::function<void()>& fn, const std::string& file,
                        const std::string& field) {
  try {
    fn();
    ADD_FAILURE() << "no InputError for " << file;
  } catch (const InputError& e) {
    EXPECT_EQ(e.file(), file);
    EXPECT_NE(std::string(e.what()).find(file), std::string::npos) << e.what();
    EXPECT_NE(e.field().find(field), std::string::npos)
        << "field '" << e.field() << "': " << e.what();
  }
}

class FixtureTokenizer : public ::testing::Test {
 protected:
  void SetUp() override { expected_ = read_json(fixture("expected.json")); }
  const json& cases() const { return expected_["cases"]; }
  json expected_;
};

TEST_F(FixtureTokenizer, TokenizerJsonMatchesHf) {
  auto tok = BpeTokenizer::from_tokenizer_json(fixture("tokenizer.json"));
  EXPECT_EQ(expect_cases_match(*tok, cases(), "ids"), static_cast<int>(cases().size()));
  EXPECT_EQ(tok->vocab_size(), 1000);
  EXPECT_EQ(tok->eos_id(), 0);
}

TEST_F(FixtureTokenizer, VocabMergesMatchesHf) {
  auto tok = BpeTokenizer::from_vocab_merges(fixture("vocab.json"), fixture("merges.txt"));
  EXPECT_EQ(expect_cases_match(*tok, cases(), "ids"), static_cast<int>(cases().size()));
  EXPECT_EQ(tok->vocab_size(), 1000);
  EXPECT_EQ(tok->eos_id(), 0);
}

TEST_F(FixtureTokenizer, StringMergesMatchHf) {
  // Older tokenizer.json files hold merges as "left right" strings instead of pairs.
  const std::string path = edited_tokenizer_json("tokenizer.json", [](json& spec) {
    for (json& m : spec["model"]["merges"]) {
      ASSERT_TRUE(m.is_array());
      m = m[0].get<std::string>() + " " + m[1].get<std::string>();
    }
  });
  auto tok = BpeTokenizer::from_tokenizer_json(path);
  EXPECT_EQ(expect_cases_match(*tok, cases(), "ids"), static_cast<int>(cases().size()));
}

TEST_F(FixtureTokenizer, AddPrefixSpaceMatchesHf) {
  const std::string path = edited_tokenizer_json("tokenizer.json", [](json& spec) {
    spec["pre_tokenizer"]["add_prefix_space"] = true;
  });
  auto tok = BpeTokenizer::from_tokenizer_json(path);
  EXPECT_EQ(expect_cases_match(*tok, cases(), "ids_prefix_space"),
            static_cast<int>(cases().size()));
}

TEST_F(FixtureTokenizer, AddedTokensMatchHf) {
  // lstrip / rstrip, non-special "normalized" tokens matched in HF's second pass.
  const json& variant = expected_["added_tokens_variant"];
  const std::string path = edited_tokenizer_json("tokenizer.json", [&](json& spec) {
    spec["added_tokens"] = variant["added_tokens"];
  });
  auto tok = BpeTokenizer::from_tokenizer_json(path);
  EXPECT_EQ(expect_cases_match(*tok, variant["cases"], "ids"),
            static_cast<int>(variant["cases"].size()));
  EXPECT_EQ(tok->vocab_size(), 1005);
  EXPECT_EQ(tok->token_to_id("<mask>"), 1000);
  EXPECT_EQ(tok->id_to_token(1002), "hello world");
  EXPECT_EQ(tok->decode({1002, 0}), "hello world<|endoftext|>");
}

TEST_F(FixtureTokenizer, TokenFreeTemplateAccepted) {
  // What transformers writes for GPT-2: a template that adds nothing to a single sequence.
  const std::string path = edited_tokenizer_json("tokenizer.json", [](json& spec) {
    spec["post_processor"] = json::parse(R"({"type": "Sequence", "processors": [
        {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
        {"type": "TemplateProcessing", "single": [{"Sequence": {"id": "A", "type_id": 0}}],
         "pair": [], "special_tokens": {}}]})");
  });
  auto tok = BpeTokenizer::from_tokenizer_json(path);
  EXPECT_EQ(expect_cases_match(*tok, cases(), "ids"), static_cast<int>(cases().size()));
}

TEST_F(FixtureTokenizer, RoundTrip) {
  auto tok = BpeTokenizer::from_tokenizer_json(fixture("tokenizer.json"));
  for (const json& c : cases()) {
    const std::string text = c["text"].get<std::string>();
    EXPECT_EQ(tok->decode(tok->encode(text)), text) << json(text).dump();
  }
}

TEST_F(FixtureTokenizer, TokenLookup) {
  auto tok = BpeTokenizer::from_tokenizer_json(fixture("tokenizer.json"));
  EXPECT_EQ(tok->token_to_id("<|endoftext|>"), 0);
  EXPECT_EQ(tok->id_to_token(0), "<|endoftext|>");
  EXPECT_EQ(tok->token_to_id("\xC4\xA0"), tok->encode(" ")[0]);  // "Ġ" stands for ' '
  EXPECT_EQ(tok->token_to_id("no such token"), -1);
  for (int32_t id = 0; id < tok->vocab_size(); ++id) {
    EXPECT_EQ(tok->token_to_id(tok->id_to_token(id)), id);
  }
}

TEST_F(FixtureTokenizer, UnknownIdThrows) {
  auto tok = BpeTokenizer::from_tokenizer_json(fixture("tokenizer.json"));
  EXPECT_THROW(tok->decode({5, tok->vocab_size()}), Error);
  EXPECT_THROW(tok->decode({-1}), Error);
  EXPECT_THROW(tok->id_to_token(1 << 30), Error);
}

TEST_F(FixtureTokenizer, PartialUtf8DecodesToReplacementChar) {
  auto tok = BpeTokenizer::from_tokenizer_json(fixture("tokenizer.json"));
  // "中" is E4 B8 AD; the byte tokens alone are not valid UTF-8.
  const int32_t e4 = tok->token_to_id(byte_to_unicode(0xE4));
  const int32_t b8 = tok->token_to_id(byte_to_unicode(0xB8));
  const int32_t ad = tok->token_to_id(byte_to_unicode(0xAD));
  EXPECT_EQ(tok->decode({e4, b8}), "\xEF\xBF\xBD");  // one maximal subpart -> one U+FFFD
  EXPECT_EQ(tok->decode({e4, b8, ad}), "中");
  EXPECT_EQ(tok->decode_bytes({e4, b8}), "\xE4\xB8");
  EXPECT_EQ(tok->decode({ad, e4}), "\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST_F(FixtureTokenizer, InvalidUtf8IsEncodedByteForByte) {
  auto tok = BpeTokenizer::from_tokenizer_json(fixture("tokenizer.json"));
  const std::string bad = "ok \xFF\xFE x\xE4\xB8 \xC0\xAF end\xF0\x9F\x98";
  EXPECT_EQ(tok->decode_bytes(tok->encode(bad)), bad);
  std::mt19937 rng(1234);
  for (int trial = 0; trial < 200; ++trial) {
    std::string bytes(rng() % 64, '\0');
    for (char& ch : bytes) ch = static_cast<char>(rng() % 256);
    EXPECT_EQ(tok->decode_bytes(tok->encode(bytes)), bytes);
  }
}

TEST_F(FixtureTokenizer, LongPieceRoundTrips) {
  auto tok = BpeTokenizer::from_tokenizer_json(fixture("tokenizer.json"));
  const std::string letters(200000, 'a'), spaces(100000, ' ');
  EXPECT_EQ(tok->decode(tok->encode(letters)), letters);
  EXPECT_EQ(tok->decode(tok->encode(spaces + "x" + spaces)), spaces + "x" + spaces);
}

TEST(Gpt2Tokenizer, MatchesHf) {
  const std::string dir = std::string(TEMPER_SOURCE_DIR) + "/.cache/gpt2-tokenizer/";
  if (!fs::exists(dir + "encoder.json") || !fs::exists(dir + "vocab.bpe")) {
    FAIL() << "GPT-2 tokenizer files missing in " << dir << ": run tools/fetch_gpt2_tokenizer.sh";
  }
  auto tok = BpeTokenizer::from_vocab_merges(dir + "encoder.json", dir + "vocab.bpe");
  EXPECT_EQ(tok->vocab_size(), 50257);
  EXPECT_EQ(tok->eos_id(), 50256);
  EXPECT_EQ(tok->encode("Hello world"), (std::vector<int32_t>{15496, 995}));
  const json cases = read_json(fixture("gpt2_expected.json"))["cases"];
  EXPECT_EQ(expect_cases_match(*tok, cases, "ids"), static_cast<int>(cases.size()));
  for (const json& c : cases) {
    const std::string text = c["text"].get<std::string>();
    EXPECT_EQ(tok->decode(tok->encode(text)), text) << json(text).dump();
  }
}

TEST(UnicodeTables, Classes) {
  EXPECT_TRUE(is_unicode_letter(U'é'));
  EXPECT_TRUE(is_unicode_letter(U'中'));
  EXPECT_TRUE(is_unicode_letter(0x1C89));  // Unicode 16.0, as in HF tokenizers 0.23
  EXPECT_FALSE(is_unicode_letter(U'1'));
  EXPECT_FALSE(is_unicode_letter(0x301));  // combining acute: Mn
  EXPECT_TRUE(is_unicode_number(U'٣'));
  EXPECT_TRUE(is_unicode_number(U'Ⅻ'));
  EXPECT_TRUE(is_unicode_number(U'½'));
  EXPECT_TRUE(is_unicode_whitespace(0x3000));
  EXPECT_TRUE(is_unicode_whitespace(0x85));
  EXPECT_FALSE(is_unicode_whitespace(0x200B));  // zero width space is not White_Space
  EXPECT_FALSE(is_unicode_whitespace(0x1C));    // although Python's isspace() says so
}

// ---- rejected inputs ----------------------------------------------------------------------

TEST(BadTokenizerFiles, MissingFile) {
  const std::string missing = temp_path("does_not_exist.json");
  expect_input_error([&] { BpeTokenizer::from_tokenizer_json(missing); }, missing, "file");
  expect_input_error([&] { BpeTokenizer::from_vocab_merges(missing, fixture("merges.txt")); },
                     missing, "file");
  const std::string no_merges = temp_path("merges.txt");
  expect_input_error([&] { BpeTokenizer::from_vocab_merges(fixture("vocab.json"), no_merges); },
                     no_merges, "file");
}

TEST(BadTokenizerFiles, CorruptJson) {
  const std::string path = write_file("tokenizer.json", R"({"model": {"type": "BPE", "vocab": {)");
  expect_input_error([&] { BpeTokenizer::from_tokenizer_json(path); }, path, "json");
  const std::string vocab = write_file("vocab.json", "[1, 2,");
  expect_input_error([&] { BpeTokenizer::from_vocab_merges(vocab, fixture("merges.txt")); }, vocab,
                     "json");
}

TEST(BadTokenizerFiles, UnsupportedModelType) {
  const std::string path = edited_tokenizer_json("tokenizer.json", [](json& spec) {
    spec["model"]["type"] = "WordPiece";
  });
  expect_input_error([&] { BpeTokenizer::from_tokenizer_json(path); }, path, "model.type");
}

TEST(BadTokenizerFiles, UnsupportedPipeline) {
  const std::string norm = edited_tokenizer_json("norm.json", [](json& spec) {
    spec["normalizer"] = {{"type", "NFC"}};
  });
  expect_input_error([&] { BpeTokenizer::from_tokenizer_json(norm); }, norm, "normalizer");
  const std::string pre = edited_tokenizer_json("pre.json", [](json& spec) {
    spec["pre_tokenizer"] = {{"type", "Whitespace"}};
  });
  expect_input_error([&] { BpeTokenizer::from_tokenizer_json(pre); }, pre, "pre_tokenizer");
  const std::string post = edited_tokenizer_json("post.json", [](json& spec) {
    spec["post_processor"] = json::parse(R"({"type": "TemplateProcessing", "single": [
        {"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}},
        {"Sequence": {"id": "A", "type_id": 0}}]})");
  });
  expect_input_error([&] { BpeTokenizer::from_tokenizer_json(post); }, post,
                     "post_processor.single");
  const std::string roberta = edited_tokenizer_json("roberta.json", [](json& spec) {
    spec["post_processor"] = {{"type", "RobertaProcessing"}};
  });
  expect_input_error([&] { BpeTokenizer::from_tokenizer_json(roberta); }, roberta,
                     "post_processor.type");
  const std::string dropout = edited_tokenizer_json("dropout.json", [](json& spec) {
    spec["model"]["dropout"] = 0.1;
  });
  expect_input_error([&] { BpeTokenizer::from_tokenizer_json(dropout); }, dropout, "model.dropout");
}

TEST(BadTokenizerFiles, MergeWithUnknownToken) {
  const std::string path = edited_tokenizer_json("tokenizer.json", [](json& spec) {
    spec["model"]["merges"][3] = json::array({"Ġ", "nonexistent"});
  });
  expect_input_error([&] { BpeTokenizer::from_tokenizer_json(path); }, path, "model.merges[3]");
  const std::string merges = write_file("merges.txt", "#version: 0.2\nĠ w\nzzz qqq\n");
  expect_input_error([&] { BpeTokenizer::from_vocab_merges(fixture("vocab.json"), merges); },
                     merges, "line 3");
  const std::string malformed = write_file("malformed.txt", "#version: 0.2\nĠ w extra\n");
  expect_input_error([&] { BpeTokenizer::from_vocab_merges(fixture("vocab.json"), malformed); },
                     malformed, "line 2");
}

TEST(BadTokenizerFiles, DuplicateIds) {
  const std::string path = edited_tokenizer_json("tokenizer.json", [](json& spec) {
    spec["model"]["vocab"]["zzzz"] = 5;
  });
  expect_input_error([&] { BpeTokenizer::from_tokenizer_json(path); }, path, "model.vocab");
  const std::string added = edited_tokenizer_json("added.json", [](json& spec) {
    spec["added_tokens"].push_back({{"id", 7}, {"content", "<new>"}, {"special", true}});
  });
  expect_input_error([&] { BpeTokenizer::from_tokenizer_json(added); }, added, "added_tokens[1]");
  const std::string vocab = write_file("vocab.json", R"({"a": 0, "b": 1, "c": 1})");
  expect_input_error([&] { BpeTokenizer::from_vocab_merges(vocab, fixture("merges.txt")); }, vocab,
                     "vocab");
}

TEST(BadTokenizerFiles, BadIdType) {
  const std::string path = edited_tokenizer_json("tokenizer.json", [](json& spec) {
    spec["model"]["vocab"]["zzzz"] = "twelve";
  });
  expect_input_error([&] { BpeTokenizer::from_tokenizer_json(path); }, path, "model.vocab[zzzz]");
}

}  // namespace
}  // namespace temper
