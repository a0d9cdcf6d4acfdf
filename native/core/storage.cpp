#include "core/storage.h"

#include <string>

#include "core/errors.h"

namespace cgru {
namespace {

std::atomic<long long> gLiveBuffers[kNumDevices];
std::atomic<long long> gLiveBytes[kNumDevices];

Backend& requireBackend(Device device) {
  Backend* backend = backendFor(device);
  if (!backend) throw Error(std::string("CUDA is not available: ") + cudaReport().reason);
  return *backend;
}

}  // namespace

Storage::Storage(Device device, size_t bytes)
    : device_(device), bytes_(bytes), backend_(&requireBackend(device)) {
  // Zero-byte tensors are legal; they own no memory.
  if (bytes_ > 0) data_ = backend_->allocate(bytes_);
  gLiveBuffers[static_cast<int>(device_)] += 1;
  gLiveBytes[static_cast<int>(device_)] += static_cast<long long>(bytes_);
}

Storage::~Storage() {
  if (data_) backend_->deallocate(data_, bytes_);
  gLiveBuffers[static_cast<int>(device_)] -= 1;
  gLiveBytes[static_cast<int>(device_)] -= static_cast<long long>(bytes_);
}

DeviceMemoryStats Storage::stats(Device device) {
  return {gLiveBuffers[static_cast<int>(device)].load(), gLiveBytes[static_cast<int>(device)].load()};
}

}  // namespace cgru
