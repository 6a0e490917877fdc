// Labelled classification data (runtime/data/labelled_source.h): CSV quoting, TSV, JSONL / JSON
// arrays, label maps, the deterministic split, an InputError naming file and line for each kind of
// bad input, and the real sentiment data when tools/prepare_sentiment.sh has been run.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <set>

#include "runtime/data/labelled_source.h"
#include "runtime/error.h"

namespace temper {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> texts(const std::vector<LabelledExample>& ex) {
  std::vector<std::string> out;
  for (const auto& e : ex) out.push_back(e.text);
  return out;
}

std::vector<int32_t> label_ids(const std::vector<LabelledExample>& ex) {
  std::vector<int32_t> out;
  for (const auto& e : ex) out.push_back(e.label);
  return out;
}

std::vector<LabelledExample> parse(const std::string& path, const std::string& content, LabelMap* map = nullptr,
                                   const LabelledSourceConfig& cfg = {}) {
  return parse_labelled(path, content, cfg, map);
}

// Runs `fn`, expecting an InputError for `file` whose field is `field` and whose message holds `needle`.
void expect_input_error(const std::function<void()>& fn, const std::string& file, const std::string& field,
                        const std::string& needle) {
  try {
    fn();
  } catch (const InputError& e) {
    EXPECT_EQ(e.file(), file) << e.what();
    EXPECT_EQ(e.field(), field) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    return;
  }
  ADD_FAILURE() << "expected an InputError (" << file << ": " << field << ": " << needle << ")";
}

void expect_parse_error(const std::string& path, const std::string& content, const std::string& field,
                        const std::string& needle, const LabelledSourceConfig& cfg = {}) {
  expect_input_error([&] { parse(path, content, nullptr, cfg); }, path, field, needle);
}

TEST(LabelledCsv, QuotesCommasAndNewlines) {
  const std::string csv =
      "\xEF\xBB\xBFid,text,label\r\n"
      "1,\"Hello, world\",pos\r\n"
      "2,\"She said \"\"hi\"\"\nand left\",neg\r\n"
      "3,a 5\" screen,pos\r\n"
      "\r\n"
      "4,\"\"\"quoted\"\"\",\"neg\"";  // no final line break
  LabelMap map;
  auto ex = parse("data.csv", csv, &map);
  EXPECT_EQ(texts(ex),
            (std::vector<std::string>{"Hello, world", "She said \"hi\"\nand left", "a 5\" screen", "\"quoted\""}));
  EXPECT_EQ(map.names(), (std::vector<std::string>{"neg", "pos"}));
  EXPECT_EQ(label_ids(ex), (std::vector<int32_t>{1, 0, 1, 0}));
}

TEST(LabelledCsv, LinesCountPhysicalLinesInsideQuotes) {
  // The record on line 4 follows a field spanning lines 2-3, and is ragged.
  expect_parse_error("data.csv", "text,label\n\"two\nlines\",a\nonly one field\n", "line 4", "expected 2 fields");
}

TEST(LabelledCsv, EmptyLastFieldAndTrimmedLabel) {
  LabelMap map;
  auto ex = parse("d.csv", "label,text,extra\n  yes ,a,\nno,b,\n", &map);
  EXPECT_EQ(map.names(), (std::vector<std::string>{"no", "yes"}));
  EXPECT_EQ(label_ids(ex), (std::vector<int32_t>{1, 0}));
}

TEST(LabelledTsv, QuotesAreDataAndPairsWork) {
  LabelledSourceConfig cfg;
  cfg.text_field = "premise";
  cfg.text_b_field = "hypothesis";
  cfg.label_field = "gold";
  auto ex = parse("pairs.tsv", "gold\tpremise\thypothesis\r\n1\t\"a, b\t\"c\"\r\n0\tx\t\n", nullptr, cfg);
  ASSERT_EQ(ex.size(), 2u);
  EXPECT_EQ(ex[0].text, "\"a, b");
  EXPECT_EQ(ex[0].text_b, "\"c\"");
  EXPECT_EQ(ex[1].text_b, "");  // an empty second segment is allowed
  EXPECT_EQ(label_ids(ex), (std::vector<int32_t>{1, 0}));
}

TEST(LabelledJsonl, StringAndIntegerLabelsWithTextB) {
  LabelledSourceConfig cfg;
  cfg.text_b_field = "question";
  LabelMap map;
  auto ex = parse("qa.jsonl",
                  "{\"text\":\"t1\",\"question\":\"q1\",\"label\":2}\n\n"
                  "{\"label\":\"0\",\"question\":\"q2\",\"text\":\"t2\"}\r\n",
                  &map, cfg);
  EXPECT_EQ(map.size(), 3);  // numeric labels 0 and 2 map to themselves; 1 exists unseen
  EXPECT_EQ(label_ids(ex), (std::vector<int32_t>{2, 0}));
  EXPECT_EQ(ex[1].text_b, "q2");
  auto words = parse("w.jsonl", "{\"text\":\"a\",\"label\":\"spam\"}\n{\"text\":\"b\",\"label\":\"ham\"}\n");
  EXPECT_EQ(label_ids(words), (std::vector<int32_t>{1, 0}));
}

TEST(LabelledJsonl, JsonArrayFile) {
  auto ex = parse("d.json", " [{\"text\":\"a\",\"label\":1},{\"text\":\"b\",\"label\":0}]");
  EXPECT_EQ(texts(ex), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(label_ids(ex), (std::vector<int32_t>{1, 0}));
  expect_parse_error("d.json", "[{\"text\":\"a\",\"label\":1},{\"text\":\"\",\"label\":0}]", "item 2", "empty text");
}

TEST(LabelMapTest, DeterministicWhateverTheRowOrder) {
  LabelMap a, b;
  parse("a.csv", "text,label\nx,zeta\ny,alpha\nz,Mid\n", &a);
  parse("b.csv", "text,label\nz,Mid\nx,zeta\ny,alpha\nw,alpha\n", &b);
  EXPECT_EQ(a.names(), (std::vector<std::string>{"Mid", "alpha", "zeta"}));  // byte order
  EXPECT_EQ(a.names(), b.names());
}

TEST(LabelMapTest, NumericRule) {
  EXPECT_EQ(LabelMap::from_labels({"1", "0", "3"}).names(), (std::vector<std::string>{"0", "1", "2", "3"}));
  EXPECT_EQ(LabelMap::from_labels({"10", "9"}).id("10"), 10);
  // Not all plain non-negative integers: sorted names instead.
  EXPECT_EQ(LabelMap::from_labels({"1", "neg"}).names(), (std::vector<std::string>{"1", "neg"}));
  EXPECT_EQ(LabelMap::from_labels({"01", "1"}).names(), (std::vector<std::string>{"01", "1"}));
  EXPECT_EQ(LabelMap::from_labels({"-1", "1"}).names(), (std::vector<std::string>{"-1", "1"}));
  EXPECT_EQ(LabelMap::from_labels({"70000", "1"}).names(), (std::vector<std::string>{"1", "70000"}));
}

TEST(LabelMapTest, FixedMapIsReusedAndUnknownLabelsFail) {
  LabelMap map(std::vector<std::string>{"positive", "negative"});  // explicit order
  auto ex = parse("train.csv", "text,label\na,negative\nb,positive\n", &map);
  EXPECT_EQ(label_ids(ex), (std::vector<int32_t>{1, 0}));
  expect_input_error([&] { parse("valid.csv", "text,label\na,negative\nb,neutral\n", &map); }, "valid.csv", "line 3",
                     "unknown label \"neutral\"");
  EXPECT_EQ(map.size(), 2);
  expect_input_error([] { LabelMap m(std::vector<std::string>{"a", "b", "a"}); }, "labels", "label 2", "duplicate");
}

TEST(LabelledBadInput, EachProblemNamesFileAndLine) {
  expect_parse_error("data.csv", "text,lab\na,b\n", "header", "no column \"label\"");
  expect_parse_error("data.csv", "text,label,text\na,b,c\n", "header", "column \"text\" appears twice");
  expect_parse_error("data.csv", "text,label\na,x\n  ,y\n", "line 3", "empty text");
  expect_parse_error("data.csv", "text,label\na,x\nb,\n", "line 3", "label missing");
  expect_parse_error("data.csv", "text,label\na,x\n\"open,y\nmore\n", "line 3", "unterminated quoted field");
  expect_parse_error("data.csv", "text,label\n\"a\"b,x\n", "line 2", "after a closing quote");
  expect_parse_error("data.csv", "text,label\na,x,extra\n", "line 2", "expected 2 fields, got 3");
  expect_parse_error("data.tsv", "text\tlabel\na\n", "line 2", "expected 2 fields, got 1");
  expect_parse_error("data.csv", "text,label\n", "data", "no examples");
  expect_parse_error("data.csv", "", "header", "empty");
  expect_parse_error("d.jsonl", "{\"text\":\"a\",\"label\":1}\n{\"text\":\"b\",\n", "line 2", "invalid JSON");
  expect_parse_error("d.jsonl", "{\"text\":\"a\",\"label\":1}\n\n{\"label\":1}\n", "line 3", "missing \"text\"");
  expect_parse_error("d.jsonl", "{\"text\":\"a\"}\n", "line 1", "label missing");
  expect_parse_error("d.jsonl", "{\"text\":\"a\",\"label\":0.5}\n", "line 1", "string or an integer");
  expect_parse_error("d.jsonl", "{\"text\":7,\"label\":0}\n", "line 1", "must be a string");
  expect_parse_error("d.jsonl", "[1]\n", "line 1", "expected a JSON object");  // lines, even if '[' first
  expect_parse_error("d.json", "[{\"text\":\"a\",\"label\":1}, 2]", "item 2", "expected a JSON object");
  expect_parse_error("d.json", "[{\"text\":\"a\",", "data", "invalid JSON");
  expect_parse_error("data.txt", "text,label\na,b\n", "format", "extension");
  LabelledSourceConfig pair;
  pair.text_b_field = "b";
  expect_parse_error("p.jsonl", "{\"text\":\"a\",\"label\":0}\n", "line 1", "missing \"b\"", pair);
  expect_parse_error("p.tsv", "text\tlabel\na\t0\n", "header", "no column \"b\"", pair);
}

TEST(LabelledFile, LoadsByExtensionAndReportsMissingFiles) {
  const fs::path dir = fs::temp_directory_path() / "temper_test_labelled_source";
  fs::create_directories(dir);
  const std::string path = (dir / "d.TSV").string();
  std::ofstream(path, std::ios::binary) << "label\ttext\npositive\tgood\nnegative\tbad\n";
  LabelMap map;
  auto ex = load_labelled_file(path, {}, &map);
  EXPECT_EQ(texts(ex), (std::vector<std::string>{"good", "bad"}));
  EXPECT_EQ(map.names(), (std::vector<std::string>{"negative", "positive"}));
  const std::string missing = (dir / "missing.csv").string();
  expect_input_error([&] { load_labelled_file(missing, {}, nullptr); }, missing, "path", "cannot open");
  fs::remove_all(dir);
}

std::vector<LabelledExample> numbered(size_t n) {
  std::vector<LabelledExample> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = {std::to_string(i), "", static_cast<int32_t>(i % 2)};
  return out;
}

std::vector<int> as_ints(const std::vector<LabelledExample>& ex) {
  std::vector<int> out;
  for (const auto& e : ex) out.push_back(std::stoi(e.text));
  return out;
}

TEST(LabelledSplit, DisjointCoveringExactProportionsInInputOrder) {
  auto s = split_labelled(numbered(1000), 0.1, 0.15, 7);
  EXPECT_EQ(s.train.size(), 750u);
  EXPECT_EQ(s.valid.size(), 100u);
  EXPECT_EQ(s.test.size(), 150u);
  std::set<int> seen;
  for (const auto* part : {&s.train, &s.valid, &s.test}) {
    std::vector<int> ids = as_ints(*part);
    EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
    seen.insert(ids.begin(), ids.end());
  }
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(LabelledSplit, DeterministicAndPortable) {
  auto a = split_labelled(numbered(20), 0.1, 0.2, 42), b = split_labelled(numbered(20), 0.1, 0.2, 42);
  EXPECT_EQ(as_ints(a.test), as_ints(b.test));
  EXPECT_EQ(as_ints(a.valid), as_ints(b.valid));
  // Pinned: splitmix64 + Fisher-Yates give these on every platform and standard library
  // (checked against an independent Python implementation of the same shuffle).
  EXPECT_EQ(as_ints(a.test), (std::vector<int>{3, 8, 11, 16}));
  EXPECT_EQ(as_ints(a.valid), (std::vector<int>{17, 18}));
  EXPECT_NE(as_ints(split_labelled(numbered(20), 0.1, 0.2, 43).test), as_ints(a.test));
}

TEST(LabelledSplit, EdgeCasesAndBadFractions) {
  auto none = split_labelled({}, 0.1, 0.1, 1);
  EXPECT_TRUE(none.train.empty() && none.valid.empty() && none.test.empty());
  auto all_train = split_labelled(numbered(5), 0, 0, 1);
  EXPECT_EQ(all_train.train.size(), 5u);
  expect_input_error([] { split_labelled(numbered(5), 0.5, 0.5, 1); }, "split", "fractions", "sum to less than 1");
  expect_input_error([] { split_labelled(numbered(5), -0.1, 0.2, 1); }, "split", "fractions", ">= 0");
}

TEST(LabelledSentimentData, PreparedSplitsLoad) {
  const fs::path dir = fs::path(TEMPER_SOURCE_DIR) / ".cache/data/sentiment";
  if (!fs::exists(dir / "train.tsv")) GTEST_SKIP() << "run tools/prepare_sentiment.sh first";
  LabelMap map;
  auto train = load_labelled_file((dir / "train.tsv").string(), {}, &map);
  EXPECT_EQ(map.names(), (std::vector<std::string>{"negative", "positive"}));
  EXPECT_GT(train.size(), 8000u);
  EXPECT_LT(train.size(), 9000u);
  size_t held_out = 0;
  for (const char* name : {"valid.tsv", "test.tsv"})
    held_out += load_labelled_file((dir / name).string(), {}, &map).size();
  EXPECT_EQ(train.size() + held_out, 10568u);  // 10,605 sentences less the 37 rated exactly 0
  EXPECT_EQ(map.size(), 2);
}

}  // namespace
}  // namespace temper
