// Metrics JSONL: one JSON object per line (train steps, evaluations, summaries), flushed per line
// so a crashed run keeps everything logged so far. Appends on resume.
#pragma once
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

namespace temper {

class MetricsLog {
 public:
  MetricsLog() = default;
  MetricsLog(const std::string& path, bool append);
  ~MetricsLog();
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;
  void write(const nlohmann::json& record);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::FILE* f_ = nullptr;
};

}  // namespace temper
