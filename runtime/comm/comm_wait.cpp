// Poll loop with back-off and the collective timeout's default (TEMPER_COMM_TIMEOUT).
#include "runtime/comm/comm_wait.h"

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <thread>

#include "runtime/comm/communicator.h"
#include "runtime/error.h"

namespace temper {

double default_collective_timeout() {
  const char* v = std::getenv("TEMPER_COMM_TIMEOUT");
  if (v == nullptr || *v == '\0') return 60.0;
  char* end = nullptr;
  const double s = std::strtod(v, &end);
  TEMPER_INPUT_CHECK(end != v && *end == '\0' && std::isfinite(s) && s >= 0, "TEMPER_COMM_TIMEOUT", v,
                     "expected a number of seconds (0 = wait forever)");
  return s;
}

bool poll_until(const std::function<bool()>& done, double timeout_s) {
  using Clock = std::chrono::steady_clock;
  // Measured with 2 ranks on 2 cores (OpenMPI 4.1): sleeping from the first poll made a 128 KiB
  // MPI all-reduce 6x slower (each MPI_Test advances the protocol a step); yielding for the first
  // millisecond matches a busy loop.
  constexpr double kYieldPhase = 1e-3;        // seconds of yields before any sleep
  constexpr double kShortSleepPhase = 20e-3;  // then 50 µs sleeps, then 200 µs
  const auto start = Clock::now();
  for (;;) {
    if (done()) return true;
    const double waited = std::chrono::duration<double>(Clock::now() - start).count();
    if (timeout_s > 0 && waited >= timeout_s) return false;
    if (waited < kYieldPhase)
      std::this_thread::yield();
    else
      std::this_thread::sleep_for(std::chrono::microseconds(waited < kShortSleepPhase ? 50 : 200));
  }
}

std::string timeout_message(const std::string& op, double timeout_s, int rank) {
  return fmt::format(
      "collective {} timed out after {} s on rank {}: a peer rank died or stopped responding "
      "(TEMPER_COMM_TIMEOUT sets the limit)",
      op, timeout_s, rank);
}

}  // namespace temper
