// `temper bench comm`: all-reduce (sum, f32) time and bandwidth over doubling message sizes for the
// communication backend in use. Bandwidths follow nccl-tests: algbw = bytes / time, busbw = algbw *
// 2 (n - 1) / n (what each link carries in a ring all-reduce). The time of a size is the median over
// iterations, then the maximum over ranks (the slowest rank bounds a data-parallel step). Rank 0
// prints the table and writes --json.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "launch/bench_util.h"
#include "launch/commands.h"
#include "launch/common_options.h"
#include "runtime/comm/communicator_factory.h"
#include "runtime/comm/world.h"
#include "runtime/device_memory.h"

namespace temper::cli {
namespace {

struct BenchCommOptions {
  std::string backend = "auto";
  std::string device = "auto";
  uint64_t min_bytes = 1024;
  uint64_t max_bytes = 64ull << 20;
  int iters = 20;
  int warmup = 5;
  std::string json;
};

struct SizeResult {
  int64_t bytes = 0, count = 0;
  double seconds = 0;  // median over iterations, max over ranks
};

// Median seconds of one all_reduce of `count` f32 on this rank; checks the first result once.
double time_size(Communicator& comm, Device device, int64_t count, const BenchCommOptions& o) {
  Tensor t = Tensor::from_f32(std::vector<float>(static_cast<size_t>(count), 1.0f), {count}).to(device);
  comm.all_reduce(t, ReduceOp::Sum);
  const float got = t.slice_flat(count - 1, {1}).to(Device::Cpu).to_vector()[0];
  TEMPER_CHECK(got == static_cast<float>(comm.world_size()), "all_reduce of ones gave {} on {} ranks", got,
               comm.world_size());
  for (int i = 0; i < o.warmup; ++i) comm.all_reduce(t, ReduceOp::Sum);
  synchronize(device);
  comm.barrier();
  std::vector<double> times;
  for (int i = 0; i < o.iters; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    comm.all_reduce(t, ReduceOp::Sum);
    synchronize(device);
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return bench::median(times);
}

// Per-size medians of every rank gathered, the maximum kept.
void max_over_ranks(Communicator& comm, Device device, std::vector<SizeResult>& results) {
  const int64_t n = static_cast<int64_t>(results.size());
  std::vector<float> mine;
  for (const SizeResult& r : results) mine.push_back(static_cast<float>(r.seconds));
  Tensor all = Tensor::empty({n * comm.world_size()}, DType::F32, device);
  comm.all_gather(all, Tensor::from_f32(mine, {n}).to(device));
  const std::vector<float> v = all.to(Device::Cpu).to_vector();
  for (size_t i = 0; i < v.size(); ++i) {
    SizeResult& r = results[i % results.size()];
    r.seconds = std::max(r.seconds, static_cast<double>(v[i]));
  }
}

void report(const std::vector<SizeResult>& results, const Communicator& comm, Device device,
            const BenchCommOptions& o) {
  const int n = comm.world_size();
  const double bus_factor = n > 1 ? 2.0 * (n - 1) / n : 0.0;
  std::printf(
      "temper bench comm: all_reduce sum f32, backend %s, device %s, %d ranks, median of %d iters "
      "(max over ranks)\n",
      comm.backend().c_str(), device_name(device), n, o.iters);
  std::printf("%12s %12s %12s %12s %12s\n", "bytes", "count", "time_us", "algbw_GB/s", "busbw_GB/s");
  nlohmann::json rows = nlohmann::json::array();
  for (const SizeResult& r : results) {
    const double algbw = r.bytes / r.seconds / 1e9;
    std::printf("%12lld %12lld %12.2f %12.3f %12.3f\n", static_cast<long long>(r.bytes),
                static_cast<long long>(r.count), r.seconds * 1e6, algbw, algbw * bus_factor);
    rows.push_back({{"bytes", r.bytes},
                    {"count", r.count},
                    {"time_us", r.seconds * 1e6},
                    {"algbw_gbps", algbw},
                    {"busbw_gbps", algbw * bus_factor}});
  }
  if (o.json.empty()) return;
  const nlohmann::json doc = {{"benchmark", "comm"}, {"op", "all_reduce"},        {"reduce", "sum"},
                              {"dtype", "f32"},      {"backend", comm.backend()}, {"device", device_name(device)},
                              {"world_size", n},     {"iters", o.iters},          {"warmup", o.warmup},
                              {"results", rows}};
  bench::write_json(o.json, doc, "--json");
}

int run(const BenchCommOptions& o) {
  TEMPER_INPUT_CHECK(o.min_bytes >= 4 && o.min_bytes <= o.max_bytes, "--min-bytes", std::to_string(o.min_bytes),
                     "must be at least 4 and at most --max-bytes");
  const Device device = resolve_device(DeviceOptions{o.device, "auto"});
  std::unique_ptr<Communicator> comm = make_communicator(o.backend, device);
  std::vector<SizeResult> results;
  for (uint64_t bytes = o.min_bytes; bytes <= o.max_bytes; bytes *= 2) {
    SizeResult r;
    r.count = static_cast<int64_t>(bytes / sizeof(float));
    r.bytes = r.count * static_cast<int64_t>(sizeof(float));
    r.seconds = time_size(*comm, device, r.count, o);
    results.push_back(r);
  }
  max_over_ranks(*comm, device, results);
  if (comm->rank() == 0) report(results, *comm, device, o);
  comm->barrier();
  return 0;
}

}  // namespace

Runner add_bench(CLI::App& app) {
  auto o = std::make_shared<BenchCommOptions>();
  CLI::App* bench = app.add_subcommand("bench", "measure the runtime's building blocks");
  bench->require_subcommand(1);
  CLI::App* c = bench->add_subcommand("comm", "all-reduce time and bandwidth over message sizes (run under mpirun)");
  c->add_option("--backend,--comm", o->backend, "auto | single | mpi | nccl")
      ->check(CLI::IsMember({"auto", "single", "mpi", "nccl"}))
      ->capture_default_str();
  c->add_option("--device", o->device, "auto | cpu | cuda")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}))
      ->capture_default_str();
  c->add_option("--min-bytes", o->min_bytes, "smallest message (suffixes K, M, G = powers of 1024)")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  c->add_option("--max-bytes", o->max_bytes, "largest message; sizes double from --min-bytes")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  c->add_option("--iters", o->iters, "timed iterations per size")->check(CLI::PositiveNumber)->capture_default_str();
  c->add_option("--warmup", o->warmup, "untimed iterations per size")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  c->add_option("--json", o->json, "also write the results as JSON (rank 0)");
  Runner attention = add_bench_attention(bench);
  Runner conv = add_bench_conv(bench);
  Runner cnn = add_bench_cnn(bench);
  return [o, c, bench, attention, conv, cnn] {
    if (c->parsed()) return run(*o);
    if (bench->got_subcommand("cnn")) return cnn();
    return bench->got_subcommand("conv") ? conv() : attention();
  };
}

}  // namespace temper::cli
