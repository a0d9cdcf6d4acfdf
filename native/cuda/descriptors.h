// RAII owners of cuDNN descriptors and of temporary device buffers. Constructors throw
// cgru::Error on failure; destructors never throw (a failed destroy is ignored).
#pragma once
#include <cudnn.h>

#include <cstddef>
#include <utility>

#include "cuda/allocator.h"
#include "cuda/check.h"

namespace cgru::cuda {

// One owner class per descriptor kind: Create/Destroy are members of the loaded cuDNN table.
#define CGRU_CUDNN_DESCRIPTOR(Class, Type, Create, Destroy)             \
  class Class {                                                          \
   public:                                                               \
    Class() { CGRU_CUDNN(Create, &desc_); }                              \
    ~Class() {                                                           \
      if (desc_) cudnn().Destroy(desc_);                                 \
    }                                                                    \
    Class(const Class&) = delete;                                        \
    Class& operator=(const Class&) = delete;                             \
    Class(Class&& o) noexcept : desc_(std::exchange(o.desc_, nullptr)) {} \
    Type get() const { return desc_; }                                   \
                                                                         \
   private:                                                              \
    Type desc_ = nullptr;                                                \
  };

CGRU_CUDNN_DESCRIPTOR(TensorDescriptor, cudnnTensorDescriptor_t, cudnnCreateTensorDescriptor, cudnnDestroyTensorDescriptor)
CGRU_CUDNN_DESCRIPTOR(DropoutDescriptor, cudnnDropoutDescriptor_t, cudnnCreateDropoutDescriptor,
                      cudnnDestroyDropoutDescriptor)
CGRU_CUDNN_DESCRIPTOR(RnnDescriptor, cudnnRNNDescriptor_t, cudnnCreateRNNDescriptor, cudnnDestroyRNNDescriptor)
CGRU_CUDNN_DESCRIPTOR(RnnDataDescriptor, cudnnRNNDataDescriptor_t, cudnnCreateRNNDataDescriptor,
                      cudnnDestroyRNNDataDescriptor)
#undef CGRU_CUDNN_DESCRIPTOR

// A device buffer from the caching allocator, returned to it when this owner dies. Work queued
// on the backend's stream may still use it then; that is safe because the next user of the
// block queues its work on the same stream.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(CachingAllocator& allocator, size_t bytes)
      : allocator_(&allocator), ptr_(allocator.allocate(bytes)), bytes_(bytes) {}
  ~DeviceBuffer() { reset(); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept
      : allocator_(o.allocator_), ptr_(std::exchange(o.ptr_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      allocator_ = o.allocator_;
      ptr_ = std::exchange(o.ptr_, nullptr);
      bytes_ = std::exchange(o.bytes_, 0);
    }
    return *this;
  }
  void reset() noexcept {
    if (ptr_) allocator_->deallocate(ptr_, bytes_);
    ptr_ = nullptr;
    bytes_ = 0;
  }

  void* get() const { return ptr_; }
  template <typename T>
  T* as() const { return static_cast<T*>(ptr_); }
  size_t bytes() const { return bytes_; }

 private:
  CachingAllocator* allocator_ = nullptr;
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace cgru::cuda
