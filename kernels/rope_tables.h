// Host-side rotary tables for the Llama family: the inverse frequencies of transformers'
// rope_init functions (default, "linear", "llama3") and the cos/sin tables rope_forward reads.
// Plain host code (no CUDA): the model builds the tables once and copies them to its device.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/tensor.h"

namespace temper::ops {

enum class RopeScalingKind { None, Linear, Llama3 };

// config.json's rope_scaling (or rope_parameters). Linear uses factor; Llama3 uses all fields.
struct RopeScaling {
  RopeScalingKind kind = RopeScalingKind::None;
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 8192;
};

// "default" or "" -> None, "linear", "llama3"; anything else throws (the caller names the file).
RopeScalingKind rope_scaling_kind(const std::string& rope_type);

// inv_freq[HS/2] as transformers computes it in f32: 1 / theta^(2i/HS), then the scaling.
std::vector<float> rope_inv_freq(int64_t head_dim, double theta, const RopeScaling& scaling);

struct RopeTables {
  Tensor cos, sin;  // [T, HS/2] f32 on the CPU
};

// cos/sin of angle(t, i) = t * inv_freq[i] for positions t = 0..T-1.
RopeTables rope_tables(const std::vector<float>& inv_freq, int64_t t_len);

}  // namespace temper::ops
