// BERT checkpoints in HF layout: a BertModel (names without the "bert." prefix, e.g. the
// sentence-transformers all-MiniLM-L6-v2) or a BertForSequenceClassification ("bert." + "classifier.").
// A checkpoint without a classifier of the wanted size gets transformers' fresh head.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "models/bert/bert_model.h"

namespace temper {

// labels: the classes to predict (empty = the checkpoint's own id2label).
std::unique_ptr<BertClassifier> load_bert_classifier(const std::string& dir, Device device, DType compute_dtype,
                                                     const std::vector<std::string>& labels = {},
                                                     int64_t pad_to = 1, uint64_t seed = 0);
// The architecture of `dir`'s config.json with transformers' random initialisation (no weights read).
std::unique_ptr<BertClassifier> random_bert_classifier(const std::string& dir, Device device, DType compute_dtype,
                                                       const std::vector<std::string>& labels, int64_t pad_to = 1,
                                                       uint64_t seed = 0);
// config.json (BertForSequenceClassification, id2label) + model.safetensors (fp32 master weights).
void save_bert_classifier(const BertClassifier& model, const std::string& dir);

}  // namespace temper
