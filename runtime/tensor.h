// Tensor: a typed, shaped, contiguous view over reference-counted device memory.
// Views (reshape, flat slices of a parameter buffer) share the storage; no strides.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/dtype.h"
#include "runtime/error.h"

namespace temper {

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& s);
int64_t shape_numel(const Shape& s);

// Owns one allocation on a device (CPU: aligned host memory; CUDA: caching allocator).
class Storage {
 public:
  Storage(size_t bytes, Device device);
  Storage(void* external, size_t bytes, Device device);  // non-owning
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
  Device device_ = Device::Cpu;
  bool owned_ = true;
};

class Tensor {
 public:
  Tensor() = default;
  static Tensor empty(const Shape& shape, DType dtype, Device device = Device::Cpu);
  static Tensor zeros(const Shape& shape, DType dtype, Device device = Device::Cpu);
  static Tensor wrap(void* data, const Shape& shape, DType dtype, Device device);  // non-owning
  static Tensor from_f32(const std::vector<float>& v, const Shape& shape);        // CPU f32
  static Tensor from_i32(const std::vector<int32_t>& v, const Shape& shape);      // CPU i32

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int ndim() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int i) const;  // negative counts from the end
  int64_t numel() const { return shape_numel(shape_); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  DType dtype() const { return dtype_; }
  Device device() const { return device_; }
  bool is_cuda() const { return device_ == Device::Cuda; }

  void* raw() const;
  template <class T>
  T* data() const {
    TEMPER_CHECK(sizeof(T) == dtype_size(dtype_), "data<T>() element size {} does not match {}", sizeof(T),
                 dtype_name(dtype_));
    return static_cast<T*>(raw());
  }

  Tensor reshape(const Shape& shape) const;                    // same elements, new shape
  Tensor slice_flat(int64_t offset, const Shape& shape) const;  // contiguous range as a new shape
  Tensor to(Device device) const;                              // copy to a device (same dtype)
  Tensor to_host_f32() const;                                  // any float dtype/device -> CPU f32
  Tensor clone() const;
  void copy_from(const Tensor& src) const;  // same dtype and numel; any devices (writes through the handle)
  void zero_() const;
  std::vector<float> to_vector() const;  // CPU f32 copy of the values

 private:
  std::shared_ptr<Storage> storage_;
  size_t offset_ = 0;  // bytes into the storage
  Shape shape_;
  DType dtype_ = DType::F32;
  Device device_ = Device::Cpu;
};

// Checks used by ops: every tensor defined, on one device, with the expected dtype/shape.
void check_same_device(const Tensor& a, const Tensor& b, const char* op);
void check_shape(const Tensor& t, const Shape& expected, const char* op, const char* name);
void check_dtype(const Tensor& t, DType expected, const char* op, const char* name);

}  // namespace temper
