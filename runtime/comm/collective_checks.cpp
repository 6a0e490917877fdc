// Shared collective argument checks (messages name the collective and the offending counts).
#include "runtime/comm/collective_checks.h"

namespace temper {

Overlap overlap(const Tensor& part, const Tensor& whole, int rank) {
  const char* p = static_cast<const char*>(part.raw());
  const char* w = static_cast<const char*>(whole.raw());
  if (part.nbytes() == 0 || whole.nbytes() == 0 || p + part.nbytes() <= w || w + whole.nbytes() <= p)
    return Overlap::None;
  return p == w + static_cast<size_t>(rank) * part.nbytes() ? Overlap::OwnChunk : Overlap::Other;
}

Overlap check_reduce_scatter(const Tensor& out, const Tensor& in, int world, int rank) {
  TEMPER_CHECK(out.defined() && in.defined(), "reduce_scatter: undefined tensor");
  TEMPER_CHECK(out.dtype() == in.dtype(), "reduce_scatter: out is {} but in is {}", dtype_name(out.dtype()),
               dtype_name(in.dtype()));
  TEMPER_CHECK(in.numel() % world == 0, "reduce_scatter: in has {} elements, not divisible by the world size {}",
               in.numel(), world);
  TEMPER_CHECK(in.numel() == out.numel() * world,
               "reduce_scatter: in has {} elements but out has {}; in must be world size {} x out", in.numel(),
               out.numel(), world);
  const Overlap ov = overlap(out, in, rank);
  TEMPER_CHECK(ov != Overlap::Other, "reduce_scatter: out overlaps in other than as its chunk {} (in place)", rank);
  return ov;
}

Overlap check_all_gather(const Tensor& out, const Tensor& in, int world, int rank) {
  TEMPER_CHECK(out.defined() && in.defined(), "all_gather: undefined tensor");
  TEMPER_CHECK(out.dtype() == in.dtype(), "all_gather: out is {} but in is {}", dtype_name(out.dtype()),
               dtype_name(in.dtype()));
  TEMPER_CHECK(out.numel() == in.numel() * world,
               "all_gather: out has {} elements but in has {}; out must be world size {} x in", out.numel(), in.numel(),
               world);
  const Overlap ov = overlap(in, out, rank);
  TEMPER_CHECK(ov != Overlap::Other, "all_gather: in overlaps out other than as its chunk {} (in place)", rank);
  return ov;
}

void check_reduce_op(DType t, ReduceOp op, const char* name) {
  TEMPER_CHECK(!(op == ReduceOp::Avg && t == DType::I32), "{}: Avg of i32 values is not defined; reduce with Sum",
               name);
}

}  // namespace temper
