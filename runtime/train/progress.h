// Training progress display: a redrawn bar with loss, tokens/s (images/s) and ETA on a terminal, plain
// log lines otherwise (pipes, CI, files). Rank 0 only.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace temper {

enum class ProgressStyle { Auto, Bar, Plain, Off };

class Progress {
 public:
  // `unit` names what the rate counts per second ("tok", "img").
  Progress(int64_t total_steps, int64_t first_step, ProgressStyle style, int plain_every, std::string unit = "tok");
  // Called after each optimizer step; comm_s is the step's exposed communication.
  void update(int64_t step, double loss, double tokens_per_s, float lr, double step_s = 0, double comm_s = 0);
  void message(const std::string& line);  // a line that must not garble the bar
  void finish();

 private:
  void draw_bar(int64_t step, double loss, double tokens_per_s);
  int64_t total_, first_;
  bool bar_ = false, off_ = false, bar_drawn_ = false;
  int plain_every_;
  std::string unit_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace temper
