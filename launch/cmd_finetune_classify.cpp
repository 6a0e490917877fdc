// `temper finetune` on a BERT model: sequence classification. Labelled CSV/TSV/JSONL (string labels
// mapped to ids in sorted order; a held-out split when no --valid), WordPiece encoding with [CLS]/[SEP]
// truncated to --seq-len, padded batches sharded over ranks, the Trainer with a ClassificationTask,
// validation accuracy / macro-F1, an optional test set, the model in BertForSequenceClassification
// layout with the tokenizer files next to it.
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "launch/finetune_flags.h"
#include "models/bert/bert_checkpoint.h"
#include "models/io/json_file.h"
#include "runtime/comm/communicator_factory.h"
#include "runtime/data/wordpiece_tokenizer.h"
#include "runtime/logger.h"
#include "runtime/train/classification_task.h"
#include "runtime/train/trainer.h"

namespace fs = std::filesystem;

namespace temper::cli {
namespace {

const char* const kTokenizerFiles[] = {"tokenizer.json", "tokenizer_config.json", "vocab.txt",
                                       "special_tokens_map.json"};

struct LabelledData {
  LabelMap labels;
  std::vector<LabelledExample> train, valid, test;
};

LabelledData load_data(const FinetuneFlags& f) {
  const TrainConfig& t = f.cfg;
  LabelledData d;
  d.train = load_labelled_file(t.train_file, f.labelled, &d.labels);
  if (!t.valid_file.empty()) {
    d.valid = load_labelled_file(t.valid_file, f.labelled, &d.labels);
  } else if (t.valid_fraction > 0) {
    LabelledSplits s = split_labelled(d.train, t.valid_fraction, 0.0, t.seed);
    d.train = std::move(s.train);
    d.valid = std::move(s.valid);
  }
  if (!f.test_file.empty()) d.test = load_labelled_file(f.test_file, f.labelled, &d.labels);
  return d;
}

std::vector<double> label_counts(const LabelledData& d) {
  std::vector<double> count(static_cast<size_t>(d.labels.size()), 0.0);
  for (const LabelledExample& e : d.train) count[static_cast<size_t>(e.label)] += 1;
  return count;
}

LoaderOptions loader_options(const TrainConfig& t, LoaderMode mode, const Communicator& comm) {
  return LoaderOptions{t.micro_batch, mode, t.seed, comm.rank(), comm.world_size()};
}

void copy_tokenizer_files(const std::string& from, const std::string& to) {
  for (const char* name : kTokenizerFiles)
    if (fs::exists(fs::path(from) / name))
      fs::copy_file(fs::path(from) / name, fs::path(to) / name, fs::copy_options::overwrite_existing);
}

}  // namespace

WordPieceTokenizer load_wordpiece(const std::string& dir) {
  const fs::path json = fs::path(dir) / "tokenizer.json", vocab = fs::path(dir) / "vocab.txt";
  if (fs::exists(json)) return WordPieceTokenizer::from_tokenizer_json(json.string());
  TEMPER_INPUT_CHECK(fs::exists(vocab), dir, "tokenizer", "neither tokenizer.json nor vocab.txt is there");
  return WordPieceTokenizer::from_vocab_txt(vocab.string());
}

std::vector<EncodedExample> encode_labelled(const std::vector<LabelledExample>& examples, const WordPieceTokenizer& tok,
                                   int64_t max_len) {
  return encode_examples(examples, [&](const LabelledExample& e) {
    const WordPieceTokenizer::Encoding enc =
        tok.encode_for_classification(e.text, e.text_b.empty() ? nullptr : &e.text_b, max_len);
    return EncodedExample{enc.ids, enc.token_type_ids, e.label};
  });
}

std::vector<float> parse_class_weights(const std::string& value, const std::vector<std::string>& names,
                                       const std::vector<double>& counts) {
  if (value.empty()) return {};
  const size_t n = names.size();
  std::vector<float> w;
  if (value == "auto") {
    double total = 0;
    for (double c : counts) total += c;
    for (size_t c = 0; c < n; ++c) {
      TEMPER_INPUT_CHECK(counts[c] > 0, "--class-weights", "auto", "label \"{}\" never occurs in the training data",
                         names[c]);
      w.push_back(static_cast<float>(total / (static_cast<double>(n) * counts[c])));
    }
    return w;
  }
  std::stringstream ss(value);
  for (std::string item; std::getline(ss, item, ',');) {
    char* end = nullptr;
    const float v = std::strtof(item.c_str(), &end);
    TEMPER_INPUT_CHECK(!item.empty() && end && *end == '\0' && v >= 0 && std::isfinite(v), "--class-weights", item,
                       "not a non-negative number");
    w.push_back(v);
  }
  TEMPER_INPUT_CHECK(w.size() == n, "--class-weights", value, "{} weights for {} labels ({})", w.size(), n,
                     fmt::join(names, ", "));
  return w;
}

bool is_bert_model_dir(const std::string& dir) {
  const fs::path config = fs::path(dir) / "config.json";
  if (!fs::is_directory(dir) || !fs::exists(config)) return false;
  const nlohmann::json j = read_json_file(config.string());
  return j.is_object() && j.value("model_type", std::string()) == "bert";
}

int run_classification_finetune(FinetuneFlags& f) {
  TrainConfig& t = f.cfg;
  TEMPER_INPUT_CHECK(f.lora.r == 0 && f.qlora.empty(), "--lora-r", "value", "LoRA is implemented for the Llama family");
  resolve_run_settings(f);
  std::unique_ptr<Communicator> comm = make_communicator(f.comm, t.device);
  log_info("device {} ({} compute), {} rank(s), {} communicator; sequence classification", device_name(t.device),
           dtype_name(t.compute_dtype), comm->world_size(), comm->backend());
  const WordPieceTokenizer tok = load_wordpiece(t.model_dir);
  LabelledData data = load_data(f);
  const int64_t pad_to = t.zero_stage == 1 ? comm->world_size() : 1;
  auto model = f.init == "random"
                   ? random_bert_classifier(t.model_dir, t.device, t.compute_dtype, data.labels.names(), pad_to, t.seed)
                   : load_bert_classifier(t.model_dir, t.device, t.compute_dtype, data.labels.names(), pad_to, t.seed);
  if (f.init == "random") log_info("weights: random initialisation (the from-scratch baseline)");
  if (!f.pooling.empty()) model->set_pooling(f.pooling == "mean" ? BertPooling::Mean : BertPooling::Cls);
  model->set_class_weights(parse_class_weights(f.class_weights, data.labels.names(), label_counts(data)));
  if (!model->class_weights().empty()) log_info("class weights: {}", fmt::join(model->class_weights(), ", "));
  TEMPER_INPUT_CHECK(t.seq_len <= model->config().max_positions, "--seq-len", "value",
                     "{} exceeds the model's max_position_embeddings {}", t.seq_len, model->config().max_positions);
  log_info("data: {} training, {} validation, {} test examples; labels: {}", data.train.size(), data.valid.size(),
           data.test.size(), fmt::join(data.labels.names(), ", "));
  ClassificationLoader train(encode_labelled(data.train, tok, t.seq_len), tok.pad_id(), loader_options(t, LoaderMode::Train, *comm));
  std::optional<ClassificationLoader> val;
  if (!data.valid.empty())
    val.emplace(encode_labelled(data.valid, tok, t.seq_len), tok.pad_id(), loader_options(t, LoaderMode::Eval, *comm));
  Trainer trainer(t, std::make_unique<ClassificationTask>(*model, std::move(train), std::move(val)), *comm);
  nlohmann::json summary = trainer.run();
  if (!data.test.empty()) {
    ClassificationLoader test(encode_labelled(data.test, tok, t.seq_len), tok.pad_id(), loader_options(t, LoaderMode::Eval, *comm));
    const EvalReport r = evaluate_classifier(*model, test, 0, comm.get());
    log_info("test: {}", r.text);
    for (const auto& [name, value] : r.metrics.items()) summary["test_" + name] = value;
    summary["test_per_class"] = r.details["per_class"];
    summary["test_confusion"] = r.details["confusion"];
  }
  if (comm->rank() != 0) return 0;
  if (!summary.value("interrupted", false)) {
    copy_tokenizer_files(t.model_dir, t.output_dir);
    log_info("fine-tuned classifier written to {}", t.output_dir);
  }
  std::printf("%s\n", summary.dump().c_str());
  return 0;
}

}  // namespace temper::cli
