// Rank slicing shared by the data loaders (SequenceLoader, ClassificationLoader, ImageLoader), so
// every loader hands a rank the same rows and the data position stays world-size independent:
// Train: a global batch is B x world_size consecutive entries of the epoch's order starting at
//   `position` (entries consumed over all ranks); rank r takes entries [r*B, (r+1)*B).
// Eval: one in-order pass over n rows; rank r owns rows r, r + world_size, ... and `position`
//   counts the rows of its own it has already taken; the last batch may be smaller.
#pragma once
#include <cstdint>
#include <vector>

namespace temper {

// Rank `rank`'s B entries of the global batch that starts at `position` in `order`. The caller keeps
// position + world_size * B <= order.size() (incomplete global batches are dropped).
inline std::vector<int64_t> train_rank_slice(const std::vector<int64_t>& order, int64_t position, int64_t batch_size,
                                             int rank) {
  const auto begin = order.begin() + position + rank * batch_size;
  return std::vector<int64_t>(begin, begin + batch_size);
}

// Up to B rows of rank `rank`'s eval shard of [0, n), from its `position`-th row on (empty at the end).
inline std::vector<int64_t> eval_rank_slice(int64_t n, int64_t position, int64_t batch_size, int rank, int world_size) {
  std::vector<int64_t> rows;
  for (int64_t k = position; k < position + batch_size; ++k) {
    const int64_t i = rank + k * world_size;
    if (i >= n) break;
    rows.push_back(i);
  }
  return rows;
}

// Batches per rank in an epoch of n rows: train counts complete global batches; eval counts this
// rank's batches, the last possibly partial.
inline int64_t train_batches(int64_t n, int64_t batch_size, int world_size) { return n / (batch_size * world_size); }
inline int64_t eval_batches(int64_t n, int64_t batch_size, int rank, int world_size) {
  const int64_t mine = (n - rank + world_size - 1) / world_size;
  return (mine + batch_size - 1) / batch_size;
}

}  // namespace temper
