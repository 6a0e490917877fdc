// ClassificationLoader: example validation and dynamic padding of the rows its RowCursor hands out
// (see classification_loader.h).
#include "runtime/data/classification_loader.h"

#include <algorithm>
#include <string>
#include <utility>

#include "runtime/error.h"

namespace temper {
namespace {

// Names the data in InputErrors: the loader sees encoded examples, not their file.
const char* const kSource = "classification data";

}  // namespace

ClassificationLoader::ClassificationLoader(std::vector<EncodedExample> data, int32_t pad_id,
                                           const LoaderOptions& options)
    : data_(std::move(data)),
      pad_id_(pad_id),
      cursor_(static_cast<int64_t>(data_.size()), options, kSource, "examples") {
  check_data();
}

void ClassificationLoader::check_data() const {
  for (size_t i = 0; i < data_.size(); ++i) {
    const EncodedExample& e = data_[i];
    TEMPER_CHECK(!e.ids.empty(), "example {} has no tokens", i);
    TEMPER_CHECK(e.ids.size() == e.token_types.size(), "example {} has {} ids but {} token types", i, e.ids.size(),
                 e.token_types.size());
  }
}

bool ClassificationLoader::next(ClassificationBatch& out) {
  const RowCursor::Rows r = cursor_.next();
  if (r.rows.empty()) return false;  // the eval pass is over
  out = make_batch(r.rows, r.epoch);
  return true;
}

ClassificationBatch ClassificationLoader::make_batch(const std::vector<int64_t>& rows, uint64_t epoch) const {
  const auto B = static_cast<int64_t>(rows.size());
  int64_t T = 0;
  for (int64_t i : rows) T = std::max(T, static_cast<int64_t>(data_[static_cast<size_t>(i)].ids.size()));
  ClassificationBatch b;
  b.tokens = Tensor::empty({B, T}, DType::I32);
  b.token_types = Tensor::empty({B, T}, DType::I32);
  b.lengths = Tensor::empty({B}, DType::I32);
  b.labels = Tensor::empty({B}, DType::I32);
  b.epoch = epoch;
  for (int64_t r = 0; r < B; ++r) {
    const EncodedExample& e = data_[static_cast<size_t>(rows[static_cast<size_t>(r)])];
    const auto len = static_cast<int64_t>(e.ids.size());
    int32_t* tok = b.tokens.data<int32_t>() + r * T;
    int32_t* typ = b.token_types.data<int32_t>() + r * T;
    std::copy(e.ids.begin(), e.ids.end(), tok);
    std::fill(tok + len, tok + T, pad_id_);
    std::copy(e.token_types.begin(), e.token_types.end(), typ);
    std::fill(typ + len, typ + T, 0);
    b.lengths.data<int32_t>()[r] = static_cast<int32_t>(len);
    b.labels.data<int32_t>()[r] = e.label;
    b.num_tokens += len;
    if (e.label != kIgnoreLabel) ++b.num_targets;
  }
  return b;
}

std::vector<EncodedExample> encode_examples(const std::vector<LabelledExample>& examples,
                                            const std::function<EncodedExample(const LabelledExample&)>& encode) {
  std::vector<EncodedExample> out;
  out.reserve(examples.size());
  for (const LabelledExample& e : examples) out.push_back(encode(e));
  return out;
}

}  // namespace temper
