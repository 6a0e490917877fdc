// `temper finetune`: load a checkpoint + tokenizer, build the data sets, train, validate, save.
#include <filesystem>
#include <set>
#include <sstream>

#include "launch/commands.h"
#include "launch/common_options.h"
#include "launch/finetune_flags.h"
#include "models/io/json_file.h"
#include "models/model_loader.h"
#include "models/vision/cnn_checkpoint.h"
#include "runtime/data/bpe_tokenizer.h"
#include "runtime/data/packed_dataset.h"
#include "runtime/data/tokenizer_loader.h"
#include "runtime/comm/communicator_factory.h"
#include "runtime/comm/world.h"
#include "runtime/logger.h"
#include "runtime/train/trainer.h"

namespace fs = std::filesystem;

namespace temper::cli {
namespace {

void add_flags(CLI::App& c, FinetuneFlags& f) {
  TrainConfig& t = f.cfg;
  c.add_option("--model", t.model_dir, "pre-trained model: HF directory or a llama .gguf file")->required();
  c.add_option("--train", t.train_file, "training data: text file or JSONL (text | prompt+completion); for a BERT "
               "classifier CSV / TSV / JSONL with a text and a label field")->required();
  c.add_option("--valid", t.valid_file, "validation data (default: hold out --valid-fraction of --train)");
  c.add_option("--valid-fraction", t.valid_fraction, "held-out fraction")->check(CLI::Range(0.0, 0.9))->capture_default_str();
  c.add_option("--output", t.output_dir, "output directory (fine-tuned model, checkpoints, metrics)")->capture_default_str();
  c.add_option("--cache-dir", t.cache_dir, "token cache directory (default <output>/cache)");
  c.add_option("--resume", t.resume, "checkpoint directory to resume from, or 'latest'");
  c.add_option("--seq-len", t.seq_len, "tokens per sequence")->check(CLI::Range(int64_t(1), int64_t(1) << 20))->capture_default_str();
  c.add_option("--micro-batch", t.micro_batch, "sequences per micro-batch")->check(CLI::Range(int64_t(1), int64_t(1) << 16))->capture_default_str();
  c.add_option("--grad-accum", t.grad_accum, "micro-batches per optimizer step")->check(CLI::Range(int64_t(1), int64_t(1) << 16))->capture_default_str();
  c.add_option("--max-steps", t.max_steps, "optimizer steps (0: from --epochs)")->check(CLI::NonNegativeNumber)->capture_default_str();
  c.add_option("--epochs", t.epochs, "passes over the training data")->check(CLI::Range(1e-6, 1e6))->capture_default_str();
  c.add_option("--lr", f.lr, "peak learning rate")->check(CLI::Range(0.0, 10.0))->capture_default_str();
  c.add_option("--lr-schedule", f.schedule, "constant | linear | cosine")->check(CLI::IsMember({"constant", "linear", "cosine"}))->capture_default_str();
  c.add_option("--warmup-steps", f.warmup_steps, "linear warmup steps")->check(CLI::NonNegativeNumber)->capture_default_str();
  c.add_option("--warmup-ratio", t.warmup_ratio, "warmup as a fraction of the steps")->check(CLI::Range(0.0, 1.0))->capture_default_str();
  c.add_option("--weight-decay", t.weight_decay, "decoupled weight decay (not on biases/norms)")->check(CLI::Range(0.0, 10.0))->capture_default_str();
  c.add_option("--max-grad-norm", t.max_grad_norm, "gradient clipping norm (0: off)")->check(CLI::Range(0.0, 1e9))->capture_default_str();
  c.add_option("--seed", t.seed, "data order seed")->capture_default_str();
  c.add_option("--eval-every", t.eval_every, "validate every N steps (0: start and end only)")->check(CLI::NonNegativeNumber)->capture_default_str();
  c.add_option("--eval-batches", t.eval_batches, "validation batches (0: all)")->check(CLI::NonNegativeNumber)->capture_default_str();
  c.add_option("--save-every", t.save_every, "checkpoint every N steps (0: none)")->check(CLI::NonNegativeNumber)->capture_default_str();
  c.add_option("--lora-r", f.lora.r, "LoRA rank (0: full fine-tuning); the base is frozen")->check(CLI::Range(int64_t(0), int64_t(4096)))->capture_default_str();
  c.add_option("--lora-alpha", f.lora.alpha, "LoRA alpha (scale alpha / r)")->check(CLI::Range(0.0, 1e6))->capture_default_str();
  c.add_option("--lora-dropout", f.lora.dropout, "dropout on the adapters' inputs while training (PEFT's lora_dropout)")->check(CLI::Range(0.0, 0.99))->capture_default_str();
  c.add_option("--lora-targets", f.lora_targets, "comma-separated projections: q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj")->capture_default_str();
  c.add_option("--qlora", f.qlora, "QLoRA: keep the frozen base projections quantized on the device: 'keep' (a GGUF "
               "file's own types) or q4_0 | q4_1 | q5_0 | q5_1 | q8_0 (quantized at load); needs --lora-r")
      ->check(CLI::IsMember({"keep", "q4_0", "q4_1", "q5_0", "q5_1", "q8_0"}));
  c.add_flag("--recompute", t.recompute, "activation recomputation: keep only block inputs, redo forwards in backward");
  c.add_flag("--save-on-signal", t.save_on_signal, "on SIGTERM/SIGINT/SIGUSR1: checkpoint after the current step and stop");
  c.add_option("--log-every", t.log_every, "plain progress line every N steps")->check(CLI::PositiveNumber)->capture_default_str();
  c.add_option("--progress", f.progress, "auto | bar | plain | off")->check(CLI::IsMember({"auto", "bar", "plain", "off"}))->capture_default_str();
  c.add_option("--metrics-file", t.metrics_file, "metrics JSONL (default <output>/metrics.jsonl)");
  c.add_option("--zero", t.zero_stage, "optimizer state sharding across ranks: 0 (off) or 1 (ZeRO-1)")->check(CLI::IsMember({0, 1}))->capture_default_str();
  c.add_option("--bucket-mb", f.bucket_mb, "gradient all-reduce bucket size in MiB")->check(CLI::Range(0.001, 4096.0))->capture_default_str();
  c.add_option("--comm", f.comm, "auto | single | mpi | nccl")->check(CLI::IsMember({"auto", "single", "mpi", "nccl"}))->capture_default_str();
  c.add_option("--text-field", f.labelled.text_field, "classification: the text column / key")->capture_default_str();
  c.add_option("--text-b-field", f.labelled.text_b_field, "classification: a second text column (sentence pairs)");
  c.add_option("--label-field", f.labelled.label_field, "classification: the label column / key")->capture_default_str();
  c.add_option("--test", f.test_file, "classification: a test set, scored once after training");
  c.add_option("--init", f.init, "classification: pretrained weights, or random (transformers' initialisation of the "
               "same architecture: the from-scratch baseline)")->check(CLI::IsMember({"pretrained", "random"}))->capture_default_str();
  c.add_option("--class-weights", f.class_weights, "classification: per-class loss weights in label order (w0,w1,...) "
               "or 'auto' (n / (classes x count), sklearn's balanced)");
  c.add_option("--pooling", f.pooling, "classification: cls (HF's pooler on [CLS]; transformers reloads it exactly) or "
               "mean (mean of the last hidden states over the real tokens)")->check(CLI::IsMember({"cls", "mean"}));
  ImageFlags& im = f.images;
  c.add_option("--train-labels", im.train_labels, "images: the labels of --train (IDX labels file, or an HDF5 file; "
               "default for HDF5: the images file; none for a folder of class folders of PNG/JPEG files)");
  c.add_option("--valid-labels", im.valid_labels, "images: the labels of --valid");
  c.add_option("--test-labels", im.test_labels, "images: the labels of --test");
  c.add_option("--images-key", im.source.images_key, "images: HDF5 dataset of the images (N x H x W [x C] uint8)")->capture_default_str();
  c.add_option("--labels-key", im.source.labels_key, "images: HDF5 dataset of the labels")->capture_default_str();
  c.add_option("--image-size", im.image_size, "images: resize to this square size (0: the model's image_size)")
      ->check(CLI::Range(int64_t(0), int64_t(4096)))->capture_default_str();
  c.add_option("--resize", im.resize, "images in class folders: resize the shorter side to this, then take the centred "
               "--image-size square (0: the checkpoint's resize_size when --image-size keeps its size, else "
               "--image-size; ImageNet's evaluation uses 256 for 224)")
      ->check(CLI::Range(int64_t(0), int64_t(8192)))->capture_default_str();
  c.add_option("--crop-padding", im.crop_padding, "images: training random crop after zero padding by this many pixels")
      ->check(CLI::Range(int64_t(0), int64_t(1024)))->capture_default_str();
  c.add_option("--hflip", im.hflip, "images: training horizontal flip probability")->check(CLI::Range(0.0, 1.0))->capture_default_str();
  c.add_option("--freeze", im.freeze, "images: freeze the network up to and including this stage (stem, layer1..4 for "
               "ResNet; stem, stage1..7, head for EfficientNet-Lite) or 'backbone' (train the classifier only)");
  c.add_option("--dropout", im.dropout, "images: dropout before the classifier while training (default: the model's)")
      ->check(CLI::Range(0.0, 0.99));
  c.add_option("--label-names", im.label_names, "images: comma-separated class names in id order");
  add_device_options(c, f.dev);
  add_config_option(c);
}

ProgressStyle parse_progress(const std::string& s) {
  return s == "bar" ? ProgressStyle::Bar : s == "plain" ? ProgressStyle::Plain : s == "off" ? ProgressStyle::Off : ProgressStyle::Auto;
}

DataConfig data_config(const TrainConfig& t) {
  DataConfig d;
  d.train_path = t.train_file;
  d.val_path = t.valid_file;
  d.val_fraction = t.valid_file.empty() ? t.valid_fraction : 0.0;
  d.cache.cache_dir = t.cache_dir.empty() ? (fs::path(t.output_dir) / "cache").string() : t.cache_dir;
  d.cache.tokenizer_id = tokenizer_identity(t.model_dir);
  d.packing.seq_len = t.seq_len;
  d.packing.ignore_index = t.ignore_index;
  return d;
}

std::set<std::string> parse_lora_targets(const std::string& list) {
  static const std::set<std::string> kKnown = {"q_proj", "k_proj", "v_proj", "o_proj",
                                               "gate_proj", "up_proj", "down_proj"};
  std::set<std::string> out;
  std::stringstream ss(list);
  for (std::string item; std::getline(ss, item, ',');) {
    TEMPER_INPUT_CHECK(kKnown.count(item), "--lora-targets", item, "unknown projection (q_proj, k_proj, v_proj, o_proj, "
                       "gate_proj, up_proj, down_proj)");
    out.insert(item);
  }
  TEMPER_INPUT_CHECK(!out.empty(), "--lora-targets", "value", "names no projection");
  return out;
}

// --qlora: off, the GGUF file's own block types, or one type to quantize to.
void parse_qlora(const std::string& value, LoraOptions& lora) {
  if (value.empty()) return;
  TEMPER_INPUT_CHECK(lora.r > 0, "--qlora", "value", "QLoRA trains LoRA adapters over the quantized base: set --lora-r too");
  if (value == "keep") {
    lora.base_quant = BaseQuant::KeepFileTypes;
    return;
  }
  static const std::pair<const char*, GgmlType> kTypes[] = {{"q4_0", GgmlType::Q4_0}, {"q4_1", GgmlType::Q4_1},
                                                            {"q5_0", GgmlType::Q5_0}, {"q5_1", GgmlType::Q5_1},
                                                            {"q8_0", GgmlType::Q8_0}};
  for (const auto& [name, type] : kTypes)
    if (value == name) {
      lora.base_quant = BaseQuant::Quantize;
      lora.base_quant_type = type;
    }
}

LoaderOptions loader_options(const TrainConfig& t, LoaderMode mode, const Communicator& comm) {
  return LoaderOptions{t.micro_batch, mode, t.seed, comm.rank(), comm.world_size()};
}

// An output directory reused from an earlier run may hold the other kind of model (a full checkpoint
// next to a LoRA adapter): remove the files this run did not write, so loaders see one model.
void remove_other_model_kind(const std::string& dir, bool lora) {
  const std::vector<std::string> full = {"config.json", "model.safetensors", "generation_config.json"};
  const std::vector<std::string> adapter = {"adapter_config.json", "adapter_model.safetensors"};
  for (const std::string& name : lora ? full : adapter) {
    if (!fs::exists(fs::path(dir) / name)) continue;
    log_warn("removing {} left in {} by an earlier {} run", name, dir, lora ? "full fine-tuning" : "LoRA");
    fs::remove(fs::path(dir) / name);
  }
}

// The output directory gets the tokenizer in HF form: copied from an HF model directory, or
// written out from a GGUF file's metadata (tokenizer.json + tokenizer_config.json with the chat template).
void write_tokenizer_files(const std::string& from, const Tokenizer& tokenizer, const std::string& to) {
  if (is_gguf_path(from)) {
    const auto* bpe = dynamic_cast<const BpeTokenizer*>(&tokenizer);
    TEMPER_CHECK(bpe != nullptr, "a GGUF tokenizer that is not byte-level BPE");
    bpe->save_tokenizer_json((fs::path(to) / "tokenizer.json").string());
    write_tokenizer_config_json((fs::path(to) / "tokenizer_config.json").string(), *bpe, bpe->chat_template());
    return;
  }
  for (const std::string& name : tokenizer_files())
    if (fs::exists(fs::path(from) / name)) copy_file((fs::path(from) / name).string(), (fs::path(to) / name).string());
}

}  // namespace

void resolve_run_settings(FinetuneFlags& f) {
  TrainConfig& t = f.cfg;
  t.schedule.kind = parse_lr_schedule(f.schedule);
  t.schedule.peak_lr = f.lr;
  t.schedule.warmup_steps = f.warmup_steps;
  t.progress = parse_progress(f.progress);
  t.bucket_bytes = static_cast<size_t>(f.bucket_mb * (1 << 20));
  t.device = resolve_device(f.dev);
  t.compute_dtype = resolve_precision(f.dev, t.device);
}

namespace {

int run(FinetuneFlags& f) {
  if (is_bert_model_dir(f.cfg.model_dir)) return run_classification_finetune(f);
  if (is_vision_model_dir(f.cfg.model_dir)) return run_image_finetune(f);
  TrainConfig& t = f.cfg;
  resolve_run_settings(f);
  std::unique_ptr<Communicator> comm = make_communicator(f.comm, t.device);
  log_info("device {} ({} compute, fp32 master weights and optimizer state), {} rank(s), {} communicator",
           device_name(t.device), dtype_name(t.compute_dtype), comm->world_size(), comm->backend());
  auto tokenizer = load_tokenizer(t.model_dir);
  f.lora.modules = parse_lora_targets(f.lora_targets);
  f.lora.seed = t.seed;
  parse_qlora(f.qlora, f.lora);
  auto model = load_causal_lm(t.model_dir, t.device, t.compute_dtype, t.zero_stage == 1 ? comm->world_size() : 1,
                              f.lora);
  model->set_recompute(t.recompute);
  TEMPER_INPUT_CHECK(t.seq_len <= model->max_positions(), "--seq-len", "value", "{} exceeds the model's context of {}",
                     t.seq_len, model->max_positions());
  DatasetSplit data = load_datasets(data_config(t), *tokenizer);
  data.train.check_vocab(static_cast<int32_t>(model->vocab_size()));
  std::optional<SequenceLoader> val;
  if (data.val) {
    data.val->check_vocab(static_cast<int32_t>(model->vocab_size()));
    val.emplace(*data.val, loader_options(t, LoaderMode::Eval, *comm));
  }
  SequenceLoader train(data.train, loader_options(t, LoaderMode::Train, *comm));
  log_info("data: {} training windows, {} validation windows of {} tokens", train.num_windows(),
           val ? val->num_windows() : 0, t.seq_len);
  Trainer trainer(t, *model, std::move(train), std::move(val), *comm);
  const nlohmann::json summary = trainer.run();
  if (comm->rank() != 0) return 0;
  if (!summary.value("interrupted", false)) {  // an interrupted run wrote a checkpoint, not the model
    const auto* llama = dynamic_cast<const LlamaModel*>(model.get());
    remove_other_model_kind(t.output_dir, llama && llama->uses_lora());
    write_tokenizer_files(t.model_dir, *tokenizer, t.output_dir);
    log_info("fine-tuned model written to {}", t.output_dir);
  }
  std::printf("%s\n", summary.dump().c_str());
  return 0;
}

}  // namespace

Runner add_finetune(CLI::App& app) {
  auto flags = std::make_shared<FinetuneFlags>();
  CLI::App* c = app.add_subcommand("finetune", "fine-tune a causal LM on text or JSONL");
  add_flags(*c, *flags);
  return [flags] { return run(*flags); };
}

}  // namespace temper::cli
