// Checkpoint save/restore for exact resume.
#include "runtime/train/train_state.h"

#include <filesystem>

#include "models/io/json_file.h"
#include "models/io/safetensors.h"

namespace fs = std::filesystem;

namespace temper {
namespace {

constexpr int kStateVersion = 1;

std::string step_dir_name(int64_t step) { return fmt::format("step-{:08d}", step); }

std::string resolve(const std::string& where, const std::string& output_dir) {
  if (where != "latest") return where;
  const std::string marker = (fs::path(output_dir) / "checkpoints" / "latest").string();
  TEMPER_INPUT_CHECK(fs::exists(marker), marker, "file", "no checkpoint to resume from (file missing)");
  const nlohmann::json j = read_json_file(marker);
  TEMPER_INPUT_CHECK(j.contains("dir") && j["dir"].is_string(), marker, "dir", "missing");
  return (fs::path(output_dir) / "checkpoints" / j["dir"].get<std::string>()).string();
}

}  // namespace

std::string save_checkpoint(const std::string& output_dir, const CausalLm& model, const AdamWOptimizer& opt,
                            const TrainState& state) {
  const fs::path root = fs::path(output_dir) / "checkpoints";
  const fs::path final_dir = root / step_dir_name(state.step);
  const fs::path tmp_dir = root / (step_dir_name(state.step) + ".partial");
  fs::remove_all(tmp_dir);
  fs::create_directories(tmp_dir);
  model.save_pretrained(tmp_dir.string());
  const ParameterStore& store = model.params();
  save_safetensors((tmp_dir / "optimizer.safetensors").string(),
                   {{"master", store.master_flat()}, {"adamw.m", opt.m()}, {"adamw.v", opt.v()}}, DType::F32);
  nlohmann::json js = {{"version", kStateVersion}, {"step", state.step},       {"tokens_seen", state.tokens_seen},
                       {"optimizer_steps", opt.steps_taken()}, {"loader", state.loader}, {"run", state.run}};
  write_json_file_atomic((tmp_dir / "trainer_state.json").string(), js);  // written last inside the dir
  fs::remove_all(final_dir);
  fs::rename(tmp_dir, final_dir);
  write_json_file_atomic((root / "latest").string(), {{"dir", step_dir_name(state.step)}});
  return final_dir.string();
}

TrainState load_checkpoint(const std::string& where, const std::string& output_dir, CausalLm& model,
                           AdamWOptimizer& opt) {
  const fs::path dir = resolve(where, output_dir);
  const std::string state_path = (dir / "trainer_state.json").string();
  TEMPER_INPUT_CHECK(fs::exists(state_path), state_path, "file",
                     "checkpoint is incomplete (trainer_state.json is written last and is missing)");
  const nlohmann::json js = read_json_file(state_path);
  TEMPER_INPUT_CHECK(js.value("version", 0) == kStateVersion, state_path, "version", "unsupported checkpoint version");
  for (const char* key : {"step", "optimizer_steps", "tokens_seen"})
    TEMPER_INPUT_CHECK(js.contains(key) && js[key].is_number_integer(), state_path, key, "missing or not an integer");
  const std::string opt_path = (dir / "optimizer.safetensors").string();
  const SafetensorsFile f = SafetensorsFile::open(opt_path);
  const ParameterStore& store = model.params();
  for (const char* name : {"master", "adamw.m", "adamw.v"})
    TEMPER_INPUT_CHECK(f.contains(name) && f.info(name).numel() == store.numel(), opt_path, name,
                       "missing or not {} elements (a checkpoint of another model?)", store.numel());
  store.master_flat().copy_from(f.load("master"));
  store.sync_compute_from_master();
  opt.m().copy_from(f.load("adamw.m"));
  opt.v().copy_from(f.load("adamw.v"));
  opt.set_steps_taken(js["optimizer_steps"].get<int>());
  TrainState s;
  s.step = js["step"];
  s.tokens_seen = js["tokens_seen"];
  s.loader = js.value("loader", nlohmann::json());
  s.run = js.value("run", nlohmann::json());
  return s;
}

}  // namespace temper
