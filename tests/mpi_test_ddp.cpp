// Data parallelism on 2 ranks (mpirun -np 2, MPI communicator, CPU) against one process:
// 2 ranks x micro-batch B == 1 rank x 2B after k steps (with and without gradient accumulation),
// ZeRO-1 == plain data parallel, a 2-rank checkpoint resumes to the same losses, a checkpoint
// missing one rank's shard (or whose marker does not list it) is refused; a stop request on one rank
// stops both, the reducer rejects a parameter reported twice, and a stalled peer with buckets in
// flight fails within one collective timeout.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "models/gpt2/gpt2_checkpoint.h"
#include "runtime/comm/communicator_factory.h"
#include "runtime/comm/world.h"
#include "runtime/data/packed_dataset.h"
#include "runtime/data/tokenizer_loader.h"
#include "runtime/train/grad_reducer.h"
#include "runtime/train/stop_signal.h"
#include "runtime/train/trainer.h"

namespace fs = std::filesystem;
using namespace temper;

namespace {

const std::string kDemo = std::string(TEMPER_SOURCE_DIR) + "/tests/fixtures/gpt2_demo";
const std::string kTrain = std::string(TEMPER_SOURCE_DIR) + "/tests/fixtures/text/finetune_train.txt";

struct RunResult {
  std::vector<float> params;
  std::vector<double> losses;  // per step, global mean
  nlohmann::json summary;
};

struct RunSpec {
  int64_t micro_batch = 2, grad_accum = 1, steps = 4, save_every = 0;
  int zero = 0;
  bool save_on_signal = false;
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
  t.save_on_signal = spec.save_on_signal;
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
  RunResult r;
  r.summary = trainer.run();
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

// A marker that does not list a rank's shard (what rank 0 would commit if it could not see that
// rank's file, e.g. an output directory on node-local disks) is refused on every rank, before any
// collective, naming the file.
TEST_F(Ddp, CheckpointWhoseMarkerLacksARanksShardIsRefused) {
  RunSpec saving;
  saving.zero = 1;
  saving.save_every = 2;
  run(*comm_, dir_ + "/saving", saving);
  comm_->barrier();
  const std::string ckpt = dir_ + "/saving/checkpoints/step-00000002";
  if (comm_->rank() == 0) {
    nlohmann::json complete = nlohmann::json::parse(std::ifstream(ckpt + "/complete.json"));
    complete["files"].erase("optimizer-rank-1-of-2.safetensors");
    std::ofstream(ckpt + "/complete.json") << complete.dump();
    fs::remove(ckpt + "/optimizer-rank-1-of-2.safetensors");
  }
  comm_->barrier();
  comm_->set_collective_timeout(10);  // a rank left waiting in a collective fails the test, not hangs
  RunSpec resumed = saving;
  resumed.save_every = 0;
  resumed.resume = ckpt;
  try {
    run(*comm_, dir_ + "/resumed", resumed);
    ADD_FAILURE() << "resume from a checkpoint missing a shard succeeded";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("optimizer-rank-1-of-2.safetensors"), std::string::npos) << e.what();
  }
  comm_->set_collective_timeout(default_collective_timeout());
}

// A stop request on one rank stops both after the same step; when that step is also a periodic
// checkpoint, it is written once (a second save would first delete the one `latest` names).
TEST_F(Ddp, StopOnOneRankStopsBothAndSavesTheStepOnce) {
  RunSpec spec;
  spec.save_on_signal = true;
  spec.save_every = 1;
  if (comm_->rank() == 1) request_stop();
  ::testing::internal::CaptureStderr();
  const RunResult r = run(*comm_, dir_ + "/stopped", spec);
  const std::string log = ::testing::internal::GetCapturedStderr();
  clear_stop();
  EXPECT_EQ(r.summary.value("interrupted", false), true) << r.summary.dump();
  EXPECT_EQ(r.summary.value("steps", 0), 1) << r.summary.dump();
  if (comm_->rank() == 0) {
    size_t saves = 0;
    for (size_t at = log.find("checkpoint written"); at != std::string::npos;
         at = log.find("checkpoint written", at + 1))
      ++saves;
    EXPECT_EQ(saves, 1u) << log;
    EXPECT_TRUE(fs::exists(dir_ + "/stopped/checkpoints/step-00000001/complete.json"));
  }
}

// A parameter reported ready twice is caught even when its bucket has other parameters (counting
// alone would launch the bucket before the unreported one's gradient is final).
TEST_F(Ddp, ParameterReportedReadyTwiceIsRejected) {
  ParameterStore store;
  for (int i = 0; i < 2; ++i) store.add("p" + std::to_string(i), {8}, WeightDecay::Apply);
  store.allocate(Device::Cpu, DType::F32);
  GradReducer reducer(store, *comm_, ShardMode::None, 1 << 20);
  ASSERT_EQ(reducer.num_buckets(), 1);
  reducer.begin_backward(true);
  reducer.on_grad_ready(1);
  EXPECT_THROW(reducer.on_grad_ready(1), Error);
  reducer.on_grad_ready(0);
  reducer.finish();
}

// A peer that stops responding while several gradient buckets are in flight: the rank gives up
// within one collective timeout, not one per bucket (the unfinished buckets are dropped at once when
// the reducer is destroyed). Rank 1 joins the abandoned buckets afterwards so no request stays open.
TEST_F(Ddp, StalledPeerWithBucketsInFlightFailsWithinOneTimeout) {
  ParameterStore store;
  for (int i = 0; i < 4; ++i) store.add("p" + std::to_string(i), {1000}, WeightDecay::Apply);
  store.allocate(Device::Cpu, DType::F32);
  std::unique_ptr<Communicator> late = make_mpi_communicator();
  constexpr double kTimeout = 1.0;
  auto reduce_all = [&](GradReducer& r) {
    r.begin_backward(true);
    for (int id = store.size() - 1; id >= 0; --id) r.on_grad_ready(id);  // every bucket launched
    r.finish();
  };
  if (comm_->rank() == 0) {
    late->set_collective_timeout(kTimeout);
    const auto t0 = std::chrono::steady_clock::now();
    {
      GradReducer reducer(store, *late, ShardMode::None, 1000 * sizeof(float));
      ASSERT_EQ(reducer.num_buckets(), 4);
      EXPECT_THROW(reduce_all(reducer), Error);
    }
    const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_LT(waited, 2.5 * kTimeout) << "each abandoned bucket waited the timeout again";
    comm_->barrier();
  } else {
    comm_->barrier();  // rank 0 has given up
    GradReducer reducer(store, *late, ShardMode::None, 1000 * sizeof(float));
    reduce_all(reducer);  // matches rank 0's abandoned buckets
  }
  comm_->barrier();
}

}  // namespace
