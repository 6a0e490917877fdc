// `temper eval` on a BERT sequence classifier (a `temper finetune` output or any
// BertForSequenceClassification directory): scores it on a labelled CSV/TSV/JSONL file encoded as the
// fine-tune encodes its validation set ([CLS] text [SEP], truncated to --seq-len). The file's labels
// must be among the model's (id2label); prints one JSON object: loss, accuracy, macro_f1, examples,
// per_class, confusion.
#include "launch/eval_flags.h"
#include "launch/finetune_flags.h"
#include "models/bert/bert_checkpoint.h"
#include "runtime/logger.h"
#include "runtime/train/classification_task.h"

namespace temper::cli {

int run_classifier_eval(const EvalFlags& f) {
  const Device device = resolve_device(f.dev);
  auto model = load_bert_classifier(f.model, device, resolve_precision(f.dev, device));
  TEMPER_INPUT_CHECK(f.seq_len <= model->config().max_positions, "--seq-len", std::to_string(f.seq_len),
                     "exceeds the model's max_position_embeddings {}", model->config().max_positions);
  const WordPieceTokenizer tok = load_wordpiece(f.model);
  LabelMap labels(model->labels());
  const std::vector<LabelledExample> examples = load_labelled_file(f.data, f.labelled, &labels);
  TEMPER_INPUT_CHECK(!examples.empty(), f.data, "examples", "no labelled examples");
  log_info("{} labels ({}) on {}: {} examples of up to {} tokens", labels.size(), fmt::join(labels.names(), ", "),
           f.data, examples.size(), f.seq_len);
  ClassificationLoader loader(encode_labelled(examples, tok, f.seq_len), tok.pad_id(),
                              LoaderOptions{f.batch, LoaderMode::Eval, 0, 0, 1});
  return print_eval_report(evaluate_classifier(*model, loader, f.max_batches, nullptr));
}

}  // namespace temper::cli
