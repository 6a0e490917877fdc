// SequenceLoader: windows of a PackedDataset assembled into token / target batches in RowCursor's
// order (see sequence_loader.h).
#include "runtime/data/sequence_loader.h"

#include <utility>

#include "runtime/error.h"

namespace temper {

SequenceLoader::SequenceLoader(PackedDataset data, const LoaderOptions& options)
    : data_(std::move(data)),
      cursor_(data_.num_windows(), options, data_.source_path(),
              fmt::format("windows of seq_len + 1 = {} tokens", data_.seq_len() + 1)) {}

int64_t SequenceLoader::tokens_per_epoch() const {
  const LoaderOptions& o = cursor_.options();
  const int64_t windows =
      o.mode == LoaderMode::Train ? batches_per_epoch() * o.batch_size * o.world_size : data_.num_windows();
  return windows * data_.seq_len();
}

bool SequenceLoader::next(Batch& out) {
  const RowCursor::Rows r = cursor_.next();
  if (r.rows.empty()) return false;  // the eval pass is over
  out = make_batch(r.rows, r.epoch);
  return true;
}

Batch SequenceLoader::make_batch(const std::vector<int64_t>& windows, uint64_t epoch) const {
  const auto rows = static_cast<int64_t>(windows.size());
  const int64_t T = data_.seq_len();
  Batch b;
  b.tokens = Tensor::empty({rows, T}, DType::I32);
  b.targets = Tensor::empty({rows, T}, DType::I32);
  b.epoch = epoch;
  int32_t* tok = b.tokens.data<int32_t>();
  int32_t* tgt = b.targets.data<int32_t>();
  for (int64_t r = 0; r < rows; ++r)
    b.num_targets += data_.fill_window(windows[static_cast<size_t>(r)], tok + r * T, tgt + r * T);
  return b;
}

}  // namespace temper
