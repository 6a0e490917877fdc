// ConfusionMatrix: accuracy, per-class precision / recall / F1 and macro-F1 against hand-computed
// values (sklearn's definitions; a class never predicted has precision 0).
#include <gtest/gtest.h>

#include "runtime/error.h"
#include "runtime/train/classification_metrics.h"

using namespace temper;

namespace {

TEST(ConfusionMatrix, MetricsMatchHandComputedValues) {
  ConfusionMatrix m(3);
  // truth, prediction
  const int pairs[][2] = {{0, 0}, {0, 0}, {0, 1}, {1, 1}, {1, 1}, {1, 1}, {1, 0}, {2, 1}, {2, 2}};
  for (const auto& p : pairs) m.add(p[0], p[1]);
  EXPECT_DOUBLE_EQ(m.total(), 9);
  EXPECT_DOUBLE_EQ(m.accuracy(), 6.0 / 9.0);
  EXPECT_DOUBLE_EQ(m.precision(0), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(m.recall(0), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(m.precision(1), 3.0 / 5.0);
  EXPECT_DOUBLE_EQ(m.recall(1), 3.0 / 4.0);
  EXPECT_DOUBLE_EQ(m.precision(2), 1.0);
  EXPECT_DOUBLE_EQ(m.recall(2), 0.5);
  const double f1_1 = 2 * 0.6 * 0.75 / 1.35, f1_2 = 2 * 1.0 * 0.5 / 1.5;
  EXPECT_NEAR(m.macro_f1(), (2.0 / 3.0 + f1_1 + f1_2) / 3.0, 1e-12);
  const nlohmann::json j = m.to_json({"a", "b", "c"});
  EXPECT_EQ(j["confusion"][1][0], 1);
  EXPECT_EQ(j["per_class"][2]["label"], "c");
  EXPECT_EQ(j["per_class"][1]["support"], 4);
}

TEST(ConfusionMatrix, UnpredictedClassHasZeroPrecisionAndBadLabelsThrow) {
  ConfusionMatrix m(2);
  m.add(0, 0);
  m.add(1, 0);
  EXPECT_DOUBLE_EQ(m.precision(1), 0.0);
  EXPECT_DOUBLE_EQ(m.f1(1), 0.0);
  EXPECT_THROW(m.add(2, 0), Error);
  EXPECT_THROW(m.add(0, -1), Error);
  EXPECT_THROW(ConfusionMatrix(0), Error);
}

}  // namespace
