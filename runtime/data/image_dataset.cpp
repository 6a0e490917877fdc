// ImageDataset's default label listing (see image_dataset.h).
#include "runtime/data/image_dataset.h"

#include <algorithm>

namespace temper {

std::vector<int32_t> ImageDataset::labels() {
  constexpr int64_t kBlock = 4096;
  std::vector<int32_t> out;
  out.reserve(static_cast<size_t>(size()));
  for (int64_t begin = 0; begin < size(); begin += kBlock) {
    std::vector<int64_t> rows;
    for (int64_t i = begin; i < std::min(size(), begin + kBlock); ++i) rows.push_back(i);
    const ImageBatch b = read(rows);
    out.insert(out.end(), b.labels.data<int32_t>(), b.labels.data<int32_t>() + b.labels.numel());
  }
  return out;
}

}  // namespace temper
