// The real all-MiniLM-L6-v2 checkpoint (a bare BertModel from sentence-transformers; fetched by
// tools/fetch_minilm.sh) loads into the BERT classifier: with the fixture's 2-label head, a padded
// batch of real sentences gives transformers' BertForSequenceClassification logits
// (tools/make_minilm_logits_fixture.py).
#include <gtest/gtest.h>

#include <filesystem>

#include "models/bert/bert_checkpoint.h"
#include "models/io/safetensors.h"
#include "tests/test_util.h"

using namespace temper;
using temper::test::fixture;
using temper::test::rel_err;

namespace {

TEST(BertMiniLm, RealCheckpointGivesTransformersLogits) {
  const std::string dir = std::string(TEMPER_SOURCE_DIR) + "/.cache/minilm";
  if (!std::filesystem::exists(dir + "/model.safetensors")) GTEST_SKIP() << "run tools/fetch_minilm.sh";
  auto model = load_bert_classifier(dir, Device::Cpu, DType::F32, {"negative", "positive"});
  EXPECT_EQ(model->config().n_layer, 6);
  EXPECT_EQ(model->config().hidden, 384);
  const SafetensorsFile ref = SafetensorsFile::open(fixture("minilm/reference.safetensors"));
  const ParameterStore& s = model->params();
  s.master(s.find("classifier.weight")).copy_from(ref.load("classifier.weight", DType::F32));
  s.master(s.find("classifier.bias")).copy_from(ref.load("classifier.bias", DType::F32));
  s.sync_compute_from_master();
  const ClassifierInput in{ref.load("tokens", DType::I32), ref.load("token_types", DType::I32),
                           ref.load("lengths", DType::I32)};
  EXPECT_LT(rel_err(model->forward(in).to_vector(), ref.load("logits").to_vector()), 1e-4);
}

}  // namespace
