// The per-epoch permutation (Fisher-Yates on std::mt19937_64 with a portable bounded draw) and the
// JSON forms of LoaderState (see loader_state.h).
#include "runtime/data/loader_state.h"

#include <random>
#include <utility>

#include "runtime/error.h"

namespace temper {
namespace {

// splitmix64 finalizer: decorrelates nearby (seed, epoch) pairs before seeding the engine.
uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Uniform integer in [0, bound) by rejection (std::uniform_int_distribution is
// implementation-defined, which would make the order depend on the standard library).
uint64_t uniform_below(std::mt19937_64& rng, uint64_t bound) {
  const uint64_t threshold = (0 - bound) % bound;  // 2^64 mod bound: values below it are biased
  for (;;) {
    uint64_t r = rng();
    if (r >= threshold) return r % bound;
  }
}

// A non-negative integer field (JSON may hold it signed or unsigned).
uint64_t json_count(const nlohmann::json& j, const char* key, const std::string& origin) {
  auto it = j.find(key);
  TEMPER_INPUT_CHECK(it != j.end(), origin, key, "missing from the data loader state");
  const bool ok = it->is_number_unsigned() || (it->is_number_integer() && it->get<int64_t>() >= 0);
  TEMPER_INPUT_CHECK(ok, origin, key, "must be a non-negative integer, got {}", it->dump());
  return it->get<uint64_t>();
}

}  // namespace

std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, uint64_t epoch) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
  std::mt19937_64 rng(mix64(seed ^ mix64(epoch)));
  for (int64_t i = n - 1; i > 0; --i) {
    auto j = static_cast<int64_t>(uniform_below(rng, static_cast<uint64_t>(i) + 1));
    std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(j)]);
  }
  return order;
}

nlohmann::json loader_state_to_json(const LoaderState& s) {
  return {{"epoch", s.epoch}, {"position", s.position}, {"seed", s.seed}, {"num_windows", s.num_windows}};
}

LoaderState loader_state_from_json(const nlohmann::json& j, const std::string& origin) {
  TEMPER_INPUT_CHECK(j.is_object(), origin, "data loader state", "expected a JSON object, got {}", j.type_name());
  LoaderState s;
  s.epoch = json_count(j, "epoch", origin);
  s.position = static_cast<int64_t>(json_count(j, "position", origin));
  s.seed = json_count(j, "seed", origin);
  s.num_windows = static_cast<int64_t>(json_count(j, "num_windows", origin));
  return s;
}

}  // namespace temper
