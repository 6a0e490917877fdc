// MetricsLog implementation.
#include "runtime/train/metrics_log.h"

#include "runtime/error.h"

namespace temper {

MetricsLog::MetricsLog(const std::string& path, bool append) : path_(path) {
  f_ = std::fopen(path.c_str(), append ? "a" : "w");
  TEMPER_INPUT_CHECK(f_ != nullptr, path, "file", "cannot open the metrics file for writing");
}

MetricsLog::~MetricsLog() {
  if (f_) std::fclose(f_);
}

void MetricsLog::write(const nlohmann::json& record) {
  if (!f_) return;
  const std::string line = record.dump() + "\n";
  std::fwrite(line.data(), 1, line.size(), f_);
  std::fflush(f_);
}

}  // namespace temper
