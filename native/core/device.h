// Devices and element types known to every backend.
#pragma once
#include <cstddef>
#include <cstdint>

namespace cgru {

enum class Device : int { Cpu = 0, Cuda = 1 };
constexpr int kNumDevices = 2;

enum class DType : int { Float32 = 0, Int32 = 1 };

inline const char* deviceName(Device d) { return d == Device::Cpu ? "cpu" : "cuda"; }
inline const char* dtypeName(DType t) { return t == DType::Float32 ? "float32" : "int32"; }
inline size_t dtypeSize(DType) { return 4; }  // both element types are 4 bytes

}  // namespace cgru
