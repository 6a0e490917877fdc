// The NCCL communicator at world size 1 on one GPU (how the NCCL path is checked on a lent GPU):
// every collective on bf16/f32 CUDA tensors, and GPT-2 training through the bucketed gradient
// reducer on NCCL giving the same losses as without communication. Skips without NCCL or a GPU.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "models/gpt2/gpt2_checkpoint.h"
#include "runtime/comm/communicator_factory.h"
#include "runtime/data/packed_dataset.h"
#include "runtime/data/tokenizer_loader.h"
#include "runtime/device_memory.h"
#include "runtime/train/trainer.h"

namespace fs = std::filesystem;
using namespace temper;

namespace {

bool have_nccl_gpu() { return nccl_built() && cuda_available(); }

Tensor device_iota(int64_t n, DType dt) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = static_cast<float>(i % 97) - 40.f;
  const Tensor host = Tensor::from_f32(v, {n});
  Tensor out = Tensor::empty({n}, dt, Device::Cuda);
  if (dt == DType::F32) {
    out.copy_from(host);
  } else {
    Tensor h = Tensor::empty({n}, dt);
    for (int64_t i = 0; i < n; ++i) h.data<uint16_t>()[i] = f32_to_bf16(v[static_cast<size_t>(i)]);
    out.copy_from(h);
  }
  return out;
}

TEST(NcclWorld1, CollectivesAreIdentitiesOnOneRank) {
  if (!have_nccl_gpu()) GTEST_SKIP() << "needs NCCL and a GPU";
  auto comm = make_communicator("nccl", Device::Cuda);
  ASSERT_EQ(comm->backend(), "nccl");
  ASSERT_EQ(comm->world_size(), 1);
  for (DType dt : {DType::F32, DType::BF16}) {
    for (int64_t n : {1, 7, 4099}) {
      const Tensor t = device_iota(n, dt);
      const std::vector<float> want = t.to_vector();
      comm->all_reduce(t, ReduceOp::Sum);
      EXPECT_EQ(t.to_vector(), want);
      comm->all_reduce(t, ReduceOp::Avg);
      EXPECT_EQ(t.to_vector(), want);
      comm->all_reduce_async(t, ReduceOp::Sum)->wait();
      EXPECT_EQ(t.to_vector(), want);
      Tensor out = Tensor::zeros({n}, dt, Device::Cuda);
      comm->reduce_scatter(out, t, ReduceOp::Sum);
      EXPECT_EQ(out.to_vector(), want);
      out.zero_();
      comm->all_gather(out, t);
      EXPECT_EQ(out.to_vector(), want);
      comm->broadcast(t, 0);
      EXPECT_EQ(t.to_vector(), want);
    }
  }
  comm->barrier();
  EXPECT_DOUBLE_EQ(comm->all_reduce_scalar(2.5, ReduceOp::Sum), 2.5);
}

std::vector<double> train_losses(Communicator& comm, const std::string& out) {
  const std::string src = TEMPER_SOURCE_DIR;
  TrainConfig t;
  t.model_dir = src + "/tests/fixtures/gpt2_demo";
  t.train_file = src + "/tests/fixtures/text/finetune_train.txt";
  t.output_dir = out;
  t.seq_len = 32;
  t.micro_batch = 4;
  t.grad_accum = 2;
  t.max_steps = 4;
  t.schedule = LrSchedule{LrScheduleKind::Constant, 1e-3f, 0, 4};
  t.progress = ProgressStyle::Off;
  t.bucket_bytes = 64 << 10;  // several buckets
  t.device = Device::Cuda;
  t.compute_dtype = DType::BF16;
  auto tokenizer = load_tokenizer(t.model_dir);
  auto model = load_gpt2(t.model_dir, Device::Cuda, DType::BF16);
  DataConfig d;
  d.train_path = t.train_file;
  d.packing.seq_len = t.seq_len;
  DatasetSplit data = load_datasets(d, *tokenizer);
  SequenceLoader loader(data.train, LoaderOptions{t.micro_batch, LoaderMode::Train, t.seed, 0, 1});
  Trainer trainer(t, *model, std::move(loader), std::nullopt, comm);
  trainer.run();
  std::vector<double> losses;
  std::ifstream in(out + "/metrics.jsonl");
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line);
    if (j["type"] == "train") losses.push_back(j["loss"]);
  }
  return losses;
}

TEST(NcclWorld1, TrainingThroughBucketedReducerMatchesNoCommunication) {
  if (!have_nccl_gpu()) GTEST_SKIP() << "needs NCCL and a GPU";
  const std::string dir = (fs::temp_directory_path() / "temper_nccl_world1").string();
  fs::remove_all(dir);
  auto nccl = make_communicator("nccl", Device::Cuda);
  auto single = make_single_process_communicator();
  const std::vector<double> a = train_losses(*nccl, dir + "/nccl");
  const std::vector<double> b = train_losses(*single, dir + "/single");
  ASSERT_EQ(a.size(), 4u);
  ASSERT_EQ(b.size(), 4u);
  // bf16 compute, embedding gradients summed with atomics (order varies): equal to bf16 noise.
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 2e-3 * b[i]) << "step " << i + 1;
  EXPECT_LT(a.back(), a.front());
  fs::remove_all(dir);
}

}  // namespace
