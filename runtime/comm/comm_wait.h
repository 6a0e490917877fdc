// Bounded waiting for collectives, shared by the MPI and NCCL communicators: a poll loop that
// spins briefly, then sleeps, and gives up after the collective timeout.
#pragma once
#include <functional>
#include <string>

namespace temper {

// Calls done() until it returns true (-> true) or `timeout_s` seconds pass (-> false; <= 0 never).
// Polls only yield for the first millisecond (most collectives finish within it, and each MPI_Test
// advances MPI's protocol); later ones sleep 50 µs, then 200 µs after 20 ms, so a rank waiting for
// a slow peer does not burn a core.
bool poll_until(const std::function<bool()>& done, double timeout_s);

// "collective X timed out after N s on rank R: a peer rank died or stopped responding ..."
std::string timeout_message(const std::string& op, double timeout_s, int rank);

}  // namespace temper
