// Checkpoint save/restore for exact resume, across ranks.
#include "runtime/train/train_state.h"

#include <filesystem>
#include <string>
#include <vector>

#include "models/io/json_file.h"
#include "models/io/safetensors.h"

namespace fs = std::filesystem;

namespace temper {
namespace {

constexpr int kStateVersion = 2;
constexpr const char* kBuffersFile = "buffers.safetensors";  // the model's buffers, when it has any

std::string step_dir_name(int64_t step) { return fmt::format("step-{:08d}", step); }
std::string shard_file(int rank, int world) { return fmt::format("optimizer-rank-{}-of-{}.safetensors", rank, world); }

std::string resolve(const std::string& where, const std::string& output_dir) {
  if (where != "latest") return where;
  const std::string marker = (fs::path(output_dir) / "checkpoints" / "latest").string();
  TEMPER_INPUT_CHECK(fs::exists(marker), marker, "file", "no checkpoint to resume from (file missing)");
  const nlohmann::json j = read_json_file(marker);
  TEMPER_INPUT_CHECK(j.contains("dir") && j["dir"].is_string(), marker, "dir", "missing");
  return (fs::path(output_dir) / "checkpoints" / j["dir"].get<std::string>()).string();
}

// The optimizer tensors of this rank's range, written by every rank (ZeRO) or rank 0 (whole).
void write_optimizer(const fs::path& dir, const TrainableModel& model, const AdamWOptimizer& opt, Communicator& comm,
                     bool zero1) {
  if (!zero1 && comm.rank() != 0) return;
  const ShardRange r = opt.range();
  const Tensor master = model.params().master_slice(r.begin, r.size());
  const std::string name = zero1 ? shard_file(comm.rank(), comm.world_size()) : "optimizer.safetensors";
  save_safetensors((dir / name).string(), {{"master", master}, {"adamw.m", opt.m()}, {"adamw.v", opt.v()}},
                   DType::F32,
                   {{"begin", std::to_string(r.begin)}, {"end", std::to_string(r.end)},
                    {"padded", std::to_string(model.params().padded_numel())}});
}

// The files every rank's part of a checkpoint adds (the model's own files vary with the family).
std::vector<std::string> required_files(int world, bool zero1) {
  std::vector<std::string> names = {"trainer_state.json"};
  if (!zero1) names.push_back("optimizer.safetensors");
  for (int r = 0; zero1 && r < world; ++r) names.push_back(shard_file(r, world));
  return names;
}

nlohmann::json list_files(const fs::path& dir) {
  nlohmann::json files = nlohmann::json::object();
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && e.path().filename() != "complete.json")
      files[e.path().filename().string()] = static_cast<int64_t>(e.file_size());
  return files;
}

// Rank 0 alone writes the model and (without ZeRO) the whole optimizer state while the other ranks
// wait in a barrier. The collective timeout is for a peer that stopped responding, not for one
// writing gigabytes (16 bytes per parameter: 24 GB for GPT-2 XL), so while this guard lives the
// bound grows by the time those bytes take at a slow file system's kSlowWriteBytesPerSecond.
class WriteWaitTimeout {
 public:
  WriteWaitTimeout(Communicator& comm, double bytes) : comm_(comm), saved_(comm.collective_timeout()) {
    constexpr double kSlowWriteBytesPerSecond = 20e6;
    if (saved_ > 0) comm_.set_collective_timeout(saved_ + bytes / kSlowWriteBytesPerSecond);
  }
  ~WriteWaitTimeout() { comm_.set_collective_timeout(saved_); }
  WriteWaitTimeout(const WriteWaitTimeout&) = delete;
  WriteWaitTimeout& operator=(const WriteWaitTimeout&) = delete;

 private:
  Communicator& comm_;
  double saved_;
};

}  // namespace

void gather_master_weights(TrainableModel& model, const AdamWOptimizer& opt, Communicator& comm) {
  ParameterStore& store = model.params();
  if (!store.master_is_sharded()) return;
  const ShardRange r = opt.range();
  TEMPER_CHECK(r.begin == store.master_range().begin && r.end == store.master_range().end,
               "master shard and optimizer range differ");
  Tensor whole = Tensor::zeros({store.padded_numel()}, DType::F32, store.device());
  whole.slice_flat(r.begin, {r.size()}).copy_from(store.master_slice(r.begin, r.size()));
  comm.all_gather(whole, whole.slice_flat(r.begin, {r.size()}));
  store.set_whole_master(whole);
}

void shard_master_weights(TrainableModel& model, const AdamWOptimizer& opt, bool zero1) {
  ParameterStore& store = model.params();
  if (!zero1 || store.master_aliases_compute() || store.master_is_sharded()) return;
  store.shard_master(opt.range());
}

std::string save_checkpoint(const std::string& output_dir, const TrainableModel& model, const AdamWOptimizer& opt,
                            const TrainState& state, Communicator& comm, bool zero1) {
  const fs::path root = fs::path(output_dir) / "checkpoints";
  const fs::path final_dir = root / step_dir_name(state.step);
  const fs::path tmp_dir = root / (step_dir_name(state.step) + ".partial");
  if (comm.rank() == 0) {
    fs::remove_all(tmp_dir);
    fs::create_directories(tmp_dir);
  }
  comm.barrier();
  // Rank 0's bytes, the same on every rank: the model (at most f32) and master + m + v of its range.
  const double rank0_bytes = 4.0 * static_cast<double>(model.params().padded_numel() + 3 * opt.range().size());
  const WriteWaitTimeout stretched(comm, rank0_bytes);
  write_optimizer(tmp_dir, model, opt, comm, zero1);
  if (comm.rank() == 0) {
    model.save_pretrained(tmp_dir.string());
    if (model.buffers().defined())  // identical on every rank (Trainer::average_buffers)
      save_safetensors((tmp_dir / kBuffersFile).string(), {{"buffers", model.buffers()}}, DType::F32);
    write_json_file_atomic((tmp_dir / "trainer_state.json").string(),
                           {{"version", kStateVersion}, {"step", state.step}, {"tokens_seen", state.tokens_seen},
                            {"optimizer_steps", opt.steps_taken()}, {"loader", state.loader}, {"run", state.run}});
  }
  comm.barrier();  // every rank's part is on disk
  if (comm.rank() == 0) {
    for (const std::string& name : required_files(comm.world_size(), zero1))
      TEMPER_CHECK(fs::exists(tmp_dir / name),
                   "{} is missing from {} after every rank wrote its part: the output directory must be one "
                   "directory shared by all ranks (a shared file system), not a local path on each node",
                   name, tmp_dir.string());
    write_json_file_atomic((tmp_dir / "complete.json").string(),
                           {{"world_size", comm.world_size()}, {"zero", zero1 ? 1 : 0}, {"files", list_files(tmp_dir)}});
    fs::remove_all(final_dir);
    fs::rename(tmp_dir, final_dir);
    write_json_file_atomic((root / "latest").string(), {{"dir", step_dir_name(state.step)}});
  }
  comm.barrier();
  return final_dir.string();
}

namespace {

// complete.json present and every file it lists there with its size.
nlohmann::json verify_complete(const fs::path& dir) {
  const std::string marker = (dir / "complete.json").string();
  TEMPER_INPUT_CHECK(fs::exists(marker), marker, "file",
                     "checkpoint is incomplete (complete.json is written last, after every rank's files, and is missing)");
  const nlohmann::json c = read_json_file(marker);
  TEMPER_INPUT_CHECK(c.contains("files") && c["files"].is_object(), marker, "files", "missing");
  TEMPER_INPUT_CHECK(c.contains("world_size") && c["world_size"].is_number_integer(), marker, "world_size", "missing");
  for (const std::string& name : required_files(c["world_size"].get<int>(), c.value("zero", 0) == 1))
    TEMPER_INPUT_CHECK(c["files"].contains(name), (dir / name).string(), "file",
                       "not listed in complete.json: the checkpoint lacks a rank's part");
  for (const auto& [name, size] : c["files"].items()) {
    const fs::path f = dir / name;
    TEMPER_INPUT_CHECK(fs::exists(f), f.string(), "file", "listed in complete.json but missing (a rank's part is lost)");
    TEMPER_INPUT_CHECK(size.is_number_integer() && static_cast<int64_t>(fs::file_size(f)) == size.get<int64_t>(),
                       f.string(), "size", "differs from complete.json (truncated or replaced)");
  }
  return c;
}

// Loads master/m/v for this rank's optimizer range from a whole or a sharded file.
void read_optimizer(const fs::path& dir, const nlohmann::json& complete, TrainableModel& model, AdamWOptimizer& opt,
                    Communicator& comm, bool zero1) {
  const ParameterStore& store = model.params();
  const bool sharded = complete.value("zero", 0) == 1;
  const int saved_world = complete["world_size"];
  if (sharded)
    TEMPER_INPUT_CHECK(zero1 && saved_world == comm.world_size(), (dir / "complete.json").string(), "world_size",
                       "a ZeRO-1 checkpoint of {} ranks resumes only with --zero 1 on {} ranks (this run: zero {}, {} ranks)",
                       saved_world, saved_world, zero1 ? 1 : 0, comm.world_size());
  const std::string path = (dir / (sharded ? shard_file(comm.rank(), comm.world_size()) : "optimizer.safetensors")).string();
  const SafetensorsFile f = SafetensorsFile::open(path);
  const int64_t file_begin = sharded ? std::stoll(f.metadata().count("begin") ? f.metadata().at("begin") : "-1") : 0;
  const int64_t file_size = f.contains("adamw.m") ? f.info("adamw.m").numel() : -1;
  const ShardRange want = opt.range();
  TEMPER_INPUT_CHECK(file_begin >= 0 && want.begin >= file_begin && std::min(want.end, store.numel()) <= file_begin + file_size,
                     path, "adamw.m", "holds elements [{}, +{}), this rank needs [{}, {})", file_begin, file_size,
                     want.begin, want.end);
  for (const char* name : {"master", "adamw.m", "adamw.v"}) {
    TEMPER_INPUT_CHECK(f.contains(name) && f.info(name).numel() == file_size, path, name, "missing or of another size");
    const Tensor full = f.load(name);
    const int64_t n = std::min(want.end, file_begin + file_size) - want.begin;
    const Tensor src = full.slice_flat(want.begin - file_begin, {n});
    const Tensor dst = std::string(name) == "master" ? store.master_slice(want.begin, n)
                       : std::string(name) == "adamw.m" ? opt.m().slice_flat(0, {n})
                                                        : opt.v().slice_flat(0, {n});
    dst.copy_from(src);
  }
}

// The model's buffers (every rank reads rank 0's copy), when it has any.
void read_buffers(const fs::path& dir, TrainableModel& model) {
  const Tensor buffers = model.buffers();
  if (!buffers.defined()) return;
  const std::string path = (dir / kBuffersFile).string();
  TEMPER_INPUT_CHECK(fs::exists(path), path, "file", "missing: the model's batch-norm statistics are not in the checkpoint");
  const SafetensorsFile f = SafetensorsFile::open(path);
  TEMPER_INPUT_CHECK(f.contains("buffers") && f.info("buffers").numel() == buffers.numel(), path, "buffers",
                     "missing or not of {} elements", buffers.numel());
  buffers.copy_from(f.load("buffers").reshape({buffers.numel()}));
}

}  // namespace

TrainState load_checkpoint(const std::string& where, const std::string& output_dir, TrainableModel& model,
                           AdamWOptimizer& opt, Communicator& comm, bool zero1) {
  const fs::path dir = resolve(where, output_dir);
  const nlohmann::json complete = verify_complete(dir);
  const std::string state_path = (dir / "trainer_state.json").string();
  TEMPER_INPUT_CHECK(fs::exists(state_path), state_path, "file", "missing from the checkpoint");
  const nlohmann::json js = read_json_file(state_path);
  TEMPER_INPUT_CHECK(js.value("version", 0) == kStateVersion, state_path, "version", "unsupported checkpoint version");
  for (const char* key : {"step", "optimizer_steps", "tokens_seen"})
    TEMPER_INPUT_CHECK(js.contains(key) && js[key].is_number_integer(), state_path, key, "missing or not an integer");
  const ParameterStore& store = model.params();
  const nlohmann::json& run = js.value("run", nlohmann::json::object());
  TEMPER_INPUT_CHECK(run.value("num_parameters", int64_t(-1)) == store.numel(), state_path, "run.num_parameters",
                     "checkpoint is of another model ({} parameters, this model has {})",
                     run.value("num_parameters", int64_t(-1)), store.numel());
  read_optimizer(dir, complete, model, opt, comm, zero1);
  // The compute copy of what this rank holds; under ZeRO-1 each rank read only its range, so the
  // compute weights (the master itself when they alias) are gathered from all ranks.
  store.sync_compute_from_master();
  if (zero1 && comm.world_size() > 1) {
    const ShardRange r = opt.range();
    comm.all_gather(store.compute_flat_padded(), store.compute_flat_padded().slice_flat(r.begin, {r.size()}));
  }
  read_buffers(dir, model);
  opt.set_steps_taken(js["optimizer_steps"].get<int>());
  TrainState s;
  s.step = js["step"];
  s.tokens_seen = js["tokens_seen"];
  s.loader = js.value("loader", nlohmann::json());
  s.run = run;
  return s;
}

}  // namespace temper
