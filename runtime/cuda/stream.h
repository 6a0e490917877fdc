// RAII CUDA streams and events, and the process-wide compute stream every op launches on.
#pragma once
#include <cuda_runtime.h>

namespace temper::cuda {

class Stream {
 public:
  Stream();  // non-blocking stream
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  cudaStream_t get() const { return stream_; }
  void synchronize() const;
  void wait(cudaEvent_t event) const;

 private:
  cudaStream_t stream_ = nullptr;
};

class Event {
 public:
  explicit Event(bool timing = false);
  ~Event();
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  cudaEvent_t get() const { return event_; }
  void record(cudaStream_t stream);
  void synchronize() const;
  float elapsed_ms_since(const Event& start) const;

 private:
  cudaEvent_t event_ = nullptr;
};

cudaStream_t compute_stream();  // ops launch here
void synchronize_compute();

}  // namespace temper::cuda
