// Learning-rate schedules with linear warmup, matching transformers' get_*_schedule_with_warmup:
// lr(step) for the optimizer update number `step` (0-based).
#pragma once
#include <cstdint>
#include <string>

namespace temper {

enum class LrScheduleKind { Constant, Linear, Cosine };

LrScheduleKind parse_lr_schedule(const std::string& name);  // "constant" | "linear" | "cosine"
const char* lr_schedule_name(LrScheduleKind kind);

struct LrSchedule {
  LrScheduleKind kind = LrScheduleKind::Linear;
  float peak_lr = 5e-5f;
  int64_t warmup_steps = 0;
  int64_t total_steps = 1;
  float lr(int64_t step) const;
};

}  // namespace temper
