// BERT sequence classification against transformers (tools/make_bert_fixture.py: a random
// BertForSequenceClassification, a padded batch with token types): logits, loss and every
// parameter's gradient match; the saved directory reloads identically; a bare BertModel checkpoint
// (no "bert." prefix, no head) loads with a fresh head; bad configs name the field.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "models/bert/bert_checkpoint.h"
#include "models/io/json_file.h"
#include "models/io/safetensors.h"
#include "tests/test_util.h"

using namespace temper;
using temper::test::fixture;
using temper::test::rel_err;

namespace fs = std::filesystem;

namespace {

ClassifierInput reference_input(const SafetensorsFile& ref) {
  return {ref.load("tokens", DType::I32), ref.load("token_types", DType::I32), ref.load("lengths", DType::I32)};
}

TEST(BertHf, LogitsLossAndGradientsMatchTransformers) {
  auto model = load_bert_classifier(fixture("bert_cls"), Device::Cpu, DType::F32);
  EXPECT_EQ(model->config().labels, (std::vector<std::string>{"negative", "neutral", "positive"}));
  const SafetensorsFile ref = SafetensorsFile::open(fixture("bert_cls/reference.safetensors"));
  EXPECT_LT(rel_err(model->forward(reference_input(ref)).to_vector(), ref.load("logits").to_vector()), 1e-5);
  model->params().zero_grads();
  const LossSum ls = model->backward(ref.load("labels", DType::I32), 1.f / 3.f);
  EXPECT_NEAR(ls.sum / double(ls.count), ref.load("loss").to_vector()[0], 1e-5);
  const ParameterStore& s = model->params();
  for (int id = 0; id < s.size(); ++id) {
    const std::string& name = s.info(id).name;
    const std::vector<float> got = s.grad(id).to_vector(), want = ref.load("grad." + name).to_vector();
    if (name.find("self.key.bias") != std::string::npos) {  // softmax ignores a per-query constant: exactly 0
      for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-6) << name;
      continue;
    }
    EXPECT_LT(rel_err(got, want), 1e-4) << name;
  }
}

// --pooling mean: the classifier on the mean of the last hidden states over the real tokens
// (transformers' BertModel + a masked mean, in the fixture script); the pooler gets no gradient.
TEST(BertHf, MeanPoolingMatchesTheMaskedMeanOfTransformersHiddenStates) {
  const std::string dir = (fs::temp_directory_path() / "temper_bert_mean").string();
  fs::create_directories(dir);
  fs::copy_file(fixture("bert_cls/model.safetensors"), dir + "/model.safetensors", fs::copy_options::overwrite_existing);
  nlohmann::json config = read_json_file(fixture("bert_cls/config.json"));
  config["temper_pooling"] = "mean";
  write_json_file_atomic(dir + "/config.json", config);
  auto model = load_bert_classifier(dir, Device::Cpu, DType::F32);
  ASSERT_EQ(model->config().pooling, BertPooling::Mean);
  const SafetensorsFile ref = SafetensorsFile::open(fixture("bert_cls/reference.safetensors"));
  EXPECT_LT(rel_err(model->forward(reference_input(ref)).to_vector(), ref.load("mean.logits").to_vector()), 1e-5);
  model->params().zero_grads();
  const LossSum ls = model->backward(ref.load("labels", DType::I32), 1.f / 3.f);
  EXPECT_NEAR(ls.sum / double(ls.count), ref.load("mean.loss").to_vector()[0], 1e-5);
  const ParameterStore& s = model->params();
  for (int id = 0; id < s.size(); ++id) {
    const std::string& name = s.info(id).name;
    const std::vector<float> got = s.grad(id).to_vector(), want = ref.load("mean.grad." + name).to_vector();
    if (name.find("self.key.bias") != std::string::npos || name.find("pooler") != std::string::npos) {
      for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-6) << name;
      continue;
    }
    EXPECT_LT(rel_err(got, want), 1e-4) << name;
  }
  save_bert_classifier(*model, dir + "/saved");
  EXPECT_EQ(read_json_file(dir + "/saved/config.json")["temper_pooling"], "mean");
  fs::remove_all(dir);
}

// Class weights: the loss is torch's CrossEntropyLoss(weight=w) (sum of w_y * loss / sum of w_y)
// and so are all the gradients.
TEST(BertHf, ClassWeightsMatchTorchWeightedCrossEntropy) {
  auto model = load_bert_classifier(fixture("bert_cls"), Device::Cpu, DType::F32);
  const SafetensorsFile ref = SafetensorsFile::open(fixture("bert_cls/reference.safetensors"));
  model->set_class_weights(ref.load("weighted.class_weights").to_vector());
  const Tensor labels = ref.load("labels", DType::I32);
  double weight_sum = 0;
  for (int64_t i = 0; i < labels.numel(); ++i) weight_sum += model->class_weights()[size_t(labels.data<int32_t>()[i])];
  model->forward(reference_input(ref));
  model->params().zero_grads();
  const LossSum ls = model->backward(labels, float(1.0 / weight_sum));
  EXPECT_NEAR(ls.sum / weight_sum, ref.load("weighted.loss").to_vector()[0], 1e-5);
  const ParameterStore& s = model->params();
  for (int id = 0; id < s.size(); ++id) {
    const std::string& name = s.info(id).name;
    const std::vector<float> got = s.grad(id).to_vector(), want = ref.load("weighted.grad." + name).to_vector();
    if (name.find("self.key.bias") != std::string::npos) continue;  // exactly 0 (see above)
    EXPECT_LT(rel_err(got, want), 1e-4) << name;
  }
}

TEST(BertHf, SavedModelReloadsIdentically) {
  auto model = load_bert_classifier(fixture("bert_cls"), Device::Cpu, DType::F32);
  const std::string dir = (fs::temp_directory_path() / "temper_bert_save").string();
  save_bert_classifier(*model, dir);
  auto again = load_bert_classifier(dir, Device::Cpu, DType::F32);
  const SafetensorsFile ref = SafetensorsFile::open(fixture("bert_cls/reference.safetensors"));
  EXPECT_EQ(model->forward(reference_input(ref)).to_vector(), again->forward(reference_input(ref)).to_vector());
  EXPECT_EQ(read_json_file(dir + "/config.json")["id2label"]["2"], "positive");
  fs::remove_all(dir);
}

// The encoder of a BertModel checkpoint (names without "bert.", no classifier), as sentence-transformers
// ships all-MiniLM-L6-v2: written here by renaming the fixture's tensors.
TEST(BertHf, BareEncoderGetsAFreshHeadForNewLabels) {
  const SafetensorsFile f = SafetensorsFile::open(fixture("bert_cls/model.safetensors"));
  NamedTensors bare;
  for (const std::string& name : f.names())
    if (name.rfind("bert.", 0) == 0) bare.emplace_back(name.substr(5), f.load(name, DType::F32));
  const std::string dir = (fs::temp_directory_path() / "temper_bert_bare").string();
  fs::create_directories(dir);
  save_safetensors(dir + "/model.safetensors", bare, DType::F32, {});
  fs::copy_file(fixture("bert_cls/config.json"), dir + "/config.json", fs::copy_options::overwrite_existing);
  auto model = load_bert_classifier(dir, Device::Cpu, DType::F32, {"neg", "pos"}, 1, 7);
  EXPECT_EQ(model->config().num_labels(), 2);
  const ParameterStore& s = model->params();
  const std::vector<float> w = s.master(s.find("classifier.weight")).to_vector();
  double sq = 0;
  for (float x : w) sq += double(x) * x;
  EXPECT_NEAR(std::sqrt(sq / double(w.size())), 0.02, 0.006);  // N(0, initializer_range)
  for (float x : s.master(s.find("classifier.bias")).to_vector()) EXPECT_EQ(x, 0.f);
  EXPECT_EQ(s.master(s.find("bert.pooler.dense.weight")).to_vector(),
            f.load("bert.pooler.dense.weight", DType::F32).to_vector());
  fs::remove_all(dir);
}

TEST(BertHf, BadConfigNamesTheField) {
  nlohmann::json j = read_json_file(fixture("bert_cls/config.json"));
  j["hidden_act"] = "relu";
  EXPECT_THROW(bert_config_from_json(j, "config.json"), InputError);
  j["hidden_act"] = "gelu";
  j["position_embedding_type"] = "relative_key";
  EXPECT_THROW(bert_config_from_json(j, "config.json"), InputError);
  j.erase("position_embedding_type");
  j["num_attention_heads"] = 5;  // does not divide 36
  try {
    bert_config_from_json(j, "config.json");
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("num_attention_heads"), std::string::npos) << e.what();
  }
}

}  // namespace
