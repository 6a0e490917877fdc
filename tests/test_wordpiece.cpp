// WordPieceTokenizer against HF `tokenizers`: tests/fixtures/wordpiece/cases.json holds the ids
// HF gives for ~330 texts with all-MiniLM-L6-v2's tokenizer (tools/make_wordpiece_fixture.py):
// every text, pair and truncation must match exactly, through tokenizer.json and vocab.txt, and
// under edited normalizers. The minilm files come from tools/fetch_minilm.sh (.cache/minilm);
// those tests skip without them. A tiny in-test vocabulary covers the model, decoding and the
// rejection of bad files everywhere.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "runtime/data/wordpiece_tokenizer.h"
#include "runtime/error.h"

namespace temper {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kMiniLm = std::string(TEMPER_SOURCE_DIR) + "/.cache/minilm";

json read_json(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  return json::parse(in);
}

const json& cases() {
  static const json j = read_json(std::string(TEMPER_SOURCE_DIR) + "/tests/fixtures/wordpiece/cases.json");
  return j;
}

// A scratch directory under the test temp dir, named after the running test, emptied when a
// test first asks for it (files left by an earlier run would change what the loaders see).
fs::path temp_dir() {
  static std::string last_test;
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const fs::path dir = fs::path(::testing::TempDir()) / "temper_test_wordpiece" / info->name();
  if (last_test != info->name()) fs::remove_all(dir), last_test = info->name();
  fs::create_directories(dir);
  return dir;
}

std::string write_file(const std::string& name, const std::string& content) {
  const std::string path = (temp_dir() / name).string();
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

std::vector<int32_t> ids_of(const json& j) { return j.get<std::vector<int32_t>>(); }

std::string quoted(const std::string& text) { return json(text).dump(); }

// HF's encoding of one text with special tokens: [CLS] ids [SEP] (the fixture script asserts it).
std::vector<int32_t> with_specials(const json& ids) {
  std::vector<int32_t> out{101};
  for (int32_t id : ids_of(ids)) out.push_back(id);
  out.push_back(102);
  return out;
}

// bert_normalize under `config` must give HF's normalizer output for every case; returns how
// many did.
int count_normalized_matches(const BertNormalizerConfig& config, const json& cases) {
  int matched = 0;
  for (const json& c : cases) {
    const std::string text = c["text"];
    const std::string got = u32_to_utf8(bert_normalize(utf8_to_u32(text), config));
    EXPECT_EQ(got, c["normalized"].get<std::string>()) << "text: " << quoted(text);
    matched += got == c["normalized"].get<std::string>();
  }
  return matched;
}

// `fn` must throw an InputError naming `file` and a field containing `field`.
void expect_input_error(const std::function<void()>& fn, const std::string& file, const std::string& field) {
  try {
    fn();
    ADD_FAILURE() << "no InputError for " << file << " (" << field << ")";
  } catch (const InputError& e) {
    EXPECT_EQ(e.file(), file) << e.what();
    EXPECT_NE(e.field().find(field), std::string::npos) << e.what();
  }
}

// ---- a tiny tokenizer.json that needs no downloaded files ----

json tiny_spec() {
  json vocab = json::object();
  const char* tokens[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un",  "##aff", "##able", "hello",
                          ",",     "world", "!",     "##s",   "a",      "##b", "cafe",  "中"};
  for (int i = 0; i < static_cast<int>(std::size(tokens)); ++i) vocab[tokens[i]] = i;
  json added = json::array();
  for (int i = 0; i < 5; ++i) {
    added.push_back({{"id", i},
                     {"content", tokens[i]},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
  }
  return {
      {"version", "1.0"},
      {"added_tokens", added},
      {"normalizer",
       {{"type", "BertNormalizer"},
        {"clean_text", true},
        {"handle_chinese_chars", true},
        {"strip_accents", nullptr},
        {"lowercase", true}}},
      {"pre_tokenizer", {{"type", "BertPreTokenizer"}}},
      {"post_processor", {{"type", "BertProcessing"}, {"sep", {"[SEP]", 3}}, {"cls", {"[CLS]", 2}}}},
      {"decoder", {{"type", "WordPiece"}, {"prefix", "##"}, {"cleanup", true}}},
      {"model",
       {{"type", "WordPiece"},
        {"unk_token", "[UNK]"},
        {"continuing_subword_prefix", "##"},
        {"max_input_chars_per_word", 100},
        {"vocab", vocab}}},
  };
}

WordPieceTokenizer tiny_tokenizer(const std::function<void(json&)>& edit = {}) {
  json spec = tiny_spec();
  if (edit) edit(spec);
  return WordPieceTokenizer::from_tokenizer_json(write_file("tokenizer.json", spec.dump()));
}

TEST(WordPieceTiny, GreedyLongestMatchFirst) {
  const WordPieceTokenizer tok = tiny_tokenizer();
  EXPECT_EQ(tok.encode("Unaffable, hello World!"), (std::vector<int32_t>{5, 6, 7, 9, 8, 10, 11}));
  EXPECT_EQ(tok.tokenize("unaffables"), (std::vector<std::string>{"un", "##aff", "##able", "##s"}));
  EXPECT_EQ(tok.encode("unx"), (std::vector<int32_t>{1}));  // an unmatched rest: the word is [UNK]
  EXPECT_EQ(tok.encode("ab abb ba"), (std::vector<int32_t>{13, 14, 13, 14, 14, 1}));
  EXPECT_EQ(tok.encode("Café 中中"), (std::vector<int32_t>{15, 16, 16}));    // accents stripped, CJK split
  EXPECT_EQ(tok.encode(std::string(100, 'a')), std::vector<int32_t>(1, 1));  // no "##a"
  EXPECT_EQ(tok.encode("hello[SEP]world"), (std::vector<int32_t>{8, 3, 10}));
  EXPECT_EQ(tok.encode(""), std::vector<int32_t>());
  EXPECT_EQ(tok.encode("\xff"
                       "hello\xc3"),
            (std::vector<int32_t>{8}));  // ill-formed UTF-8 -> U+FFFD, dropped
}

TEST(WordPieceTiny, MaxInputCharsPerWord) {
  const WordPieceTokenizer tok = tiny_tokenizer([](json& s) { s["model"]["max_input_chars_per_word"] = 4; });
  EXPECT_EQ(tok.encode("abbb abbbb"), (std::vector<int32_t>{13, 14, 14, 14, 1}));
}

TEST(WordPieceTiny, SpecialIdsAndTemplate) {
  const WordPieceTokenizer tok = tiny_tokenizer();
  EXPECT_EQ(tok.cls_id(), 2);
  EXPECT_EQ(tok.sep_id(), 3);
  EXPECT_EQ(tok.pad_id(), 0);
  EXPECT_EQ(tok.unk_id(), 1);
  EXPECT_EQ(tok.mask_id(), 4);
  EXPECT_EQ(tok.eos_id(), -1);
  EXPECT_EQ(tok.vocab_size(), 17);
  EXPECT_EQ(tok.num_special_tokens(Sequences::kSingle), 2);
  EXPECT_EQ(tok.num_special_tokens(Sequences::kPair), 3);
  const std::string b = "world";
  const auto enc = tok.encode_for_classification("hello", &b, WordPieceTokenizer::kNoTruncation);
  EXPECT_EQ(enc.ids, (std::vector<int32_t>{2, 8, 3, 10, 3}));
  EXPECT_EQ(enc.token_type_ids, (std::vector<int32_t>{0, 0, 0, 1, 1}));
  EXPECT_EQ(enc.length, 5);
  EXPECT_THROW(tok.encode_for_classification("hello", &b, 2), Error);  // no room for 3 specials
  EXPECT_EQ(tok.encode_for_classification("hello", &b, 3).ids, (std::vector<int32_t>{2, 3, 3}));
}

TEST(WordPieceTiny, DecodeJoinsPiecesAndSkipsSpecials) {
  const WordPieceTokenizer tok = tiny_tokenizer();
  EXPECT_EQ(tok.decode({2, 5, 6, 7, 9, 8, 10, 11, 3}), "unaffable, hello world!");
  EXPECT_EQ(tok.decode({2, 8, 3}, SpecialTokens::kKeep), "[CLS] hello [SEP]");
  EXPECT_EQ(tok.decode({6, 8}), "##aff hello");
  EXPECT_THROW(tok.decode({17}), Error);
  EXPECT_THROW(tok.decode({-1}), Error);
}

TEST(WordPieceTiny, CopiesStayValid) {
  std::unique_ptr<WordPieceTokenizer> original = std::make_unique<WordPieceTokenizer>(tiny_tokenizer());
  const WordPieceTokenizer copy = *original;
  original.reset();
  EXPECT_EQ(copy.encode("hello [MASK] world"), (std::vector<int32_t>{8, 4, 10}));
}

TEST(WordPieceTiny, VocabTxtWithoutConfig) {
  const std::string path = write_file("vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\nHello\nhello\n##s\n");
  const WordPieceTokenizer lower = WordPieceTokenizer::from_vocab_txt(path);
  EXPECT_EQ(lower.encode("Hellos"), (std::vector<int32_t>{5, 6}));
  EXPECT_EQ(lower.mask_id(), -1);
  const WordPieceTokenizer cased = WordPieceTokenizer::from_vocab_txt(path, CaseMode::kKeepCase);
  EXPECT_EQ(cased.encode("Hellos [SEP]"), (std::vector<int32_t>{4, 6, 3}));
  EXPECT_EQ(cased.encode_for_classification("hello", nullptr, 16).ids, (std::vector<int32_t>{2, 5, 3}));
}

// ---- bad files ----

TEST(WordPieceBadFiles, TokenizerJsonFieldsAreChecked) {
  struct BadCase {
    const char* field;
    std::function<void(json&)> edit;
  };
  const BadCase bad[] = {
      {"model.vocab", [](json& s) { s["model"].erase("vocab"); }},
      {"model.type", [](json& s) { s["model"]["type"] = "BPE"; }},
      {"model.vocab[hello]", [](json& s) { s["model"]["vocab"]["hello"] = "eight"; }},
      {"model.vocab[hello]", [](json& s) { s["model"]["vocab"]["hello"] = 8.5; }},
      {"model.vocab[hello]", [](json& s) { s["model"]["vocab"]["hello"] = -3; }},
      {"model.vocab", [](json& s) { s["model"]["vocab"]["hello"] = 9; }},  // duplicate id
      {"model.vocab", [](json& s) { s["model"]["vocab"] = json::array(); }},
      {"model.unk_token", [](json& s) { s["model"]["unk_token"] = "<unk>"; }},
      {"model.max_input_chars_per_word", [](json& s) { s["model"]["max_input_chars_per_word"] = 0; }},
      {"model", [](json& s) { s.erase("model"); }},
      {"normalizer.type", [](json& s) { s["normalizer"]["type"] = "NFKC"; }},
      {"normalizer.lowercase", [](json& s) { s["normalizer"]["lowercase"] = "yes"; }},
      {"pre_tokenizer.type", [](json& s) { s["pre_tokenizer"]["type"] = "ByteLevel"; }},
      {"post_processor.type", [](json& s) { s["post_processor"]["type"] = "RobertaProcessing"; }},
      {"post_processor.cls",
       [](json& s) {
         s["post_processor"]["cls"] = {"[CLS]", 7};
       }},
      {"decoder.type", [](json& s) { s["decoder"]["type"] = "ByteLevel"; }},
      {"added_tokens[1].id", [](json& s) { s["added_tokens"][1]["id"] = 2; }},
      {"added_tokens[1].id", [](json& s) { s["added_tokens"][1]["id"] = "1"; }},
      {"added_tokens[0].single_word", [](json& s) { s["added_tokens"][0]["single_word"] = true; }},
      {"added_tokens[0].content", [](json& s) { s["added_tokens"][0]["content"] = ""; }},
      {"added_tokens", [](json& s) { s["added_tokens"] = json::object(); }},
  };
  for (const BadCase& c : bad) {
    json spec = tiny_spec();
    c.edit(spec);
    const std::string path = write_file("bad.json", spec.dump());
    SCOPED_TRACE(c.field);
    expect_input_error([&] { WordPieceTokenizer::from_tokenizer_json(path); }, path, c.field);
  }
}

TEST(WordPieceBadFiles, UnreadableFiles) {
  const std::string missing = (temp_dir() / "missing.json").string();
  expect_input_error([&] { WordPieceTokenizer::from_tokenizer_json(missing); }, missing, "file");
  const std::string broken = write_file("broken.json", "{\"model\": {");
  expect_input_error([&] { WordPieceTokenizer::from_tokenizer_json(broken); }, broken, "json");
  const std::string not_object = write_file("array.json", "[1, 2]");
  expect_input_error([&] { WordPieceTokenizer::from_tokenizer_json(not_object); }, not_object, "json");
}

TEST(WordPieceBadFiles, VocabTxt) {
  const std::string dup = write_file("vocab.txt", "[UNK]\n[CLS]\n[SEP]\nhello\nhello\n");
  expect_input_error([&] { WordPieceTokenizer::from_vocab_txt(dup); }, dup, "line 5");
  const std::string no_unk = write_file("vocab.txt", "[CLS]\n[SEP]\nhello\n");
  expect_input_error([&] { WordPieceTokenizer::from_vocab_txt(no_unk); }, no_unk, "vocab");
  const std::string bad_utf8 = write_file("vocab.txt", "[UNK]\n[CLS]\n[SEP]\nhel\xfflo\n");
  expect_input_error([&] { WordPieceTokenizer::from_vocab_txt(bad_utf8); }, bad_utf8, "line 4");
  const std::string ok = write_file("vocab.txt", "[UNK]\n[CLS]\n[SEP]\nhello\n");
  const std::string config = write_file("tokenizer_config.json", "{\"do_lower_case\": \"yes\"}");
  expect_input_error([&] { WordPieceTokenizer::from_vocab_txt(ok); }, config, "do_lower_case");
  const std::string missing = (temp_dir() / "none" / "vocab.txt").string();
  expect_input_error([&] { WordPieceTokenizer::from_vocab_txt(missing); }, missing, "file");
}

// ---- the normalizer alone against HF's (needs no downloaded files) ----

// all-MiniLM-L6-v2's BertNormalizer (every switch on, strip_accents null = lowercase) with a
// fixture variant's edits.
BertNormalizerConfig edited_config(const json& edit) {
  BertNormalizerConfig c;
  c.clean_text = edit.value("clean_text", true);
  c.handle_chinese_chars = edit.value("handle_chinese_chars", true);
  c.lowercase = edit.value("lowercase", true);
  c.strip_accents = edit.contains("strip_accents") && !edit["strip_accents"].is_null()
                        ? edit["strip_accents"].get<bool>()
                        : c.lowercase;
  return c;
}

TEST(WordPieceNormalizer, OutputMatchesHf) {
  const json& texts = cases()["texts"];
  EXPECT_EQ(count_normalized_matches(edited_config(json::object()), texts), static_cast<int>(texts.size()));
  for (const auto& [name, variant] : cases()["variants"].items()) {
    SCOPED_TRACE(name);
    EXPECT_EQ(count_normalized_matches(edited_config(variant["normalizer"]), variant["cases"]),
              static_cast<int>(variant["cases"].size()));
  }
}

TEST(WordPieceNormalizer, PreTokenizerSplitsOnSpaceAndPunctuation) {
  const std::vector<std::u32string> want = {U"don", U"'", U"t", U"stop",   U"\u00bf",
                                            U"que", U"?", U"a", U"\u2014", U"b"};
  EXPECT_EQ(bert_pre_tokenize(U"don't  stop\t\u00bfque? a\u2014b "), want);
}

// ---- all-MiniLM-L6-v2 against HF ----

class WordPieceMiniLm : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kMiniLm + "/tokenizer.json")) GTEST_SKIP() << "run tools/fetch_minilm.sh for " << kMiniLm;
  }
  static const WordPieceTokenizer& tok() {
    static const WordPieceTokenizer t = WordPieceTokenizer::from_tokenizer_json(kMiniLm + "/tokenizer.json");
    return t;
  }
};

// Every fixture text's ids (plain and with [CLS]/[SEP]) from `t`; returns how many matched,
// reporting the first mismatch in full.
int count_text_matches(const WordPieceTokenizer& t, const json& texts) {
  int matched = 0;
  for (const json& c : texts) {
    const std::string text = c["text"].get<std::string>();
    const auto plain = t.encode(text);
    const auto full = t.encode_for_classification(text, nullptr, WordPieceTokenizer::kNoTruncation);
    const bool ok = plain == ids_of(c["ids"]) && full.ids == with_specials(c["ids"]);
    if (!ok && matched >= 0) {
      EXPECT_EQ(plain, ids_of(c["ids"])) << "first mismatch, text: " << quoted(text);
      EXPECT_EQ(full.ids, with_specials(c["ids"])) << "first mismatch, text: " << quoted(text);
      matched = -1000000;  // report only the first
    }
    matched += ok;
  }
  return matched;
}

TEST_F(WordPieceMiniLm, EveryTextMatchesHf) {
  const json& texts = cases()["texts"];
  const int matched = count_text_matches(tok(), texts);
  EXPECT_EQ(matched, static_cast<int>(texts.size()));
  std::cout << "[ wordpiece ] " << matched << "/" << texts.size() << " texts match " << cases()["source"] << "\n";
}

TEST_F(WordPieceMiniLm, SpecialIds) {
  EXPECT_EQ(tok().vocab_size(), 30522);
  EXPECT_EQ(tok().cls_id(), 101);
  EXPECT_EQ(tok().sep_id(), 102);
  EXPECT_EQ(tok().pad_id(), 0);
  EXPECT_EQ(tok().unk_id(), 100);
  EXPECT_EQ(tok().mask_id(), 103);
}

TEST_F(WordPieceMiniLm, DecodeMatchesHf) {
  int checked = 0;
  for (const json& c : cases()["texts"]) {
    if (!c.contains("decoded")) continue;
    const std::vector<int32_t> ids = with_specials(c["ids"]);
    EXPECT_EQ(tok().decode(ids), c["decoded"].get<std::string>()) << "text: " << quoted(c["text"]);
    EXPECT_EQ(tok().decode(ids, SpecialTokens::kKeep), c["decoded_keep"].get<std::string>())
        << "text: " << quoted(c["text"]);
    ++checked;
  }
  EXPECT_GT(checked, 50);
}

TEST_F(WordPieceMiniLm, PairsMatchHf) {
  for (const json& c : cases()["pairs"]) {
    const std::string a = c["a"], b = c["b"];
    const auto enc = tok().encode_for_classification(a, &b, WordPieceTokenizer::kNoTruncation);
    EXPECT_EQ(enc.ids, ids_of(c["ids"])) << quoted(a) << " / " << quoted(b);
    EXPECT_EQ(enc.token_type_ids, ids_of(c["type_ids"])) << quoted(a) << " / " << quoted(b);
  }
}

TEST_F(WordPieceMiniLm, TruncationMatchesHf) {
  for (const json& c : cases()["truncation"]) {
    const std::string a = c["a"];
    const std::string b = c["b"].is_null() ? "" : c["b"].get<std::string>();
    const int64_t max_len = c["max_len"];
    const auto enc = tok().encode_for_classification(a, c["b"].is_null() ? nullptr : &b, max_len);
    EXPECT_EQ(enc.ids, ids_of(c["ids"])) << quoted(a) << " / " << c["b"].dump() << " max_len " << max_len;
    EXPECT_EQ(enc.token_type_ids, ids_of(c["type_ids"])) << quoted(a) << " / " << c["b"].dump();
    EXPECT_LE(enc.length, max_len);
  }
}

TEST_F(WordPieceMiniLm, NormalizerVariantsMatchHf) {
  const json spec = read_json(kMiniLm + "/tokenizer.json");
  for (const auto& [name, variant] : cases()["variants"].items()) {
    json edited = spec;
    edited["normalizer"].update(variant["normalizer"]);
    const auto t = WordPieceTokenizer::from_tokenizer_json(write_file(name + ".json", edited.dump()));
    SCOPED_TRACE(name);
    int matched = 0;
    for (const json& c : variant["cases"]) {
      const std::string text = c["text"];
      const auto ids = t.encode(text);
      EXPECT_EQ(ids, ids_of(c["ids"])) << "text: " << quoted(text);
      matched += ids == ids_of(c["ids"]);
    }
    EXPECT_EQ(matched, static_cast<int>(variant["cases"].size()));
  }
}

TEST_F(WordPieceMiniLm, VocabTxtMatchesTokenizerJson) {
  const WordPieceTokenizer from_txt = WordPieceTokenizer::from_vocab_txt(kMiniLm + "/vocab.txt");
  const json& texts = cases()["texts"];
  EXPECT_EQ(count_text_matches(from_txt, texts), static_cast<int>(texts.size()));
  EXPECT_EQ(from_txt.vocab_size(), tok().vocab_size());
  EXPECT_EQ(from_txt.pad_id(), 0);
  EXPECT_EQ(from_txt.mask_id(), 103);
  // Without tokenizer_config.json, CaseMode::kKeepCase is HF's cased normalizer.
  const fs::path bare = temp_dir() / "vocab.txt";
  fs::copy_file(kMiniLm + "/vocab.txt", bare, fs::copy_options::overwrite_existing);
  const WordPieceTokenizer cased = WordPieceTokenizer::from_vocab_txt(bare.string(), CaseMode::kKeepCase);
  for (const json& c : cases()["variants"]["cased"]["cases"]) {
    EXPECT_EQ(cased.encode(c["text"]), ids_of(c["ids"])) << "text: " << quoted(c["text"]);
  }
}

}  // namespace
}  // namespace temper
