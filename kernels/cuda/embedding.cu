// CUDA token + position embedding, bf16 or f32 tables/activations.
// Forward: grid-stride, one thread per output element (b, t, c): out = wte[token, c] + wpe[t, c]
// (wpe optional: null for a token-only lookup, and then dwpe too).
// Backward: one thread per dout element, atomicAdd into the f32 accumulators dwte[token, c] and
// dwpe[t, c]. The order of the f32 additions (hence the last bits) is not deterministic across
// runs when a token repeats; a sorted, deterministic scatter can replace this later.
// Token ids are validated on the host elsewhere; here an out-of-range id only guards memory:
// it contributes nothing (forward writes wpe alone, backward skips the wte row).
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_ops.h"

namespace temper::cuda {
namespace {

template <class T>
__global__ void embedding_forward_kernel(T* out, const int32_t* tokens, const T* wte, const T* wpe, int64_t n_tok,
                                         int64_t t_len, int64_t c, int64_t vocab) {
  const int64_t n = n_tok * c;
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    const int64_t row = i / c, col = i % c;
    const int32_t tok = tokens[row];
    const float e = tok >= 0 && tok < vocab ? to_f32(wte[tok * c + col]) : 0.f;
    out[i] = from_f32<T>(wpe ? e + to_f32(wpe[(row % t_len) * c + col]) : e);
  }
}

template <class T>
__global__ void embedding_backward_kernel(float* dwte, float* dwpe, const T* dout, const int32_t* tokens, int64_t n_tok,
                                          int64_t t_len, int64_t c, int64_t vocab) {
  const int64_t n = n_tok * c;
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    const int64_t row = i / c, col = i % c;
    const int32_t tok = tokens[row];
    const float g = to_f32(dout[i]);
    if (tok >= 0 && tok < vocab) atomicAdd(dwte + tok * c + col, g);
    if (dwpe) atomicAdd(dwpe + (row % t_len) * c + col, g);
  }
}

}  // namespace

void embedding_forward(const Tensor& out, const Tensor& tokens, const Tensor& wte, const Tensor& wpe) {
  const int64_t b = tokens.dim(0), t = tokens.dim(1), c = wte.dim(1), v = wte.dim(0);
  check_shape(out, {b, t, c}, "embedding_forward", "out");
  const bool pos = wpe.defined();
  TEMPER_CHECK(!pos || (wpe.dim(0) >= t && wpe.dim(1) == c), "embedding_forward: wpe {} too short for T={}",
               shape_str(wpe.shape()), t);
  check_dtype(tokens, DType::I32, "embedding_forward", "tokens");
  TEMPER_CHECK(wte.dtype() == out.dtype() && (!pos || wpe.dtype() == out.dtype()),
               "embedding_forward (cuda): out, wte, wpe must share a dtype");
  for (const Tensor* p : {&tokens, &wte}) check_on_cuda(*p, "embedding_forward", "operand");
  if (pos) check_on_cuda(wpe, "embedding_forward", "wpe");
  if (b * t * c == 0) return;
  dispatch_act(out.dtype(), "embedding_forward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    embedding_forward_kernel<<<grid_for(b * t * c), kBlock, 0, compute_stream()>>>(
        mptr<T>(out), cptr<int32_t>(tokens), cptr<T>(wte), pos ? cptr<T>(wpe) : nullptr, b * t, t, c, v);
    TEMPER_CUDA_LAUNCH_CHECK();
  });
}

void embedding_backward(const Tensor& dwte, const Tensor& dwpe, const Tensor& dout, const Tensor& tokens) {
  const int64_t b = tokens.dim(0), t = tokens.dim(1), c = dwte.dim(1), v = dwte.dim(0);
  check_shape(dout, {b, t, c}, "embedding_backward", "dout");
  const bool pos = dwpe.defined();
  TEMPER_CHECK(!pos || (dwpe.dim(0) >= t && dwpe.dim(1) == c), "embedding_backward: dwpe {} too short for T={}",
               shape_str(dwpe.shape()), t);
  check_dtype(tokens, DType::I32, "embedding_backward", "tokens");
  check_dtype(dwte, DType::F32, "embedding_backward (cuda)", "dwte");
  for (const Tensor* p : {&dwte, &tokens}) check_on_cuda(*p, "embedding_backward", "operand");
  if (pos) {
    check_dtype(dwpe, DType::F32, "embedding_backward (cuda)", "dwpe");
    check_on_cuda(dwpe, "embedding_backward", "dwpe");
  }
  if (b * t * c == 0) return;
  dispatch_act(dout.dtype(), "embedding_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    embedding_backward_kernel<<<grid_for(b * t * c), kBlock, 0, compute_stream()>>>(
        mptr<float>(dwte), pos ? mptr<float>(dwpe) : nullptr, cptr<T>(dout), cptr<int32_t>(tokens), b * t, t, c, v);
    TEMPER_CUDA_LAUNCH_CHECK();
  });
}

}  // namespace temper::cuda
