// Tensor and Storage implementation: allocation, views, copies across devices, conversions.
#include "runtime/tensor.h"

#include <cstring>

#include "runtime/device_memory.h"

namespace temper {

std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

Storage::Storage(size_t bytes, Device device) : bytes_(bytes), device_(device) {
  data_ = device_alloc(bytes, device);
}
Storage::Storage(void* external, size_t bytes, Device device)
    : data_(external), bytes_(bytes), device_(device), owned_(false) {}
Storage::~Storage() {
  if (owned_ && data_) device_free(data_, device_);
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  for (int64_t d : shape) TEMPER_CHECK(d >= 0, "negative dimension in shape {}", shape_str(shape));
  Tensor t;
  t.shape_ = shape;
  t.dtype_ = dtype;
  t.device_ = device;
  t.storage_ = std::make_shared<Storage>(t.nbytes(), device);
  return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.zero_();
  return t;
}

Tensor Tensor::wrap(void* data, const Shape& shape, DType dtype, Device device) {
  Tensor t;
  t.shape_ = shape;
  t.dtype_ = dtype;
  t.device_ = device;
  t.storage_ = std::make_shared<Storage>(data, t.nbytes(), device);
  return t;
}

Tensor Tensor::from_f32(const std::vector<float>& v, const Shape& shape) {
  TEMPER_CHECK(static_cast<int64_t>(v.size()) == shape_numel(shape), "from_f32: {} values for shape {}",
               v.size(), shape_str(shape));
  Tensor t = empty(shape, DType::F32);
  if (!v.empty()) std::memcpy(t.raw(), v.data(), t.nbytes());
  return t;
}

Tensor Tensor::from_i32(const std::vector<int32_t>& v, const Shape& shape) {
  TEMPER_CHECK(static_cast<int64_t>(v.size()) == shape_numel(shape), "from_i32: {} values for shape {}",
               v.size(), shape_str(shape));
  Tensor t = empty(shape, DType::I32);
  if (!v.empty()) std::memcpy(t.raw(), v.data(), t.nbytes());
  return t;
}

int64_t Tensor::dim(int i) const {
  const int n = ndim();
  const int j = i < 0 ? i + n : i;
  TEMPER_CHECK(j >= 0 && j < n, "dim({}) out of range for shape {}", i, shape_str(shape_));
  return shape_[j];
}

void* Tensor::raw() const {
  TEMPER_CHECK(storage_ != nullptr, "use of an undefined tensor");
  return static_cast<char*>(storage_->data()) + offset_;
}

Tensor Tensor::reshape(const Shape& shape) const {
  TEMPER_CHECK(shape_numel(shape) == numel(), "reshape {} -> {} changes the element count", shape_str(shape_),
               shape_str(shape));
  Tensor t = *this;
  t.shape_ = shape;
  return t;
}

Tensor Tensor::slice_flat(int64_t offset, const Shape& shape) const {
  TEMPER_CHECK(offset >= 0 && offset + shape_numel(shape) <= numel(), "slice_flat [{}, +{}) out of {} elements",
               offset, shape_numel(shape), numel());
  Tensor t = *this;
  t.offset_ = offset_ + static_cast<size_t>(offset) * dtype_size(dtype_);
  t.shape_ = shape;
  return t;
}

Tensor Tensor::to(Device device) const {
  Tensor t = empty(shape_, dtype_, device);
  t.copy_from(*this);
  return t;
}

Tensor Tensor::clone() const { return to(device_); }

void Tensor::copy_from(const Tensor& src) const {
  TEMPER_CHECK(src.dtype_ == dtype_ && src.numel() == numel(), "copy_from: {} {} into {} {}",
               dtype_name(src.dtype_), shape_str(src.shape_), dtype_name(dtype_), shape_str(shape_));
  if (nbytes() == 0) return;
  device_copy(raw(), device_, src.raw(), src.device_, nbytes());
}

void Tensor::zero_() const {
  if (nbytes() > 0) device_memset_zero(raw(), device_, nbytes());
}

Tensor Tensor::to_host_f32() const {
  Tensor host = device_ == Device::Cpu ? *this : to(Device::Cpu);
  if (dtype_ == DType::F32) return host;
  Tensor out = empty(shape_, DType::F32);
  float* o = out.data<float>();
  const int64_t n = numel();
  if (dtype_ == DType::BF16) {
    const uint16_t* s = host.data<uint16_t>();
    for (int64_t i = 0; i < n; ++i) o[i] = bf16_to_f32(s[i]);
  } else if (dtype_ == DType::F16) {
    const uint16_t* s = host.data<uint16_t>();
    for (int64_t i = 0; i < n; ++i) o[i] = f16_to_f32(s[i]);
  } else {
    const int32_t* s = host.data<int32_t>();
    for (int64_t i = 0; i < n; ++i) o[i] = static_cast<float>(s[i]);
  }
  return out;
}

std::vector<float> Tensor::to_vector() const {
  Tensor h = to_host_f32();
  const float* p = h.data<float>();
  return std::vector<float>(p, p + h.numel());
}

void check_same_device(const Tensor& a, const Tensor& b, const char* op) {
  TEMPER_CHECK(a.device() == b.device(), "{}: tensors on {} and {}", op, device_name(a.device()),
               device_name(b.device()));
}

void check_shape(const Tensor& t, const Shape& expected, const char* op, const char* name) {
  TEMPER_CHECK(t.shape() == expected, "{}: {} has shape {}, expected {}", op, name, shape_str(t.shape()),
               shape_str(expected));
}

void check_dtype(const Tensor& t, DType expected, const char* op, const char* name) {
  TEMPER_CHECK(t.dtype() == expected, "{}: {} is {}, expected {}", op, name, dtype_name(t.dtype()),
               dtype_name(expected));
}

}  // namespace temper
