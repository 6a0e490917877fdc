// Rotary inverse frequencies and cos/sin tables, following transformers' modeling_rope_utils
// (compute_default_rope_parameters, _compute_linear_scaling_rope_parameters,
// _compute_llama3_parameters) and LlamaRotaryEmbedding.forward.
#include "kernels/rope_tables.h"

#include <cmath>

namespace temper::ops {
namespace {

constexpr double kPi = 3.14159265358979323846;

// Llama 3.1: frequencies whose wavelength exceeds original_max / low_freq_factor are divided by
// factor, those below original_max / high_freq_factor are kept, the band between is interpolated.
// Each step rounds to f32 as transformers' f32 tensor ops do (scalar / tensor is reciprocal * scalar).
float llama3_scale(float inv_freq, const RopeScaling& s) {
  const double old_len = static_cast<double>(s.original_max_position_embeddings);
  const float wavelen = (1.f / inv_freq) * static_cast<float>(2.0 * kPi);
  if (wavelen < static_cast<float>(old_len / s.high_freq_factor)) return inv_freq;
  const float divided = inv_freq / static_cast<float>(s.factor);
  if (wavelen > static_cast<float>(old_len / s.low_freq_factor)) return divided;
  const float ratio = (1.f / wavelen) * static_cast<float>(old_len);
  const float smooth =
      (ratio - static_cast<float>(s.low_freq_factor)) / static_cast<float>(s.high_freq_factor - s.low_freq_factor);
  return (1.f - smooth) * inv_freq / static_cast<float>(s.factor) + smooth * inv_freq;
}

}  // namespace

RopeScalingKind rope_scaling_kind(const std::string& rope_type) {
  if (rope_type.empty() || rope_type == "default") return RopeScalingKind::None;
  if (rope_type == "linear") return RopeScalingKind::Linear;
  if (rope_type == "llama3") return RopeScalingKind::Llama3;
  TEMPER_CHECK(false, "unsupported rope_scaling type '{}' (default, linear, llama3)", rope_type);
  return RopeScalingKind::None;
}

std::vector<float> rope_inv_freq(int64_t head_dim, double theta, const RopeScaling& scaling) {
  TEMPER_CHECK(head_dim > 0 && head_dim % 2 == 0, "rope: head_dim {} must be even and positive", head_dim);
  TEMPER_CHECK(theta > 0.0, "rope: rope_theta {} must be positive", theta);
  if (scaling.kind != RopeScalingKind::None)
    TEMPER_CHECK(scaling.factor > 0.0, "rope: rope_scaling factor {} must be positive", scaling.factor);
  if (scaling.kind == RopeScalingKind::Llama3)
    TEMPER_CHECK(scaling.high_freq_factor > scaling.low_freq_factor && scaling.low_freq_factor > 0.0 &&
                     scaling.original_max_position_embeddings > 0,
                 "rope: llama3 needs 0 < low_freq_factor ({}) < high_freq_factor ({}) and "
                 "original_max_position_embeddings > 0 ({})",
                 scaling.low_freq_factor, scaling.high_freq_factor, scaling.original_max_position_embeddings);
  std::vector<float> inv(static_cast<size_t>(head_dim / 2));
  for (int64_t i = 0; i < head_dim / 2; ++i) {
    // transformers: the exponent and the power are f32 tensors; round where it rounds.
    const float expo = static_cast<float>(2 * i) / static_cast<float>(head_dim);
    const float base_pow = static_cast<float>(std::pow(theta, static_cast<double>(expo)));
    float f = 1.f / base_pow;
    if (scaling.kind == RopeScalingKind::Linear) f = static_cast<float>(f / scaling.factor);
    if (scaling.kind == RopeScalingKind::Llama3) f = llama3_scale(f, scaling);
    inv[static_cast<size_t>(i)] = f;
  }
  return inv;
}

RopeTables rope_tables(const std::vector<float>& inv_freq, int64_t t_len) {
  TEMPER_CHECK(t_len >= 0, "rope_tables: negative length {}", t_len);
  const int64_t half = static_cast<int64_t>(inv_freq.size());
  RopeTables tables{Tensor::empty({t_len, half}, DType::F32), Tensor::empty({t_len, half}, DType::F32)};
  float *c = tables.cos.data<float>(), *s = tables.sin.data<float>();
  for (int64_t t = 0; t < t_len; ++t)
    for (int64_t i = 0; i < half; ++i) {
      // The angle is an f32 product as in LlamaRotaryEmbedding (so long positions round the same
      // way); cos and sin of that angle are then taken exactly and rounded once.
      const float angle = static_cast<float>(t) * inv_freq[static_cast<size_t>(i)];
      c[t * half + i] = static_cast<float>(std::cos(static_cast<double>(angle)));
      s[t * half + i] = static_cast<float>(std::sin(static_cast<double>(angle)));
    }
  return tables;
}

}  // namespace temper::ops
