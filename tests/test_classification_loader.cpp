// ClassificationLoader: dynamic padding, train-mode rank slicing and epoch permutations, eval coverage
// across ranks, resumable state and the validation of its inputs.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <set>
#include <vector>

#include "runtime/data/classification_loader.h"
#include "runtime/error.h"

using namespace temper;

namespace {

constexpr int32_t kPad = 0;
constexpr int32_t kCls = 101;
constexpr int32_t kSep = 102;

// Example i: [CLS] then 1 + i % 5 tokens, each 1000 + i (so any token names its example), [SEP];
// odd examples are pairs (token type 1 on the second half); label i.
EncodedExample make_example(int32_t i) {
  EncodedExample e;
  const int32_t body = 1 + i % 5;
  e.ids.push_back(kCls);
  for (int32_t k = 0; k < body; ++k) e.ids.push_back(1000 + i);
  e.ids.push_back(kSep);
  e.token_types.assign(e.ids.size(), 0);
  if (i % 2 == 1)
    for (size_t k = e.ids.size() / 2; k < e.ids.size(); ++k) e.token_types[k] = 1;
  e.label = i;
  return e;
}

std::vector<EncodedExample> make_data(int32_t n) {
  std::vector<EncodedExample> data;
  for (int32_t i = 0; i < n; ++i) data.push_back(make_example(i));
  return data;
}

LoaderOptions options(int64_t batch, LoaderMode mode, uint64_t seed = 7, int rank = 0, int world = 1) {
  LoaderOptions o;
  o.batch_size = batch;
  o.mode = mode;
  o.seed = seed;
  o.rank = rank;
  o.world_size = world;
  return o;
}

// The example ids of a batch (its labels, by construction).
std::vector<int32_t> rows_of(const ClassificationBatch& b) {
  const int32_t* l = b.labels.data<int32_t>();
  return std::vector<int32_t>(l, l + b.labels.dim(0));
}

// Every row must be its example followed by padding, with the right length and token types.
void expect_batch_matches(const ClassificationBatch& b) {
  const int64_t B = b.tokens.dim(0), T = b.tokens.dim(1);
  int64_t longest = 0, tokens = 0;
  for (int64_t r = 0; r < B; ++r) {
    const EncodedExample e = make_example(b.labels.data<int32_t>()[r]);
    const auto len = static_cast<int64_t>(e.ids.size());
    ASSERT_EQ(b.lengths.data<int32_t>()[r], len);
    for (int64_t t = 0; t < T; ++t) {
      const bool real = t < len;
      EXPECT_EQ(b.tokens.data<int32_t>()[r * T + t], real ? e.ids[static_cast<size_t>(t)] : kPad);
      EXPECT_EQ(b.token_types.data<int32_t>()[r * T + t], real ? e.token_types[static_cast<size_t>(t)] : 0);
    }
    longest = std::max(longest, len);
    tokens += len;
  }
  EXPECT_EQ(T, longest);  // dynamic padding: no longer than the longest row
  EXPECT_EQ(b.num_tokens, tokens);
}

// The first `steps` batches' example ids, concatenated.
std::vector<int32_t> drain(ClassificationLoader& loader, int steps) {
  std::vector<int32_t> out;
  ClassificationBatch b;
  for (int s = 0; s < steps && loader.next(b); ++s) {
    const auto rows = rows_of(b);
    out.insert(out.end(), rows.begin(), rows.end());
  }
  return out;
}

}  // namespace

TEST(ClassificationLoader, PadsToLongestRowOfEachBatch) {
  const int32_t pad = 9;
  std::vector<EncodedExample> data = {make_example(0), make_example(3), make_example(1)};  // lengths 3, 6, 4
  ClassificationLoader loader(data, pad, options(2, LoaderMode::Eval));
  ClassificationBatch b;
  ASSERT_TRUE(loader.next(b));
  ASSERT_EQ(b.tokens.shape(), (Shape{2, 6}));
  EXPECT_EQ(b.token_types.shape(), (Shape{2, 6}));
  EXPECT_EQ(std::vector<int32_t>(b.lengths.data<int32_t>(), b.lengths.data<int32_t>() + 2),
            (std::vector<int32_t>{3, 6}));
  const std::vector<int32_t> row0(b.tokens.data<int32_t>(), b.tokens.data<int32_t>() + 6);
  EXPECT_EQ(row0, (std::vector<int32_t>{kCls, 1000, kSep, pad, pad, pad}));
  EXPECT_EQ(b.num_tokens, 9);
  EXPECT_EQ(b.num_targets, 2);
  ASSERT_TRUE(loader.next(b));  // the last, partial batch has its own (shorter) length
  EXPECT_EQ(b.tokens.shape(), (Shape{1, 4}));
  EXPECT_EQ(rows_of(b), (std::vector<int32_t>{1}));
  EXPECT_EQ(std::vector<int32_t>(b.token_types.data<int32_t>(), b.token_types.data<int32_t>() + 4),
            (std::vector<int32_t>{0, 0, 1, 1}));
  EXPECT_FALSE(loader.next(b));
}

TEST(ClassificationLoader, BatchesHoldTheirExamples) {
  ClassificationLoader loader(make_data(23), kPad, options(4, LoaderMode::Train));
  ClassificationBatch b;
  for (int s = 0; s < 12; ++s) {
    ASSERT_TRUE(loader.next(b));
    expect_batch_matches(b);
    EXPECT_EQ(b.num_targets, 4);
  }
}

TEST(ClassificationLoader, IgnoredLabelsAreNotTargets) {
  std::vector<EncodedExample> data = make_data(4);
  data[1].label = ClassificationLoader::kIgnoreLabel;
  ClassificationLoader loader(data, kPad, options(4, LoaderMode::Eval));
  ClassificationBatch b;
  ASSERT_TRUE(loader.next(b));
  EXPECT_EQ(b.num_targets, 3);
}

TEST(ClassificationLoader, EpochsArePermutationsWithTheTailDropped) {
  const int32_t n = 23;  // batch 4: 5 batches per epoch, 3 examples dropped each epoch
  ClassificationLoader loader(make_data(n), kPad, options(4, LoaderMode::Train));
  EXPECT_EQ(loader.batches_per_epoch(), 5);
  for (uint64_t epoch = 0; epoch < 3; ++epoch) {
    const auto order = epoch_permutation(n, 7, epoch);
    const std::vector<int32_t> expected(order.begin(), order.begin() + 20);
    const auto seen = drain(loader, 5);
    EXPECT_EQ(seen, expected) << "epoch " << epoch;
    EXPECT_EQ(std::set<int32_t>(seen.begin(), seen.end()).size(), 20u);
    EXPECT_EQ(loader.state().epoch, epoch + 1);
    EXPECT_EQ(loader.state().position, 0);
  }
}

TEST(ClassificationLoader, TrainRanksSplitTheGlobalBatch) {
  const int32_t n = 37;
  const int64_t B = 3;
  ClassificationLoader single(make_data(n), kPad, options(2 * B, LoaderMode::Train));
  ClassificationLoader rank0(make_data(n), kPad, options(B, LoaderMode::Train, 7, 0, 2));
  ClassificationLoader rank1(make_data(n), kPad, options(B, LoaderMode::Train, 7, 1, 2));
  EXPECT_EQ(rank0.batches_per_epoch(), single.batches_per_epoch());
  for (int step = 0; step < 20; ++step) {  // several epochs
    const auto global = drain(single, 1);
    const auto a = drain(rank0, 1), b = drain(rank1, 1);
    ASSERT_EQ(a.size(), static_cast<size_t>(B));
    ASSERT_EQ(b.size(), static_cast<size_t>(B));
    std::vector<int32_t> both = a;
    both.insert(both.end(), b.begin(), b.end());
    EXPECT_EQ(both, global) << "step " << step;
    for (int32_t x : a) EXPECT_EQ(std::count(b.begin(), b.end(), x), 0);
  }
}

TEST(ClassificationLoader, EvalCoversEveryExampleOnceAcrossRanks) {
  const int32_t n = 17;
  const int world = 3;
  const int64_t B = 4;
  std::vector<int32_t> all;
  for (int r = 0; r < world; ++r) {
    ClassificationLoader loader(make_data(n), kPad, options(B, LoaderMode::Eval, 7, r, world));
    const int64_t mine = (n - r + world - 1) / world;  // 6, 6, 5
    EXPECT_EQ(loader.batches_per_epoch(), (mine + B - 1) / B);
    int64_t batches = 0;
    ClassificationBatch b;
    while (loader.next(b)) {
      expect_batch_matches(b);
      const auto rows = rows_of(b);
      EXPECT_LE(rows.size(), static_cast<size_t>(B));
      for (int32_t x : rows) EXPECT_EQ(x % world, r);
      all.insert(all.end(), rows.begin(), rows.end());
      ++batches;
    }
    EXPECT_EQ(batches, loader.batches_per_epoch());
    EXPECT_EQ(rows_of(b).size(), static_cast<size_t>(mine - (batches - 1) * B));  // last batch partial
    loader.reset();  // a second pass gives the same batches
    EXPECT_TRUE(loader.next(b));
    EXPECT_EQ(rows_of(b).front(), r);
  }
  std::sort(all.begin(), all.end());
  std::vector<int32_t> expected(n);
  std::iota(expected.begin(), expected.end(), 0);
  EXPECT_EQ(all, expected);
}

TEST(ClassificationLoader, BatchesPerEpoch) {
  EXPECT_EQ(ClassificationLoader(make_data(10), kPad, options(3, LoaderMode::Train)).batches_per_epoch(), 3);
  EXPECT_EQ(ClassificationLoader(make_data(10), kPad, options(2, LoaderMode::Train, 7, 1, 2)).batches_per_epoch(), 2);
  EXPECT_EQ(ClassificationLoader(make_data(10), kPad, options(3, LoaderMode::Eval)).batches_per_epoch(), 4);
  EXPECT_EQ(ClassificationLoader(make_data(10), kPad, options(2, LoaderMode::Eval, 7, 1, 4)).batches_per_epoch(), 2);
  EXPECT_EQ(ClassificationLoader(make_data(2), kPad, options(5, LoaderMode::Eval, 7, 3, 4)).batches_per_epoch(), 0);
}

TEST(ClassificationLoader, RestoreMidEpochContinuesIdentically) {
  const int32_t n = 29;
  ClassificationLoader a(make_data(n), kPad, options(3, LoaderMode::Train, 11, 1, 2));
  drain(a, 7);  // past the end of epoch 0 (4 batches per epoch) into epoch 1
  const LoaderState saved = loader_state_from_json(loader_state_to_json(a.state()), "checkpoint");
  EXPECT_EQ(saved.epoch, 1u);
  EXPECT_EQ(saved.position, 18);
  ClassificationLoader b(make_data(n), kPad, options(3, LoaderMode::Train, 11, 1, 2));
  b.restore(saved);
  EXPECT_EQ(drain(b, 10), drain(a, 10));
}

TEST(ClassificationLoader, RestoreEvalContinuesIdentically) {
  ClassificationLoader a(make_data(13), kPad, options(2, LoaderMode::Eval, 0, 1, 2));
  drain(a, 2);
  ClassificationLoader b(make_data(13), kPad, options(2, LoaderMode::Eval, 0, 1, 2));
  b.restore(a.state());
  EXPECT_EQ(drain(b, 10), drain(a, 10));
}

TEST(ClassificationLoader, RestoreRefusesOtherSeedOrData) {
  ClassificationLoader a(make_data(20), kPad, options(2, LoaderMode::Train, 5));
  drain(a, 3);
  const LoaderState s = a.state();
  ClassificationLoader other_seed(make_data(20), kPad, options(2, LoaderMode::Train, 6));
  EXPECT_THROW(other_seed.restore(s), InputError);
  ClassificationLoader other_data(make_data(21), kPad, options(2, LoaderMode::Train, 5));
  EXPECT_THROW(other_data.restore(s), InputError);
  LoaderState beyond = s;
  beyond.position = 21;
  ClassificationLoader same(make_data(20), kPad, options(2, LoaderMode::Train, 5));
  EXPECT_THROW(same.restore(beyond), InputError);
}

TEST(ClassificationLoader, RejectsBadInput) {
  EXPECT_THROW(ClassificationLoader({}, kPad, options(1, LoaderMode::Eval)), InputError);
  EXPECT_THROW(ClassificationLoader(make_data(4), kPad, options(0, LoaderMode::Eval)), InputError);
  EXPECT_THROW(ClassificationLoader(make_data(4), kPad, options(3, LoaderMode::Train, 7, 0, 2)), InputError);
  EXPECT_THROW(ClassificationLoader(make_data(4), kPad, options(1, LoaderMode::Train, 7, 2, 2)), Error);
  auto empty_ids = make_data(4);
  empty_ids[2].ids.clear();
  empty_ids[2].token_types.clear();
  EXPECT_THROW(ClassificationLoader(empty_ids, kPad, options(1, LoaderMode::Eval)), Error);
  auto mismatched = make_data(4);
  mismatched[3].token_types.pop_back();
  EXPECT_THROW(ClassificationLoader(mismatched, kPad, options(1, LoaderMode::Eval)), Error);
}

TEST(ClassificationLoader, EncodeExamplesKeepsOrder) {
  std::vector<LabelledExample> examples = {{"a", "", 2}, {"bb", "c", 0}};
  const auto encoded = encode_examples(examples, [](const LabelledExample& e) {
    EncodedExample out;
    out.ids.assign(e.text.size() + e.text_b.size(), 5);
    out.token_types.assign(out.ids.size(), 0);
    out.label = e.label;
    return out;
  });
  ASSERT_EQ(encoded.size(), 2u);
  EXPECT_EQ(encoded[0].ids.size(), 1u);
  EXPECT_EQ(encoded[1].ids.size(), 3u);
  EXPECT_EQ(encoded[0].label, 2);
  EXPECT_EQ(encoded[1].label, 0);
}
