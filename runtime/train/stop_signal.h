// Preemption: with --save-on-signal, SIGTERM, SIGINT and SIGUSR1 only set a flag; the trainer
// checks it after each step (agreeing across ranks), writes a checkpoint and stops cleanly.
#pragma once

namespace temper {

void install_stop_signal_handlers();
bool stop_requested();
void request_stop();  // as if a signal had arrived (tests)
void clear_stop();    // forget a request (tests)

}  // namespace temper
