// Training utilities against their references: LR schedules against transformers'
// get_*_schedule_with_warmup (values printed by transformers 5.23), clipping against torch's
// clip_grad_norm_ coefficient, sampling, config-file expansion, ParameterStore layout.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "launch/config_file.h"
#include "runtime/infer/sampler.h"
#include "runtime/train/adamw_optimizer.h"
#include "runtime/train/lr_schedule.h"
#include "runtime/train/parameter_store.h"

using namespace temper;

TEST(LrSchedule, MatchesTransformersWithWarmup) {
  const std::vector<double> linear = {0.0,      7.5e-05,  0.00015,  0.000225,   0.0003,    0.00028125, 0.0002625,
                                      0.00024375, 0.000225, 0.00020625, 0.0001875, 0.00016875, 0.00015,  0.00013125,
                                      0.0001125, 9.375e-05, 7.5e-05,  5.625e-05,  3.75e-05,  1.875e-05};
  const std::vector<double> cosine = {0.0,            7.5e-05,        0.00015,        0.000225,       0.0003,
                                      0.000297117792, 0.00028858193,  0.000274720442, 0.000256066017, 0.000233335535,
                                      0.000207402515, 0.000179263548, 0.00015,        0.000120736452, 9.25974851e-05,
                                      6.6664465e-05,  4.39339828e-05, 2.52795582e-05, 1.14180701e-05, 2.88220794e-06};
  LrSchedule lin{LrScheduleKind::Linear, 3e-4f, 4, 20}, cos{LrScheduleKind::Cosine, 3e-4f, 4, 20},
      cst{LrScheduleKind::Constant, 3e-4f, 4, 20};
  for (int s = 0; s < 20; ++s) {
    EXPECT_NEAR(lin.lr(s), linear[s], 1e-10) << s;
    EXPECT_NEAR(cos.lr(s), cosine[s], 1e-10) << s;
    EXPECT_NEAR(cst.lr(s), s < 4 ? 7.5e-5 * s : 3e-4, 1e-10) << s;
  }
  EXPECT_THROW(parse_lr_schedule("exponential"), InputError);
}

TEST(Clipping, FollowsTorchCoefficient) {
  EXPECT_FLOAT_EQ(clip_scale(0.5, 1.f), 1.f);
  EXPECT_NEAR(clip_scale(4.0, 1.f), 1.0 / (4.0 + 1e-6), 1e-7);  // float result
  EXPECT_FLOAT_EQ(clip_scale(100.0, 0.f), 1.f);  // disabled
}

TEST(Sampler, GreedyTopKAndSeeds) {
  const std::vector<float> logits = {0.1f, 2.0f, -1.f, 1.9f, 0.f};
  SamplingOptions greedy;
  greedy.temperature = 0.f;
  uint64_t rng = 1;
  EXPECT_EQ(sample_token(logits, greedy, rng), 1);
  SamplingOptions top1;
  top1.top_k = 1;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    rng = seed;
    EXPECT_EQ(sample_token(logits, top1, rng), 1);
  }
  SamplingOptions top2;
  top2.top_k = 2;
  int counts[5] = {0, 0, 0, 0, 0};
  rng = 42;
  for (int i = 0; i < 4000; ++i) counts[sample_token(logits, top2, rng)]++;
  EXPECT_EQ(counts[0] + counts[2] + counts[4], 0);  // outside the top 2: never
  const double p1 = std::exp(2.0) / (std::exp(2.0) + std::exp(1.9));
  EXPECT_NEAR(counts[1] / 4000.0, p1, 0.03);
  uint64_t a = 7, b = 7;
  SamplingOptions full;
  for (int i = 0; i < 50; ++i) EXPECT_EQ(sample_token(logits, full, a), sample_token(logits, full, b));
}

TEST(ConfigFile, ExpandsKeysAndCommandLineWins) {
  const std::string path = (std::filesystem::temp_directory_path() / "temper_cfg_test.toml").string();
  std::ofstream(path) << "# run\nseq-len = 64\nlr = 0.001\nmodel = \"some dir\"\nmicro_batch = 2\n";
  const auto out = cli::expand_config_file({"finetune", "--config", path, "--lr", "0.5"});
  const std::vector<std::string> want = {"finetune", "--seq-len", "64", "--model", "some dir", "--micro-batch", "2",
                                         "--lr", "0.5"};
  EXPECT_EQ(out, want);
  EXPECT_THROW(cli::expand_config_file({"finetune", "--config", path + ".missing"}), InputError);
  std::filesystem::remove(path);
}

TEST(ParameterStore, FlatLayoutAndViews) {
  ParameterStore s;
  const int a = s.add("a.weight", {2, 3}, WeightDecay::Apply);
  const int b = s.add("a.bias", {3}, WeightDecay::Skip);
  s.allocate(Device::Cpu, DType::F32);
  EXPECT_EQ(s.numel(), 9);
  EXPECT_EQ(s.info(b).offset, 6);
  s.master(b).data<float>()[1] = 5.f;
  EXPECT_EQ(s.master_flat().data<float>()[7], 5.f);
  EXPECT_EQ(s.param(b).data<float>()[1], 5.f);  // compute aliases master in fp32
  EXPECT_EQ(s.find("a.bias"), b);
  EXPECT_EQ(s.find("nope"), -1);
  EXPECT_EQ(s.grad(a).shape(), (Shape{2, 3}));
  EXPECT_THROW(s.add("late", {1}, WeightDecay::Skip), Error);
}
