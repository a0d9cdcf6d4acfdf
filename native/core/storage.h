// One allocation on one device, freed exactly once. Live counts and bytes per device are kept
// here so that memory() can be checked against what the allocator really holds.
#pragma once
#include <atomic>
#include <cstddef>
#include <memory>

#include "core/backend.h"

namespace cgru {

struct DeviceMemoryStats {
  long long liveBuffers = 0;
  long long liveBytes = 0;
};

class Storage {
 public:
  // Throws cgru::Error when the device is unavailable or out of memory.
  Storage(Device device, size_t bytes);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  Device device() const { return device_; }
  size_t bytes() const { return bytes_; }
  void* data() const { return data_; }
  template <typename T>
  T* as() const { return static_cast<T*>(data_); }
  Backend& backend() const { return *backend_; }

  static DeviceMemoryStats stats(Device device);

 private:
  Device device_;
  size_t bytes_;
  Backend* backend_;
  void* data_ = nullptr;
};

using StoragePtr = std::shared_ptr<Storage>;

}  // namespace cgru
