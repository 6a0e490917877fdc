// Data parallelism on 2 ranks (mpirun -np 2, MPI communicator, CPU) against one process:
// 2 ranks x micro-batch B == 1 rank x 2B after k steps (with and without gradient accumulation),
// ZeRO-1 == plain data parallel, a 2-rank checkpoint resumes to the same losses, and a checkpoint
// missing one rank's shard is refused.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "models/gpt2/gpt2_checkpoint.h"
#include "runtime/comm/communicator_factory.h"
#include "runtime/comm/world.h"
#include "runtime/data/packed_dataset.h"
#include "runtime/data/tokenizer_loader.h"
#include "runtime/train/trainer.h"

namespace fs = std::filesystem;
using namespace temper;

namespace {

const std::string kDemo = std::string(TEMPER_SOURCE_DIR) + "/tests/fixtures/gpt2_demo";
const std::string kTrain = std::string(TEMPER_SOURCE_DIR) + "/tests/fixtures/text/finetune_train.txt";

struct RunResult {
  std::vector<float> params;
  std::vector<double> losses;  // per step, global mean
};

struct RunSpec {
  int64_t micro_batch = 2, grad_accum = 1, steps = 4, save_every = 0;
  int zero = 0;
  std::string resume;
  // A separate fp32 master next to the (here also fp32) compute copy: the mixed-precision layout,
  // where ZeRO-1 keeps only each rank's shard of the master.
  MasterCopy master = MasterCopy::AliasWhenF32;
};

std::vector<double> train_losses(const std::string& metrics) {
  std::vector<double> out;
  std::ifstream in(metrics);
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line);
    if (j["type"] == "train") out.push_back(j["loss"]);
  }
  return out;
}

RunResult run(Communicator& comm, const std::string& out, const RunSpec& spec) {
  TrainConfig t;
  t.model_dir = kDemo;
  t.train_file = kTrain;
  t.output_dir = out;
  t.seq_len = 32;
  t.micro_batch = spec.micro_batch;
  t.grad_accum = spec.grad_accum;
  t.max_steps = spec.steps;
  t.schedule = LrSchedule{LrScheduleKind::Linear, 2e-3f, 1, spec.steps};
  t.weight_decay = 0.01f;
  t.zero_stage = spec.zero;
  t.save_every = spec.save_every;
  t.resume = spec.resume;
  t.progress = ProgressStyle::Off;
  t.bucket_bytes = 64 << 10;  // several buckets for this small model
  auto tokenizer = load_tokenizer(kDemo);
  auto model = load_gpt2(kDemo, Device::Cpu, DType::F32, spec.zero == 1 ? comm.world_size() : 1, spec.master);
  DataConfig d;
  d.train_path = kTrain;
  d.packing.seq_len = t.seq_len;
  DatasetSplit data = load_datasets(d, *tokenizer);
  SequenceLoader loader(data.train, LoaderOptions{t.micro_batch, LoaderMode::Train, t.seed, comm.rank(), comm.world_size()});
  Trainer trainer(t, *model, std::move(loader), std::nullopt, comm);
  trainer.run();
  RunResult r;
  r.params = model->params().master_flat().to_vector();
  if (comm.rank() == 0) r.losses = train_losses(out + "/metrics.jsonl");
  return r;
}

// Elements whose gradient is analytically zero: the key bias (q.(k + b) shifts every score of a
// query by the same amount, and softmax ignores shifts). Their fp32 rounding noise differs with the
// reduction order and Adam normalises noise to lr-sized steps, so they are not comparable.
std::vector<bool> comparable_elements() {
  auto model = load_gpt2(kDemo, Device::Cpu, DType::F32);
  const ParameterStore& s = model->params();
  std::vector<bool> keep(static_cast<size_t>(s.numel()), true);
  const int64_t c = model->config().n_embd;
  for (int id = 0; id < s.size(); ++id) {
    const std::string& n = s.info(id).name;
    if (n.size() < 11 || n.compare(n.size() - 11, 11, "c_attn.bias") != 0) continue;
    for (int64_t i = c; i < 2 * c; ++i) keep[static_cast<size_t>(s.info(id).offset + i)] = false;
  }
  return keep;
}

double max_rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
  static const std::vector<bool> keep = comparable_elements();
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!keep[i]) continue;
    num = std::max(num, double(std::abs(a[i] - b[i])));
    den = std::max(den, double(std::abs(b[i])));
  }
  return num / den;
}

class Ddp : public ::testing::Test {
 protected:
  void SetUp() override {
    comm_ = make_communicator("mpi", Device::Cpu);
    single_ = make_single_process_communicator();  // the in-process reference
    ASSERT_EQ(comm_->world_size(), 2) << "run under mpirun -np 2";
    const std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    dir_ = (fs::temp_directory_path() / ("temper_ddp_" + name)).string();
    if (comm_->rank() == 0) {
      fs::remove_all(dir_);
      fs::create_directories(dir_);
    }
    comm_->barrier();
  }
  void TearDown() override {
    comm_->barrier();
    if (comm_->rank() == 0) fs::remove_all(dir_);
  }
  // The single-process reference, run by each rank in its own directory.
  RunResult reference(RunSpec spec) {
    spec.micro_batch *= comm_->world_size();
    return run(*single_, dir_ + "/single-rank" + std::to_string(comm_->rank()), spec);
  }
  std::unique_ptr<Communicator> comm_, single_;
  std::string dir_;
};

TEST_F(Ddp, TwoRanksEqualOneRankWithTwiceTheBatch) {
  const RunResult two = run(*comm_, dir_ + "/ddp", RunSpec{});
  const RunResult one = reference(RunSpec{});
  EXPECT_LT(max_rel_diff(two.params, one.params), 1e-5);
  if (comm_->rank() == 0) {
    ASSERT_EQ(two.losses.size(), one.losses.size());
    for (size_t i = 0; i < one.losses.size(); ++i) EXPECT_NEAR(two.losses[i], one.losses[i], 1e-5) << i;
  }
}

TEST_F(Ddp, WithGradientAccumulationToo) {
  RunSpec spec;
  spec.grad_accum = 3;
  const RunResult two = run(*comm_, dir_ + "/ddp", spec);
  const RunResult one = reference(spec);
  EXPECT_LT(max_rel_diff(two.params, one.params), 1e-5);
}

TEST_F(Ddp, Zero1FollowsPlainDataParallel) {
  RunSpec plain, zero;
  zero.zero = 1;
  plain.grad_accum = zero.grad_accum = 2;
  const RunResult a = run(*comm_, dir_ + "/plain", plain);
  const RunResult b = run(*comm_, dir_ + "/zero", zero);
  EXPECT_LT(max_rel_diff(b.params, a.params), 1e-5);
  if (comm_->rank() == 0)
    for (size_t i = 0; i < a.losses.size(); ++i) EXPECT_NEAR(b.losses[i], a.losses[i], 1e-5) << i;
}

void expect_resume_reproduces(Ddp& t, Communicator& comm, const std::string& dir, int zero,
                              MasterCopy master = MasterCopy::AliasWhenF32) {
  RunSpec full;
  full.steps = 6;
  full.zero = zero;
  full.master = master;
  const RunResult a = run(comm, dir + "/full", full);
  RunSpec saving = full;
  saving.save_every = 3;
  run(comm, dir + "/saving", saving);
  RunSpec resumed = full;
  resumed.resume = dir + "/saving/checkpoints/step-00000003";
  const RunResult c = run(comm, dir + "/resumed", resumed);
  EXPECT_EQ(max_rel_diff(c.params, a.params), 0.0);
  if (comm.rank() == 0) {
    ASSERT_EQ(c.losses.size(), 3u);
    for (size_t i = 0; i < 3; ++i) EXPECT_EQ(c.losses[i], a.losses[i + 3]) << "step " << i + 4;
  }
  (void)t;
}

TEST_F(Ddp, TwoRankCheckpointResumesToTheSameLosses) { expect_resume_reproduces(*this, *comm_, dir_, 0); }

TEST_F(Ddp, Zero1CheckpointResumesToTheSameLosses) { expect_resume_reproduces(*this, *comm_, dir_, 1); }

TEST_F(Ddp, Zero1WithShardedMasterFollowsPlainDataParallel) {
  RunSpec plain, zero;
  zero.zero = 1;
  zero.master = MasterCopy::Separate;
  const RunResult a = run(*comm_, dir_ + "/plain", plain);
  const RunResult b = run(*comm_, dir_ + "/zero", zero);
  EXPECT_LT(max_rel_diff(b.params, a.params), 1e-5);
}

TEST_F(Ddp, Zero1WithShardedMasterResumesToTheSameLosses) {
  expect_resume_reproduces(*this, *comm_, dir_, 1, MasterCopy::Separate);
}

// Without ZeRO the optimizer state is whole and the data position global: a 2-rank checkpoint
// resumes on 1 rank with twice the micro-batch, continuing the same global batches and losses.
TEST_F(Ddp, TwoRankCheckpointResumesOnOneRank) {
  RunSpec full;
  full.steps = 6;
  const RunResult a = run(*comm_, dir_ + "/full", full);
  RunSpec saving = full;
  saving.save_every = 3;
  run(*comm_, dir_ + "/saving", saving);
  comm_->barrier();
  RunSpec resumed = full;
  resumed.resume = dir_ + "/saving/checkpoints/step-00000003";
  const RunResult c = reference(resumed);  // one rank, micro-batch 2B, its own output dir
  EXPECT_LT(max_rel_diff(c.params, a.params), 1e-5);
  if (comm_->rank() == 0) {
    ASSERT_EQ(c.losses.size(), 3u);
    for (size_t i = 0; i < 3; ++i) EXPECT_NEAR(c.losses[i], a.losses[i + 3], 1e-5) << "step " << i + 4;
  }
}

TEST_F(Ddp, CheckpointMissingARanksShardIsRefused) {
  RunSpec saving;
  saving.zero = 1;
  saving.save_every = 2;
  run(*comm_, dir_ + "/saving", saving);
  comm_->barrier();
  if (comm_->rank() == 0) fs::remove(dir_ + "/saving/checkpoints/step-00000002/optimizer-rank-1-of-2.safetensors");
  comm_->barrier();
  RunSpec resumed = saving;
  resumed.save_every = 0;
  resumed.resume = dir_ + "/saving/checkpoints/step-00000002";
  try {
    run(*comm_, dir_ + "/resumed", resumed);
    ADD_FAILURE() << "resume from a checkpoint missing a shard succeeded";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("optimizer-rank-1-of-2.safetensors"), std::string::npos) << e.what();
  }
}

}  // namespace
