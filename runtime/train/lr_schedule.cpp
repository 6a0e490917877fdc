// Learning-rate schedule arithmetic.
#include "runtime/train/lr_schedule.h"

#include <algorithm>
#include <cmath>

#include "runtime/error.h"

namespace temper {

LrScheduleKind parse_lr_schedule(const std::string& name) {
  if (name == "constant") return LrScheduleKind::Constant;
  if (name == "linear") return LrScheduleKind::Linear;
  if (name == "cosine") return LrScheduleKind::Cosine;
  throw InputError("--lr-schedule", "value", fmt::format("unknown schedule \"{}\" (constant, linear, cosine)", name));
}

const char* lr_schedule_name(LrScheduleKind kind) {
  switch (kind) {
    case LrScheduleKind::Constant: return "constant";
    case LrScheduleKind::Linear: return "linear";
    case LrScheduleKind::Cosine: return "cosine";
  }
  return "?";
}

float LrSchedule::lr(int64_t step) const {
  if (step < warmup_steps) return peak_lr * static_cast<float>(step) / static_cast<float>(std::max<int64_t>(1, warmup_steps));
  if (kind == LrScheduleKind::Constant) return peak_lr;
  const double progress =
      static_cast<double>(step - warmup_steps) / static_cast<double>(std::max<int64_t>(1, total_steps - warmup_steps));
  if (kind == LrScheduleKind::Linear) return static_cast<float>(peak_lr * std::max(0.0, 1.0 - progress));
  return static_cast<float>(peak_lr * std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * progress))));
}

}  // namespace temper
