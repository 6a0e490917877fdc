// Stream/Event implementation and the lazily created compute stream.
#include "runtime/cuda/stream.h"

#include <cstdlib>
#include <cstring>

#include "runtime/cuda/cuda_check.h"

namespace temper::cuda {

bool sync_debug() {
  static const bool on = [] {
    const char* v = std::getenv("TEMPER_SYNC_DEBUG");
    return v != nullptr && std::strcmp(v, "0") != 0;
  }();
  return on;
}

Stream::Stream() { TEMPER_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking)); }
Stream::~Stream() {
  if (stream_) cudaStreamDestroy(stream_);
}
void Stream::synchronize() const { TEMPER_CUDA_CHECK(cudaStreamSynchronize(stream_)); }
void Stream::wait(cudaEvent_t event) const { TEMPER_CUDA_CHECK(cudaStreamWaitEvent(stream_, event, 0)); }

Event::Event(bool timing) {
  TEMPER_CUDA_CHECK(cudaEventCreateWithFlags(&event_, timing ? cudaEventDefault : cudaEventDisableTiming));
}
Event::~Event() {
  if (event_) cudaEventDestroy(event_);
}
void Event::record(cudaStream_t stream) { TEMPER_CUDA_CHECK(cudaEventRecord(event_, stream)); }
void Event::synchronize() const { TEMPER_CUDA_CHECK(cudaEventSynchronize(event_)); }
float Event::elapsed_ms_since(const Event& start) const {
  float ms = 0;
  TEMPER_CUDA_CHECK(cudaEventElapsedTime(&ms, start.event_, event_));
  return ms;
}

cudaStream_t compute_stream() {
  static Stream* stream = new Stream();  // lives for the process; destroyed with the context
  return stream->get();
}

void synchronize_compute() { TEMPER_CUDA_CHECK(cudaStreamSynchronize(compute_stream())); }

}  // namespace temper::cuda
