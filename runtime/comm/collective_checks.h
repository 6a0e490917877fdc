// Argument checks shared by the MPI and NCCL communicators: dtype and element counts of
// reduce_scatter / all_gather, the in-place convention, and reduce ops a dtype supports.
#pragma once
#include "runtime/comm/communicator.h"

namespace temper {

enum class Overlap { None, OwnChunk, Other };

// Where `part` ([n]) lies relative to `whole` ([world * n]): apart, exactly chunk `rank`, or elsewhere.
Overlap overlap(const Tensor& part, const Tensor& whole, int rank);

// in[world * n] -> out[n]: same dtype, counts matching, out apart from in or its chunk `rank`.
// Returns how out lies relative to in (None or OwnChunk).
Overlap check_reduce_scatter(const Tensor& out, const Tensor& in, int world, int rank);
// in[n] -> out[world * n]: same dtype, counts matching, in apart from out or its chunk `rank`.
Overlap check_all_gather(const Tensor& out, const Tensor& in, int world, int rank);
// Avg is defined for floating-point dtypes only.
void check_reduce_op(DType t, ReduceOp op, const char* name);

}  // namespace temper
