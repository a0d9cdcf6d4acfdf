// One allocation on one device, freed exactly once. Live counts and bytes per device are kept
// here so that memory() can be checked against what the allocator really holds.
//
// A storage's version names its bytes: every access that may write (mutableData(), as<T>() for
// a non-const T) gives it a new one, taken with the storage's first from one process-wide
// counter, so no two states of any storages ever share a version, even at a freed one's
// address. A cache of something derived from the bytes (the CPU engine's packed weights) keyed
// by the version is then never stale; a read through a writing accessor costs it a miss, never
// a wrong answer. Reads use data() and as<const T>().
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>

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
  const void* data() const { return data_; }
  void* mutableData() const {
    version_ = nextVersion();
    return data_;
  }
  template <typename T>
  T* as() const {
    if constexpr (!std::is_const_v<T>) version_ = nextVersion();
    return static_cast<T*>(data_);
  }
  uint64_t version() const { return version_; }
  Backend& backend() const { return *backend_; }

  static DeviceMemoryStats stats(Device device);

 private:
  Device device_;
  size_t bytes_;
  Backend* backend_;
  void* data_ = nullptr;
  mutable uint64_t version_ = nextVersion();

  static uint64_t nextVersion() {
    static std::atomic<uint64_t> last{0};
    return last.fetch_add(1, std::memory_order_relaxed) + 1;
  }
};

using StoragePtr = std::shared_ptr<Storage>;

}  // namespace cgru
