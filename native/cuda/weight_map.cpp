#include "cuda/weight_map.h"

#include <algorithm>
#include <string>

#include "core/errors.h"
#include "cuda/descriptors.h"

namespace cgru::cuda {

WeightMap mapWeightSpace(cudnnHandle_t handle, cudnnRNNDescriptor_t rnn, const GruConfig& c, size_t weightBytes,
                         const void* base, const CudnnCheck& check) {
  const size_t H = static_cast<size_t>(c.hiddenSize);
  const int slots = c.numSlots();
  const char* start = static_cast<const char*>(base);
  WeightMap map;
  TensorDescriptor mDesc, bDesc;
  size_t covered = 0;
  auto sliceOf = [&](const TensorDescriptor& desc, void* addr, size_t expected, int slot, int id, const char* what) {
    cudnnDataType_t type{};
    int nbDims = 0, dims[3] = {0, 0, 0}, strides[3] = {0, 0, 0};
    check(cudnn().cudnnGetTensorNdDescriptor(desc.get(), 3, &type, &nbDims, dims, strides), "cudnnGetTensorNdDescriptor");
    size_t count = 1;
    for (int i = 0; i < std::min(nbDims, 3); ++i) count *= static_cast<size_t>(dims[i]);
    const std::ptrdiff_t offsetBytes = static_cast<const char*>(addr) - start;
    if (!addr || type != CUDNN_DATA_FLOAT || nbDims < 1 || nbDims > 3 || count != expected || offsetBytes < 0 ||
        offsetBytes % static_cast<std::ptrdiff_t>(sizeof(float)) != 0 ||
        static_cast<size_t>(offsetBytes) + count * sizeof(float) > weightBytes)
      throw Error(std::string("cuda ") + rnnModeName(c.mode) + ": cuDNN's weight layout is not the expected one (pseudo-layer " +
                  std::to_string(slot) + ", linLayerID " + std::to_string(id) + " " + what + ": " +
                  std::to_string(nbDims < 1 ? 0 : count) + " floats at byte " + std::to_string(offsetBytes) + ", expected " +
                  std::to_string(expected) + " floats)");
    covered += count * sizeof(float);
    return WeightSlice{static_cast<size_t>(offsetBytes) / sizeof(float), count};
  };
  map.matrix.resize(static_cast<size_t>(slots));
  map.bias.resize(static_cast<size_t>(slots));
  const int G = c.gates();
  for (int slot = 0; slot < slots; ++slot) {
    const size_t in = static_cast<size_t>(c.layerInputSize(slot / c.numDirections()));
    for (int id = 0; id < 2 * G; ++id) {
      void* mAddr = nullptr;
      void* bAddr = nullptr;
      check(cudnn().cudnnGetRNNWeightParams(handle, rnn, slot, weightBytes, base, id, mDesc.get(), &mAddr, bDesc.get(), &bAddr),
            "cudnnGetRNNWeightParams");
      const size_t si = static_cast<size_t>(slot), sid = static_cast<size_t>(id);
      map.matrix[si][sid] = sliceOf(mDesc, mAddr, H * (id < G ? in : H), slot, id, "matrix");
      map.bias[si][sid] = sliceOf(bDesc, bAddr, H, slot, id, "bias");
    }
  }
  // Padding between the tensors (if cuDNN leaves any) is zeroed when packing, so that whatever
  // cuDNN might read there is finite.
  map.gaps = covered != weightBytes;
  return map;
}

template <typename Src>
std::vector<CopySegment> weightSegments(const WeightMap& map, const GruConfig& c, const GruParamSet<Src>& p, float* space,
                                        bool intoSpace) {
  std::vector<CopySegment> segs;
  const size_t H = static_cast<size_t>(c.hiddenSize);
  auto add = [&](Src* canonical, const WeightSlice& slice) {
    float* inSpace = space + slice.offset;
    CopySegment s = intoSpace ? CopySegment{canonical, inSpace, slice.count}
                              : CopySegment{inSpace, const_cast<float*>(canonical), slice.count};
    if (!segs.empty()) {
      CopySegment& last = segs.back();
      if (last.src + last.count == s.src && last.dst + last.count == s.dst) {
        last.count += s.count;
        return;
      }
    }
    segs.push_back(s);
  };
  const int G = c.gates();
  for (int slot = 0; slot < c.numSlots(); ++slot) {
    const size_t in = static_cast<size_t>(c.layerInputSize(slot / c.numDirections()));
    const size_t si = static_cast<size_t>(slot);
    for (int g = 0; g < G; ++g) add(p.wIh[si] + g * H * in, map.matrix[si][g]);
    for (int g = 0; g < G; ++g) add(p.wHh[si] + g * H * H, map.matrix[si][G + g]);
    for (int g = 0; g < G; ++g) add(p.bIh[si] + g * H, map.bias[si][g]);
    for (int g = 0; g < G; ++g) add(p.bHh[si] + g * H, map.bias[si][G + g]);
  }
  return segs;
}

template std::vector<CopySegment> weightSegments(const WeightMap&, const GruConfig&, const GruParams&, float*, bool);
template std::vector<CopySegment> weightSegments(const WeightMap&, const GruConfig&, const GruParamGrads&, float*, bool);

}  // namespace cgru::cuda
