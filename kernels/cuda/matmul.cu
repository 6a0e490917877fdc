// CUDA matmul through cuBLASLt (f32 accumulation, CUBLAS_COMPUTE_32F: no TF32), the bias add as a
// separate elementwise kernel, and the bias gradient as a deterministic column sum.
//
// Row-major out[M,N] = op(a)[M,K] @ op(b)[K,N] is, read column-major, out^T = op(b)^T @ op(a)^T:
// cuBLAS's "A" is our b and its "B" is our a, with m = N, n = M. Supported dtypes: all f32;
// bf16 inputs with a bf16 output; bf16 inputs with an f32 output (weight gradients, beta = 1).
// When cuBLASLt's heuristic offers no algorithm (or TEMPER_MATMUL_BACKEND=cublas), the same
// product goes through cublasGemmEx.
// Bias kernel: grid-stride, one thread per output element, out[i, j] += bias[j] in f32.
#include <climits>
#include <cstdlib>
#include <cstring>

#include "kernels/cuda/column_sum.cuh"
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/ref/shape_util.h"

namespace temper::cuda {

constexpr size_t kLtWorkspaceBytes = size_t{32} << 20;

cublasLtHandle_t cublaslt_handle() {
  static cublasLtHandle_t handle = [] {
    cublasLtHandle_t h = nullptr;
    TEMPER_CUBLAS_CHECK(cublasLtCreate(&h));
    return h;
  }();
  return handle;
}

cublasHandle_t cublas_handle() {
  static cublasHandle_t handle = [] {
    cublasHandle_t h = nullptr;
    TEMPER_CUBLAS_CHECK(cublasCreate(&h));
    TEMPER_CUBLAS_CHECK(cublasSetStream(h, compute_stream()));
    TEMPER_CUBLAS_CHECK(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH));  // no TF32 for f32 products
    return h;
  }();
  return handle;
}

void* cublaslt_workspace() {
  static void* ws = [] {
    void* p = nullptr;
    TEMPER_CUDA_CHECK(cudaMalloc(&p, kLtWorkspaceBytes));  // lives for the process
    return p;
  }();
  return ws;
}

size_t cublaslt_workspace_bytes() { return kLtWorkspaceBytes; }

namespace {

// Column-major D[m,n] = alpha * op(A)[m,k] @ op(B)[k,n] + beta * D, as cuBLAS sees it.
struct GemmArgs {
  const void* a = nullptr;
  const void* b = nullptr;
  void* d = nullptr;
  cudaDataType_t ab_type = CUDA_R_32F, d_type = CUDA_R_32F;
  bool trans_a = false, trans_b = false;
  int64_t m = 0, n = 0, k = 0, lda = 0, ldb = 0, ldd = 0;
  float alpha = 1.f, beta = 0.f;
};

// Owns the cuBLASLt descriptors of one call.
struct LtDescs {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  cublasLtMatmulPreference_t pref = nullptr;
  LtDescs() = default;
  LtDescs(const LtDescs&) = delete;
  LtDescs& operator=(const LtDescs&) = delete;
  ~LtDescs() {
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
    if (d) cublasLtMatrixLayoutDestroy(d);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (op) cublasLtMatmulDescDestroy(op);
  }
};

// Largest power of two (at most 256) dividing the address: what cuBLASLt may assume.
uint32_t alignment_of(const void* p) {
  const auto v = reinterpret_cast<uintptr_t>(p);
  uint32_t align = 256;
  while (align > 1 && v % align != 0) align >>= 1;
  return align;
}

void set_pref_alignment(cublasLtMatmulPreference_t pref, cublasLtMatmulPreferenceAttributes_t attr, const void* p) {
  const uint32_t align = alignment_of(p);
  TEMPER_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, attr, &align, sizeof(align)));
}

void make_lt_descs(LtDescs& ds, const GemmArgs& g) {
  TEMPER_CUBLAS_CHECK(cublasLtMatmulDescCreate(&ds.op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t ta = g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, tb = g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  TEMPER_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(ds.op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)));
  TEMPER_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(ds.op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)));
  // Layouts describe the stored matrices (before the transposes).
  const auto rows_a = static_cast<uint64_t>(g.trans_a ? g.k : g.m),
             cols_a = static_cast<uint64_t>(g.trans_a ? g.m : g.k);
  const auto rows_b = static_cast<uint64_t>(g.trans_b ? g.n : g.k),
             cols_b = static_cast<uint64_t>(g.trans_b ? g.k : g.n);
  TEMPER_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&ds.a, g.ab_type, rows_a, cols_a, g.lda));
  TEMPER_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&ds.b, g.ab_type, rows_b, cols_b, g.ldb));
  TEMPER_CUBLAS_CHECK(
      cublasLtMatrixLayoutCreate(&ds.d, g.d_type, static_cast<uint64_t>(g.m), static_cast<uint64_t>(g.n), g.ldd));
  TEMPER_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&ds.pref));
  const uint64_t ws = kLtWorkspaceBytes;
  TEMPER_CUBLAS_CHECK(
      cublasLtMatmulPreferenceSetAttribute(ds.pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)));
  set_pref_alignment(ds.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, g.a);
  set_pref_alignment(ds.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, g.b);
  set_pref_alignment(ds.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, g.d);
  set_pref_alignment(ds.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, g.d);
}

// Runs the product with cuBLASLt; false when its heuristic has no algorithm for it.
bool gemm_lt(const GemmArgs& g) {
  LtDescs ds;
  make_lt_descs(ds, g);
  cublasLtMatmulHeuristicResult_t result;
  std::memset(&result, 0, sizeof(result));
  int found = 0;
  const cublasStatus_t st =
      cublasLtMatmulAlgoGetHeuristic(cublaslt_handle(), ds.op, ds.a, ds.b, ds.d, ds.d, ds.pref, 1, &result, &found);
  if (st != CUBLAS_STATUS_SUCCESS || found == 0) return false;
  TEMPER_CUBLAS_CHECK(cublasLtMatmul(cublaslt_handle(), ds.op, &g.alpha, g.a, ds.a, g.b, ds.b, &g.beta, g.d, ds.d, g.d,
                                     ds.d, &result.algo, cublaslt_workspace(), kLtWorkspaceBytes, compute_stream()));
  return true;
}

void gemm_cublas(const GemmArgs& g) {
  for (int64_t v : {g.m, g.n, g.k, g.lda, g.ldb, g.ldd})
    TEMPER_CHECK(v <= INT_MAX, "matmul (cuda): dimension {} too large for cublasGemmEx", v);
  TEMPER_CUBLAS_CHECK(cublasGemmEx(cublas_handle(), g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                                   g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, static_cast<int>(g.m), static_cast<int>(g.n),
                                   static_cast<int>(g.k), &g.alpha, g.a, g.ab_type, static_cast<int>(g.lda), g.b,
                                   g.ab_type, static_cast<int>(g.ldb), &g.beta, g.d, g.d_type, static_cast<int>(g.ldd),
                                   CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

// TEMPER_MATMUL_BACKEND=cublas forces cublasGemmEx (read on every call so tests can switch it).
bool force_cublas() {
  const char* v = std::getenv("TEMPER_MATMUL_BACKEND");
  return v != nullptr && std::strcmp(v, "cublas") == 0;
}

void check_matmul_dtypes(const Tensor& out, const Tensor& a, const Tensor& b) {
  const DType in = a.dtype(), o = out.dtype();
  TEMPER_CHECK(b.dtype() == in, "matmul (cuda): a is {} but b is {}", dtype_name(in), dtype_name(b.dtype()));
  const bool ok = (in == DType::F32 && o == DType::F32) || (in == DType::BF16 && (o == DType::BF16 || o == DType::F32));
  TEMPER_CHECK(ok, "matmul (cuda): unsupported dtypes {} x {} -> {} (f32->f32, bf16->bf16, bf16->f32)", dtype_name(in),
               dtype_name(b.dtype()), dtype_name(o));
}

template <class TO, class TB>
__global__ void add_bias_kernel(TO* out, const TB* bias, int64_t rows, int64_t cols) {
  const int64_t n = rows * cols;
  for (int64_t i = global_thread(); i < n; i += grid_threads())
    out[i] = from_f32<TO>(to_f32(out[i]) + to_f32(bias[i % cols]));
}

void add_bias(const Tensor& out, const Tensor& bias, int64_t m, int64_t n) {
  check_on_cuda(bias, "matmul", "bias");
  dispatch_act(out.dtype(), "matmul", [&](auto to) {
    dispatch_act(bias.dtype(), "matmul bias", [&](auto tb) {
      using TO = typename decltype(to)::type;
      using TB = typename decltype(tb)::type;
      add_bias_kernel<<<grid_for(m * n), kBlock, 0, compute_stream()>>>(mptr<TO>(out), cptr<TB>(bias), m, n);
      TEMPER_CUDA_LAUNCH_CHECK();
    });
  });
}

// out = beta * out when the inner dimension is empty (cuBLAS is not asked about k = 0).
void scale_for_empty_k(const Tensor& out, float beta) {
  if (beta == 0.f) {
    out.zero_();
  } else if (beta != 1.f) {
    scale_inplace(out, beta);
  }
}

GemmArgs gemm_args(const Tensor& out, const Tensor& a, Trans ta, const Tensor& b, Trans tb, const ref::MatmulDims& dm,
                   float beta) {
  GemmArgs g;
  g.a = b.raw();  // cuBLAS "A" = our b (see the file comment)
  g.b = a.raw();
  g.d = out.raw();
  g.ab_type = cuda_dtype(a.dtype());
  g.d_type = cuda_dtype(out.dtype());
  g.trans_a = tb == Trans::Yes;
  g.trans_b = ta == Trans::Yes;
  g.m = dm.n;
  g.n = dm.m;
  g.k = dm.k;
  g.lda = g.trans_a ? dm.k : dm.n;
  g.ldb = g.trans_b ? dm.m : dm.k;
  g.ldd = dm.n;
  g.beta = beta;
  return g;
}

}  // namespace

void matmul(const Tensor& out, const Tensor& a, Trans ta, const Tensor& b, Trans tb, const Tensor* bias, float beta) {
  const ref::MatmulDims dm = ref::matmul_dims(out, a, ta, b, tb, bias, "matmul");
  check_matmul_dtypes(out, a, b);
  if (dm.m == 0 || dm.n == 0) return;
  if (dm.k == 0) {
    scale_for_empty_k(out, beta);
  } else {
    const GemmArgs g = gemm_args(out, a, ta, b, tb, dm, beta);
    if (force_cublas() || !gemm_lt(g)) gemm_cublas(g);
  }
  if (bias != nullptr) add_bias(out, *bias, dm.m, dm.n);
}

namespace {
template <class T>
struct BiasGradTerm {  // column sums of dy for dbias
  const T* dy;
  int64_t cols;
  __device__ float2 operator()(int64_t r, int c) const { return make_float2(to_f32(dy[r * cols + c]), 0.f); }
};
}  // namespace

void bias_backward(const Tensor& dbias, const Tensor& dy) {
  const int64_t n = dy.dim(-1), m = n ? dy.numel() / n : 0;
  check_shape(dbias, {n}, "bias_backward", "dbias");
  check_dtype(dbias, DType::F32, "bias_backward (cuda)", "dbias");
  check_on_cuda(dbias, "bias_backward", "dbias");
  dispatch_act(dy.dtype(), "bias_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    column_sums(mptr<float>(dbias), nullptr, m, n, BiasGradTerm<T>{cptr<T>(dy), n});
  });
}

}  // namespace temper::cuda
