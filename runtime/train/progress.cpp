// Progress implementation: ANSI carriage-return bar on a tty (stderr), plain lines otherwise.
#include "runtime/train/progress.h"

#include <unistd.h>

#include <cstdio>
#include <utility>

#include "runtime/logger.h"

namespace temper {
namespace {
std::string format_duration(double s) {
  const int64_t t = static_cast<int64_t>(s + 0.5);
  return t >= 3600 ? fmt::format("{}h{:02}m", t / 3600, (t / 60) % 60) : fmt::format("{}m{:02}s", t / 60, t % 60);
}
}  // namespace

Progress::Progress(int64_t total_steps, int64_t first_step, ProgressStyle style, int plain_every, std::string unit)
    : total_(total_steps), first_(first_step), plain_every_(plain_every > 0 ? plain_every : 1), unit_(std::move(unit)),
      start_(std::chrono::steady_clock::now()) {
  off_ = style == ProgressStyle::Off;
  bar_ = style == ProgressStyle::Bar || (style == ProgressStyle::Auto && isatty(STDERR_FILENO));
}

void Progress::update(int64_t step, double loss, double tokens_per_s, float lr, double step_s, double comm_s) {
  if (off_) return;
  if (bar_) return draw_bar(step, loss, tokens_per_s);
  if (step % plain_every_ != 0 && step != total_) return;
  const std::string comm =
      comm_s > 0 ? fmt::format(" | step {:.0f} ms (compute {:.0f}, comm {:.0f})", step_s * 1e3, (step_s - comm_s) * 1e3,
                               comm_s * 1e3)
                 : std::string();
  log_info("step {}/{} | loss {:.4f} | lr {:.3e} | {:.0f} {}/s{}", step, total_, loss, lr, tokens_per_s, unit_, comm);
}

void Progress::draw_bar(int64_t step, double loss, double tokens_per_s) {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double done = static_cast<double>(step - first_);
  const double eta = done > 0 ? elapsed / done * static_cast<double>(total_ - step) : 0.0;
  const int width = 30;
  const int filled = total_ > 0 ? static_cast<int>(width * step / total_) : width;
  std::string bar(static_cast<size_t>(filled), '#');
  bar.resize(width, '.');
  std::fprintf(stderr, "\r[%s] %lld/%lld loss %.4f | %.0f %s/s | ETA %s   ", bar.c_str(),
               static_cast<long long>(step), static_cast<long long>(total_), loss, tokens_per_s, unit_.c_str(),
               format_duration(eta).c_str());
  std::fflush(stderr);
  bar_drawn_ = true;
}

void Progress::message(const std::string& line) {
  if (bar_drawn_) std::fprintf(stderr, "\n");
  bar_drawn_ = false;
  log_info("{}", line);
}

void Progress::finish() {
  if (bar_drawn_) std::fprintf(stderr, "\n");
  bar_drawn_ = false;
}

}  // namespace temper
