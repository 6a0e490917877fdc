// Causal-LM data pipeline: reading text/JSONL, the token cache, window packing, the validation
// split and the resumable SequenceLoader, with a byte-level test tokenizer.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <random>
#include <set>

#include "runtime/data/packed_dataset.h"
#include "runtime/data/sequence_loader.h"
#include "runtime/data/text_source.h"
#include "runtime/data/token_cache.h"
#include "runtime/error.h"

namespace fs = std::filesystem;
using namespace temper;

namespace {

// Byte b -> id b + offset; eos = 256 + offset (or none); counts encode() calls.
class ByteTokenizer : public Tokenizer {
 public:
  explicit ByteTokenizer(int32_t offset = 0, bool has_eos = true) : offset_(offset), has_eos_(has_eos) {}
  std::vector<int32_t> encode(const std::string& text) const override {
    ++calls;
    std::vector<int32_t> ids;
    for (unsigned char c : text) ids.push_back(static_cast<int32_t>(c) + offset_);
    return ids;
  }
  std::string decode(const std::vector<int32_t>& ids) const override {
    std::string s;
    for (int32_t id : ids)
      if (id - offset_ < 256) s.push_back(static_cast<char>(id - offset_));
    return s;
  }
  int32_t vocab_size() const override { return 257 + offset_; }
  int32_t eos_id() const override { return has_eos_ ? 256 + offset_ : -1; }
  mutable std::atomic<int> calls{0};

 private:
  int32_t offset_;
  bool has_eos_;
};

constexpr int32_t kEos = 256;

class DataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    const std::string name = fmt::format("temper_test_data_{}_{}", static_cast<long>(::getpid()), info->name());
    dir_ = fs::temp_directory_path() / name;
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& content) const {
    std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }
  std::string cache_dir() const { return (dir_ / "cache").string(); }
  TokenCacheOptions cache_opts(const std::string& tokenizer_id = "byte") const {
    return TokenCacheOptions{cache_dir(), tokenizer_id, SourceFormat::Auto};
  }
  std::shared_ptr<const TokenizedSource> load(const std::string& path, const Tokenizer& tok) const {
    return std::make_shared<const TokenizedSource>(load_tokens(path, tok, TokenCacheOptions{}));
  }

  fs::path dir_;
};

std::vector<int32_t> ids_of(const std::string& s) {
  std::vector<int32_t> ids;
  for (unsigned char c : s) ids.push_back(c);
  return ids;
}

std::vector<int32_t> row(const Tensor& t, int64_t r) {
  const int64_t T = t.dim(1);
  const int32_t* p = t.data<int32_t>() + r * T;
  return std::vector<int32_t>(p, p + T);
}

template <class F>
std::string input_error_message(F&& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an InputError";
  return "";
}

std::string random_text(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, ' ');
  for (char& c : s) c = static_cast<char>('a' + rng() % 26);
  return s;
}

// Window index of each distinct window content (the random text makes them unique).
std::map<std::vector<int32_t>, int64_t> window_index(const PackedDataset& d) {
  std::map<std::vector<int32_t>, int64_t> m;
  const int64_t T = d.seq_len();
  std::vector<int32_t> tok(T), tgt(T);
  for (int64_t i = 0; i < d.num_windows(); ++i) {
    d.fill_window(i, tok.data(), tgt.data());
    m[tok] = i;
  }
  EXPECT_EQ(static_cast<int64_t>(m.size()), d.num_windows()) << "test windows must be distinct";
  return m;
}

}  // namespace

// ---------------------------------------------------------------- reading and packing

TEST_F(DataTest, TextFileIsOneDocumentFollowedByEos) {
  ByteTokenizer tok;
  auto src = load(write("a.txt", "abc"), tok);
  std::vector<int32_t> want = ids_of("abc");
  want.push_back(kEos);
  EXPECT_EQ(src->tokens.ids, want);
  EXPECT_EQ(src->tokens.mask, std::vector<uint8_t>(4, 1));
}

TEST_F(DataTest, PackingWindowsExactContent) {
  ByteTokenizer tok;
  auto src = load(write("a.txt", "abcdefghij"), tok);  // 10 bytes + eos = 11 tokens
  PackedDataset d = pack_windows(src, PackingOptions{4, -100});
  ASSERT_EQ(d.num_windows(), 2);  // floor((11 - 1) / 4); the tail "j<eos>" is dropped
  std::vector<int32_t> tok_row(4), tgt_row(4);
  EXPECT_EQ(d.fill_window(0, tok_row.data(), tgt_row.data()), 4);
  EXPECT_EQ(tok_row, ids_of("abcd"));
  EXPECT_EQ(tgt_row, ids_of("bcde"));
  d.fill_window(1, tok_row.data(), tgt_row.data());
  EXPECT_EQ(tok_row, ids_of("efgh"));  // stride T: window 1 starts at the last target of window 0
  EXPECT_EQ(tgt_row, ids_of("fghi"));

  // Exactly T+1 tokens make one window: "abc" + eos with T = 3.
  auto small = load(write("b.txt", "abc"), tok);
  PackedDataset one = pack_windows(small, PackingOptions{3, -100});
  ASSERT_EQ(one.num_windows(), 1);
  std::vector<int32_t> t3(3), g3(3);
  one.fill_window(0, t3.data(), g3.data());
  EXPECT_EQ(t3, ids_of("abc"));
  EXPECT_EQ(g3, (std::vector<int32_t>{'b', 'c', kEos}));
}

TEST_F(DataTest, PromptCompletionMasksPromptTargetsExactly) {
  ByteTokenizer tok;
  const std::string path = write("pc.jsonl",
                                 "{\"prompt\": \"ab\", \"completion\": \"cd\"}\n"
                                 "\n"
                                 "{\"text\": \"xy\"}\r\n");
  auto src = load(path, tok);
  // a b c d <eos> x y <eos>; prompt tokens a, b carry mask 0.
  EXPECT_EQ(src->tokens.mask, (std::vector<uint8_t>{0, 0, 1, 1, 1, 1, 1, 1}));
  PackedDataset d = pack_windows(src, PackingOptions{7, -100});
  ASSERT_EQ(d.num_windows(), 1);
  std::vector<int32_t> t(7), g(7);
  EXPECT_EQ(d.fill_window(0, t.data(), g.data()), 6);
  EXPECT_EQ(t, (std::vector<int32_t>{'a', 'b', 'c', 'd', kEos, 'x', 'y'}));
  EXPECT_EQ(g, (std::vector<int32_t>{-100, 'c', 'd', kEos, 'x', 'y', kEos}));

  PackedDataset d1 = pack_windows(src, PackingOptions{7, -1});  // configurable ignore index
  d1.fill_window(0, t.data(), g.data());
  EXPECT_EQ(g[0], -1);
  EXPECT_EQ(std::count(g.begin(), g.end(), -1), 1);
}

TEST_F(DataTest, NoEosTokenizerConcatenatesDocuments) {
  ByteTokenizer tok(0, /*has_eos=*/false);
  auto src = load(write("t.jsonl", "{\"text\":\"ab\"}\n{\"text\":\"\"}\n{\"text\":\"cd\"}\n"), tok);
  EXPECT_EQ(src->tokens.ids, ids_of("abcd"));  // the empty document adds nothing
}

// ---------------------------------------------------------------- token cache

TEST_F(DataTest, CacheIsWrittenOnceAndReused) {
  ByteTokenizer tok;
  const std::string path = write("a.jsonl", "{\"prompt\":\"hi\",\"completion\":\"there\"}\n{\"text\":\"more\"}\n");
  TokenizedSource first = load_tokens(path, tok, cache_opts());
  EXPECT_FALSE(first.from_cache);
  EXPECT_EQ(tok.calls.load(), 3);
  EXPECT_TRUE(fs::exists(first.cache_path));
  EXPECT_EQ(fs::path(first.cache_path).parent_path(), fs::path(cache_dir()));

  TokenizedSource second = load_tokens(path, tok, cache_opts());
  EXPECT_TRUE(second.from_cache);
  EXPECT_EQ(tok.calls.load(), 3) << "a valid cache must not tokenize again";
  EXPECT_EQ(second.tokens.ids, first.tokens.ids);
  EXPECT_EQ(second.tokens.mask, first.tokens.mask);
  EXPECT_EQ(second.cache_path, first.cache_path);

  // Only the cache file is left in the directory (no temporaries).
  int files = 0;
  for (const auto& e : fs::directory_iterator(cache_dir())) files += e.is_regular_file() ? 1 : 0;
  EXPECT_EQ(files, 1);

  // The file length follows the format: 64-byte header + N u16 ids + N mask bytes.
  EXPECT_EQ(fs::file_size(first.cache_path), kTokenCacheHeaderBytes + first.tokens.size() * 3);
}

TEST_F(DataTest, CacheRebuiltWhenSourceChanges) {
  ByteTokenizer tok;
  const std::string path = write("a.txt", "hello world");
  load_tokens(path, tok, cache_opts());
  write("a.txt", "HELLO world");  // same size, other content: only a content hash notices
  TokenizedSource again = load_tokens(path, tok, cache_opts());
  EXPECT_FALSE(again.from_cache);
  EXPECT_EQ(tok.calls.load(), 2);
  EXPECT_EQ(again.tokens.ids[0], 'H');
  EXPECT_TRUE(load_tokens(path, tok, cache_opts()).from_cache);  // the rebuilt cache is used next time
  EXPECT_EQ(tok.calls.load(), 2);
}

TEST_F(DataTest, CacheNotSharedAcrossTokenizers) {
  ByteTokenizer tok;
  const std::string path = write("a.txt", "hello");
  TokenizedSource a = load_tokens(path, tok, cache_opts("tok-A"));
  TokenizedSource b = load_tokens(path, tok, cache_opts("tok-B"));
  EXPECT_FALSE(b.from_cache);
  EXPECT_NE(a.cache_path, b.cache_path);
  EXPECT_EQ(tok.calls.load(), 2);
}

TEST_F(DataTest, WideVocabularyUsesU32Ids) {
  ByteTokenizer tok(70000);  // vocab 70257 > 65536
  const std::string path = write("a.txt", "xyz");
  TokenizedSource a = load_tokens(path, tok, cache_opts());
  TokenCacheHeader h;
  TokenStream t = read_token_cache(a.cache_path, &h);
  EXPECT_EQ(h.id_bytes, 4u);
  EXPECT_EQ(h.vocab_size, 70257);
  EXPECT_EQ(t.ids, (std::vector<int32_t>{70000 + 'x', 70000 + 'y', 70000 + 'z', 70256}));
  EXPECT_TRUE(load_tokens(path, tok, cache_opts()).from_cache);
}

class CorruptCacheTest : public DataTest {
 protected:
  // Builds the cache, applies `corrupt` to the file, checks read_token_cache names `field`, and
  // that load_tokens rebuilds it with the right tokens.
  template <class F>
  void expect_rebuilt(F&& corrupt, const std::string& field) {
    ByteTokenizer tok;
    const std::string path = write("a.txt", "some text to cache");
    TokenizedSource good = load_tokens(path, tok, cache_opts());
    corrupt(good.cache_path);
    try {
      read_token_cache(good.cache_path, nullptr);
      ADD_FAILURE() << "corrupt cache was accepted";
    } catch (const InputError& e) {
      EXPECT_EQ(e.file(), good.cache_path);
      EXPECT_EQ(e.field(), field) << e.what();
    }
    TokenizedSource again = load_tokens(path, tok, cache_opts());
    EXPECT_FALSE(again.from_cache);
    EXPECT_EQ(tok.calls.load(), 2);
    EXPECT_EQ(again.tokens.ids, good.tokens.ids);
    EXPECT_TRUE(load_tokens(path, tok, cache_opts()).from_cache);
  }
  static void patch(const std::string& file, std::streamoff off, const std::string& bytes) {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(off);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
};

TEST_F(CorruptCacheTest, Truncated) {
  expect_rebuilt([](const std::string& f) { fs::resize_file(f, fs::file_size(f) - 3); }, "num_tokens");
}
TEST_F(CorruptCacheTest, TruncatedHeader) {
  expect_rebuilt([](const std::string& f) { fs::resize_file(f, 10); }, "header");
}
TEST_F(CorruptCacheTest, BadMagic) {
  expect_rebuilt([](const std::string& f) { patch(f, 0, "XXXX"); }, "magic");
}
TEST_F(CorruptCacheTest, BadVersion) {
  expect_rebuilt([](const std::string& f) { patch(f, 8, std::string("\x07\0\0\0", 4)); }, "version");
}
TEST_F(CorruptCacheTest, IdBeyondVocab) {
  expect_rebuilt([](const std::string& f) { patch(f, kTokenCacheHeaderBytes + 2, "\xff\xff"); }, "token id");
}
TEST_F(CorruptCacheTest, FlippedPayloadByte) {  // a valid id, but not the one written: the checksum sees it
  expect_rebuilt([](const std::string& f) { patch(f, kTokenCacheHeaderBytes, "Z"); }, "payload_hash");
}

// ---------------------------------------------------------------- validation split

TEST_F(DataTest, ValidationSplitSizes) {
  ByteTokenizer tok;
  auto src = load(write("a.txt", std::string(40, 'x')), tok);  // 41 tokens, T = 4 -> 10 windows
  PackingOptions p{4, -100};
  auto sizes = [&](double frac) {
    DatasetSplit s = split_holdout(src, p, frac);
    return std::make_pair(s.train.num_windows(), s.val ? s.val->num_windows() : int64_t{-1});
  };
  EXPECT_EQ(sizes(0.0), std::make_pair(int64_t{10}, int64_t{-1}));
  EXPECT_EQ(sizes(0.1), std::make_pair(int64_t{9}, int64_t{1}));
  EXPECT_EQ(sizes(0.3), std::make_pair(int64_t{7}, int64_t{3}));   // not 4 despite 0.3 * 10 > 3 in fp
  EXPECT_EQ(sizes(0.25), std::make_pair(int64_t{7}, int64_t{3}));  // ceil(2.5)
  EXPECT_EQ(sizes(0.001), std::make_pair(int64_t{9}, int64_t{1}));  // at least one
  EXPECT_EQ(sizes(0.9), std::make_pair(int64_t{1}, int64_t{9}));
  EXPECT_NE(input_error_message([&] { split_holdout(src, p, 0.95); }).find("leaves none for training"),
            std::string::npos);
  EXPECT_NE(input_error_message([&] { split_holdout(src, p, 1.0); }).find("val_fraction"), std::string::npos);

  // The held-out windows are the last ones.
  DatasetSplit s = split_holdout(src, p, 0.2);
  PackedDataset all = pack_windows(src, p);
  std::vector<int32_t> a(4), b(4), ga(4), gb(4);
  s.val->fill_window(1, a.data(), ga.data());
  all.fill_window(9, b.data(), gb.data());
  EXPECT_EQ(a, b);
  EXPECT_EQ(ga, gb);
}

TEST_F(DataTest, LoadDatasetsWithSeparateValidationSource) {
  ByteTokenizer tok;
  DataConfig cfg;
  cfg.train_path = write("train.txt", std::string(40, 'a'));
  cfg.val_path = write("val.jsonl", "{\"text\": \"" + std::string(20, 'b') + "\"}\n");
  cfg.cache = cache_opts();
  cfg.packing = PackingOptions{4, -100};
  DatasetSplit s = load_datasets(cfg, tok);
  EXPECT_EQ(s.train.num_windows(), 10);
  ASSERT_TRUE(s.val.has_value());
  EXPECT_EQ(s.val->num_windows(), 5);  // 21 tokens
  EXPECT_EQ(s.val->source_path(), cfg.val_path);

  cfg.val_fraction = 0.1;
  EXPECT_NE(input_error_message([&] { load_datasets(cfg, tok); }).find("not both"), std::string::npos);
}

// ---------------------------------------------------------------- loader

TEST_F(DataTest, EpochPermutationIsDeterministicAndPortable) {
  std::vector<int64_t> p = epoch_permutation(100, 42, 0);
  std::vector<int64_t> sorted = p;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int64_t> iota(100);
  std::iota(iota.begin(), iota.end(), 0);
  EXPECT_EQ(sorted, iota);
  EXPECT_EQ(p, epoch_permutation(100, 42, 0));
  EXPECT_NE(p, epoch_permutation(100, 42, 1));
  EXPECT_NE(p, epoch_permutation(100, 43, 0));
  EXPECT_NE(p, iota);
  // Pinned values: the order must not change across platforms or releases (resumed runs rely on it).
  // std::mt19937_64 is fully specified by the standard and the Fisher-Yates step is our own.
  EXPECT_EQ(epoch_permutation(10, 1, 0), (std::vector<int64_t>{4, 6, 8, 9, 3, 5, 7, 2, 0, 1}));
  EXPECT_EQ(epoch_permutation(10, 1, 1), (std::vector<int64_t>{4, 3, 6, 5, 8, 7, 2, 0, 1, 9}));
  EXPECT_TRUE(epoch_permutation(0, 1, 0).empty());
  EXPECT_EQ(epoch_permutation(1, 1, 0), (std::vector<int64_t>{0}));
}

TEST_F(DataTest, LoaderEveryWindowOncePerEpochInSeededOrder) {
  ByteTokenizer tok;
  auto src = load(write("a.txt", random_text(8 * 23, 5)), tok);  // 185 tokens, T = 8 -> 23 windows
  PackedDataset d = pack_windows(src, PackingOptions{8, -100});
  ASSERT_EQ(d.num_windows(), 23);
  auto index = window_index(d);

  LoaderOptions opt{5, LoaderMode::Train, 11, 0, 1};
  SequenceLoader loader(d, opt);
  EXPECT_EQ(loader.batches_per_epoch(), 4);  // 23 / 5: the last 3 windows of each epoch are dropped
  EXPECT_EQ(loader.tokens_per_epoch(), 4 * 5 * 8);

  std::vector<std::vector<int64_t>> epochs(2);
  Batch b;
  for (int e = 0; e < 2; ++e) {
    for (int k = 0; k < 4; ++k) {
      ASSERT_TRUE(loader.next(b));
      EXPECT_EQ(b.epoch, static_cast<uint64_t>(e));
      ASSERT_EQ(b.tokens.shape(), (Shape{5, 8}));
      ASSERT_EQ(b.targets.shape(), (Shape{5, 8}));
      EXPECT_EQ(b.tokens.dtype(), DType::I32);
      EXPECT_EQ(b.num_targets, 5 * 8);
      for (int64_t r = 0; r < 5; ++r) epochs[e].push_back(index.at(row(b.tokens, r)));
    }
  }
  for (int e = 0; e < 2; ++e) {
    std::vector<int64_t> perm = epoch_permutation(23, 11, static_cast<uint64_t>(e));
    EXPECT_EQ(epochs[e], std::vector<int64_t>(perm.begin(), perm.begin() + 20));
    EXPECT_EQ(std::set<int64_t>(epochs[e].begin(), epochs[e].end()).size(), 20u);  // no repeats
  }
  EXPECT_NE(epochs[0], epochs[1]);

  SequenceLoader same(d, opt);  // same seed: same order
  for (int k = 0; k < 4; ++k) {
    same.next(b);
    for (int64_t r = 0; r < 5; ++r) EXPECT_EQ(index.at(row(b.tokens, r)), epochs[0][k * 5 + r]);
  }
}

TEST_F(DataTest, LoaderStateRestoreContinuesIdentically) {
  ByteTokenizer tok;
  auto src = load(write("a.txt", random_text(8 * 23, 6)), tok);
  PackedDataset d = pack_windows(src, PackingOptions{8, -100});
  LoaderOptions opt{3, LoaderMode::Train, 99, 0, 1};
  SequenceLoader a(d, opt);
  Batch ba, bb;
  for (int k = 0; k < 5; ++k) a.next(ba);  // mid-epoch (7 batches per epoch)
  const std::string saved = loader_state_to_json(a.state()).dump();
  EXPECT_EQ(a.state().epoch, 0u);
  EXPECT_EQ(a.state().position, 15);

  SequenceLoader b(d, opt);
  b.restore(loader_state_from_json(nlohmann::json::parse(saved), "ckpt.json"));
  for (int k = 0; k < 20; ++k) {  // crosses two epoch boundaries
    a.next(ba);
    b.next(bb);
    ASSERT_EQ(row(ba.tokens, 0), row(bb.tokens, 0)) << "batch " << k;
    ASSERT_EQ(ba.tokens.to_vector(), bb.tokens.to_vector());
    ASSERT_EQ(ba.targets.to_vector(), bb.targets.to_vector());
    ASSERT_EQ(ba.epoch, bb.epoch);
  }
  EXPECT_EQ(a.state().epoch, 3u);

  // A state from another seed or data set is refused.
  LoaderOptions other = opt;
  other.seed = 1;
  SequenceLoader c(d, other);
  EXPECT_NE(input_error_message([&] { c.restore(a.state()); }).find("seed"), std::string::npos);
  std::string msg = input_error_message(
      [&] { loader_state_from_json(nlohmann::json{{"epoch", 1}, {"seed", 2}}, "ckpt.json"); });
  EXPECT_NE(msg.find("ckpt.json"), std::string::npos);
  EXPECT_NE(msg.find("position"), std::string::npos);
}

TEST_F(DataTest, StateBetweenEpochsReadsNextEpoch) {
  ByteTokenizer tok;
  auto src = load(write("a.txt", random_text(8 * 6, 7)), tok);  // 6 windows
  SequenceLoader l(pack_windows(src, PackingOptions{8, -100}), LoaderOptions{3, LoaderMode::Train, 1, 0, 1});
  Batch b;
  l.next(b);
  l.next(b);
  EXPECT_EQ(l.state().epoch, 1u);
  EXPECT_EQ(l.state().position, 0);
}

TEST_F(DataTest, EvalLoaderVisitsAllWindowsInOrderOnce) {
  ByteTokenizer tok;
  auto src = load(write("a.txt", random_text(8 * 7, 8)), tok);  // 7 windows
  PackedDataset d = pack_windows(src, PackingOptions{8, -100});
  auto index = window_index(d);
  SequenceLoader l(d, LoaderOptions{3, LoaderMode::Eval, 0, 0, 1});
  EXPECT_EQ(l.batches_per_epoch(), 3);
  EXPECT_EQ(l.tokens_per_epoch(), 7 * 8);
  for (int pass = 0; pass < 2; ++pass) {
    std::vector<int64_t> seen, rows;
    Batch b;
    while (l.next(b)) {
      rows.push_back(b.tokens.dim(0));
      for (int64_t r = 0; r < b.tokens.dim(0); ++r) seen.push_back(index.at(row(b.tokens, r)));
    }
    EXPECT_EQ(rows, (std::vector<int64_t>{3, 3, 1}));  // the last batch is smaller
    EXPECT_EQ(seen, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6}));
    EXPECT_FALSE(l.next(b));
    l.reset();
  }
}

TEST_F(DataTest, ShardedLoadersSplitEachGlobalBatch) {
  ByteTokenizer tok;
  auto src = load(write("a.txt", random_text(8 * 13, 9)), tok);  // 13 windows
  PackedDataset d = pack_windows(src, PackingOptions{8, -100});
  auto index = window_index(d);
  SequenceLoader r0(d, LoaderOptions{2, LoaderMode::Train, 3, 0, 2});
  SequenceLoader r1(d, LoaderOptions{2, LoaderMode::Train, 3, 1, 2});
  EXPECT_EQ(r0.batches_per_epoch(), 3);  // 13 / (2 x 2)
  std::vector<int64_t> seen;
  Batch b;
  for (int k = 0; k < 3; ++k) {
    for (SequenceLoader* l : {&r0, &r1}) {
      l->next(b);
      for (int64_t r = 0; r < 2; ++r) seen.push_back(index.at(row(b.tokens, r)));
    }
  }
  std::vector<int64_t> perm = epoch_permutation(13, 3, 0);
  EXPECT_EQ(seen, std::vector<int64_t>(perm.begin(), perm.begin() + 12));

  std::vector<int64_t> eval_seen;
  for (int rank = 0; rank < 2; ++rank) {
    SequenceLoader e(d, LoaderOptions{4, LoaderMode::Eval, 0, rank, 2});
    while (e.next(b))
      for (int64_t r = 0; r < b.tokens.dim(0); ++r) eval_seen.push_back(index.at(row(b.tokens, r)));
  }
  std::sort(eval_seen.begin(), eval_seen.end());
  std::vector<int64_t> all(13);
  std::iota(all.begin(), all.end(), 0);
  EXPECT_EQ(eval_seen, all);
}

TEST_F(DataTest, BatchCountsNonIgnoredTargets) {
  ByteTokenizer tok;
  std::string lines;
  for (int i = 0; i < 4; ++i) lines += "{\"prompt\": \"pppp\", \"completion\": \"ccc\"}\n";  // 8 tokens each
  auto src = load(write("a.jsonl", lines), tok);
  SequenceLoader l(pack_windows(src, PackingOptions{8, -100}), LoaderOptions{3, LoaderMode::Eval, 0, 0, 1});
  Batch b;
  ASSERT_TRUE(l.next(b));
  const std::vector<float> tg = b.targets.to_vector();
  const auto kept = std::count_if(tg.begin(), tg.end(), [](float v) { return v != -100.0f; });
  EXPECT_EQ(b.num_targets, kept);
  EXPECT_EQ(b.num_targets, 3 * 4);  // per window: 3 completion tokens + eos
}

// ---------------------------------------------------------------- errors

TEST_F(DataTest, MissingFileIsInputError) {
  ByteTokenizer tok;
  const std::string path = (dir_ / "nope.txt").string();
  try {
    load_tokens(path, tok, cache_opts());
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_EQ(e.file(), path);
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos);
  }
}

TEST_F(DataTest, BadJsonLineNamesFileAndLine) {
  ByteTokenizer tok;
  const std::string path = write("bad.jsonl", "{\"text\": \"ok\"}\n\n{\"text\": oops}\n");
  std::string msg = input_error_message([&] { load_tokens(path, tok, cache_opts()); });
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("line 3"), std::string::npos) << msg;

  const std::string p2 = write("missing.jsonl", "{\"text\": \"ok\"}\n{\"body\": \"x\"}\n");
  msg = input_error_message([&] { load_tokens(p2, tok, cache_opts()); });
  EXPECT_NE(msg.find("line 2: missing \"text\" or \"prompt\"/\"completion\""), std::string::npos) << msg;

  const std::string p3 = write("type.jsonl", "{\"prompt\": \"a\", \"completion\": 5}\n");
  msg = input_error_message([&] { load_tokens(p3, tok, cache_opts()); });
  EXPECT_NE(msg.find("line 1"), std::string::npos) << msg;
  EXPECT_NE(msg.find("\"completion\" must be a string"), std::string::npos) << msg;

  const std::string p4 = write("half.jsonl", "{\"prompt\": \"a\"}\n");
  msg = input_error_message([&] { load_tokens(p4, tok, cache_opts()); });
  EXPECT_NE(msg.find("missing \"completion\""), std::string::npos) << msg;

  const std::string p5 = write("array.jsonl", "[1, 2]\n");
  msg = input_error_message([&] { load_tokens(p5, tok, cache_opts()); });
  EXPECT_NE(msg.find("expected a JSON object"), std::string::npos) << msg;
}

TEST_F(DataTest, EmptyDataSetIsInputError) {
  ByteTokenizer tok;
  for (const std::string& path : {write("empty.txt", ""), write("blank.jsonl", "\n  \n\n")}) {
    std::string msg = input_error_message([&] { load_tokens(path, tok, cache_opts()); });
    EXPECT_NE(msg.find("empty data set"), std::string::npos) << msg;
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
  }
  ByteTokenizer no_eos(0, false);
  const std::string path = write("prompts.jsonl", "{\"prompt\": \"a\", \"completion\": \"\"}\n");
  EXPECT_NE(input_error_message([&] { load_tokens(path, no_eos, cache_opts()); }).find("no training targets"),
            std::string::npos);
}

TEST_F(DataTest, TooFewTokensForOneWindow) {
  ByteTokenizer tok;
  const std::string path = write("short.txt", "abcd");  // 5 tokens
  auto src = load(path, tok);
  std::string msg = input_error_message([&] { pack_windows(src, PackingOptions{5, -100}); });
  EXPECT_NE(msg.find("5 tokens"), std::string::npos) << msg;
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_EQ(pack_windows(src, PackingOptions{4, -100}).num_windows(), 1);

  // A training loader needs at least one full batch.
  PackedDataset two = pack_windows(src, PackingOptions{2, -100});  // 2 windows
  msg = input_error_message([&] { SequenceLoader(two, LoaderOptions{3, LoaderMode::Train, 0, 0, 1}); });
  EXPECT_NE(msg.find("batch_size"), std::string::npos) << msg;
}

TEST_F(DataTest, TokenIdsBeyondModelVocab) {
  ByteTokenizer tok;
  const std::string path = write("a.txt", "abz");
  auto src = load(path, tok);
  SequenceLoader l(pack_windows(src, PackingOptions{3, -100}), LoaderOptions{1, LoaderMode::Train, 0, 0, 1});
  l.check_vocab(257);  // the tokenizer's own vocabulary fits
  try {
    l.check_vocab(200);  // 'z' = 122 fits, eos = 256 does not
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_EQ(e.file(), path);
    EXPECT_EQ(e.field(), "token id");
    EXPECT_NE(std::string(e.what()).find("256"), std::string::npos) << e.what();
  }
  EXPECT_NE(input_error_message([&] { pack_windows(src, PackingOptions{3, 5}); }).find("ignore_index"),
            std::string::npos);
}
