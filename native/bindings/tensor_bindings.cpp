// Tensor memory: allocate on a device, copy in and out, free, and the allocator's live counts.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "bindings/args.h"
#include "bindings/register.h"

namespace cgru::bindings {
namespace {

constexpr int64_t kMaxElements = int64_t{1} << 40;

napi_typedarray_type typedArrayTypeOf(DType dtype) {
  return dtype == DType::Float32 ? napi_float32_array : napi_int32_array;
}

Napi::TypedArray newTypedArray(Napi::Env env, DType dtype, size_t numel) {
  if (dtype == DType::Float32) return Napi::Float32Array::New(env, numel);
  return Napi::Int32Array::New(env, numel);
}

void checkMatches(const Args& args, size_t i, const char* name, const Napi::TypedArray& array, DType dtype,
                  size_t numel) {
  if (array.TypedArrayType() != typedArrayTypeOf(dtype) || array.ElementLength() != numel)
    args.typeError(i, name,
                   std::string("a ") + (dtype == DType::Float32 ? "Float32Array" : "Int32Array") + " of length " +
                       std::to_string(numel));
}

const uint8_t* typedArrayBytes(const Napi::TypedArray& array) {
  return static_cast<const uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset();
}

// alloc(device, dtype, numel, init?) -> handle. Memory is zeroed unless init is given.
Napi::Value alloc(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    Args args(info, "alloc");
    const Device device = parseDevice(args.oneOf(0, "device", {"cpu", "cuda"}));
    const DType dtype = parseDType(args.oneOf(1, "dtype", {"float32", "int32"}));
    const auto numel = static_cast<size_t>(args.integer(2, "numel", 0, kMaxElements));
    std::unique_ptr<TensorHandle> handle(new TensorHandle{nullptr, dtype, numel});
    std::unique_ptr<Napi::TypedArray> init;
    if (!args.isAbsent(3)) {
      init = std::make_unique<Napi::TypedArray>(args.typedArray(3, "init"));
      checkMatches(args, 3, "init", *init, dtype, numel);
    }
    handle->storage = std::make_shared<Storage>(device, numel * dtypeSize(dtype));
    Storage& storage = *handle->storage;
    if (init) {
      storage.backend().copyFromHost(storage.mutableData(), typedArrayBytes(*init), storage.bytes());
      handle->noteHostData(typedArrayBytes(*init), numel);
    } else {
      storage.backend().fillZero(storage.mutableData(), storage.bytes());  // int32 range: [0, 0]
    }
    return wrapHandle(info.Env(), handle.release());
  });
}

// read(handle) -> a new Float32Array/Int32Array with a copy of the data.
Napi::Value read(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Args args(info, "read");
    TensorHandle& h = args.tensor(0, "handle");
    Napi::TypedArray out = newTypedArray(info.Env(), h.dtype, h.numel);
    h.storage->backend().copyToHost(static_cast<uint8_t*>(out.ArrayBuffer().Data()) + out.ByteOffset(),
                                    h.storage->data(), h.storage->bytes());
    return out;
  });
}

// firstNonFinite(handle) -> the index of the first NaN or ±Inf of a float32 tensor in host
// memory, or -1 (predict's input check: a scan in place, where a reduction op and its read-back
// took 6 µs of a 0.13 ms batch-1 predict).
Napi::Value firstNonFinite(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Args args(info, "firstNonFinite");
    TensorHandle& h = args.tensor(0, "handle");
    if (h.dtype != DType::Float32) args.typeError(0, "handle", "a float32 tensor");
    if (h.storage->device() != Device::Cpu) args.typeError(0, "handle", "a tensor in host memory (cpu)");
    const auto* bits = static_cast<const uint32_t*>(h.storage->data());
    // Blocks OR-reduced without branches (they vectorise), then the first bad block searched.
    constexpr size_t kBlock = 256;
    constexpr uint32_t kExponent = 0x7f800000u;  // all ones: NaN or ±Inf
    for (size_t begin = 0; begin < h.numel; begin += kBlock) {
      const size_t end = std::min(h.numel, begin + kBlock);
      uint32_t bad = 0;
      for (size_t i = begin; i < end; ++i) bad |= static_cast<uint32_t>((bits[i] & kExponent) == kExponent);
      if (!bad) continue;
      for (size_t i = begin; i < end; ++i)
        if ((bits[i] & kExponent) == kExponent) return Napi::Number::New(info.Env(), static_cast<double>(i));
    }
    return Napi::Number::New(info.Env(), -1);
  });
}

// readAsync: the result is the tensor's data as of the call, ordered after all work queued
// before it and unaffected by anything queued or written after it (in-place ops, write, dispose).
// Host memory is copied at once. Device memory is first copied within the device into a private
// snapshot (queued on the device's stream: no waiting on the JS thread); the device-to-host copy
// of that snapshot then runs on a worker thread (the backend makes its device current there),
// which owns the snapshot until the copy is done.
class ReadWorker : public Napi::AsyncWorker {
 public:
  ReadWorker(Napi::Env env, const TensorHandle& h)
      : Napi::AsyncWorker(env, "cudnn-gru.read"), deferred_(Napi::Promise::Deferred::New(env)), dtype_(h.dtype),
        numel_(h.numel), bytes_(h.storage->bytes()) {
    Storage& src = *h.storage;
    if (bytes_.empty()) return;
    if (src.device() == Device::Cpu) {
      src.backend().copyToHost(bytes_.data(), src.data(), bytes_.size());
    } else {
      snapshot_ = std::make_unique<Storage>(src.device(), src.bytes());
      snapshot_->backend().copyWithin(snapshot_->mutableData(), src.data(), src.bytes());
    }
  }
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override {
    if (!snapshot_) return;
    try {
      snapshot_->backend().copyToHost(bytes_.data(), snapshot_->data(), bytes_.size());
    } catch (const std::exception& e) {
      SetError(std::string("readAsync: ") + e.what());
    } catch (...) {
      SetError("readAsync: the device-to-host copy failed");
    }
    snapshot_.reset();  // the copy is complete: free the snapshot now, not when the promise settles
  }
  void OnOK() override {
    Napi::TypedArray out = newTypedArray(Env(), dtype_, numel_);
    if (!bytes_.empty()) std::memcpy(static_cast<uint8_t*>(out.ArrayBuffer().Data()) + out.ByteOffset(), bytes_.data(), bytes_.size());
    deferred_.Resolve(out);
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::unique_ptr<Storage> snapshot_;  // device tensors only
  DType dtype_;
  size_t numel_;
  std::vector<uint8_t> bytes_;
};

Napi::Value readAsync(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Args args(info, "readAsync");
    TensorHandle& h = args.tensor(0, "handle");
    auto* worker = new ReadWorker(info.Env(), h);
    Napi::Promise promise = worker->promise();
    worker->Queue();
    return promise;
  });
}

// write(handle, data): overwrite all elements from a typed array of the same type and length.
Napi::Value write(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Args args(info, "write");
    TensorHandle& h = args.tensor(0, "handle");
    Napi::TypedArray data = args.typedArray(1, "data");
    checkMatches(args, 1, "data", data, h.dtype, h.numel);
    h.storage->backend().copyFromHost(h.storage->mutableData(), typedArrayBytes(data), h.storage->bytes());
    h.noteHostData(typedArrayBytes(data), h.numel);
    return info.Env().Undefined();
  });
}

// copyTo(handle, device) -> a new handle holding a copy on `device`.
Napi::Value copyTo(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    Args args(info, "copyTo");
    TensorHandle& src = args.tensor(0, "handle");
    const Device device = parseDevice(args.oneOf(1, "device", {"cpu", "cuda"}));
    std::unique_ptr<TensorHandle> dst(new TensorHandle{nullptr, src.dtype, src.numel});
    dst->minValue = src.minValue;
    dst->maxValue = src.maxValue;
    dst->storage = std::make_shared<Storage>(device, src.storage->bytes());
    Storage& from = *src.storage;
    Storage& to = *dst->storage;
    if (from.device() == to.device()) {
      to.backend().copyWithin(to.mutableData(), from.data(), from.bytes());
    } else if (from.device() == Device::Cpu) {
      to.backend().copyFromHost(to.mutableData(), from.data(), from.bytes());
    } else {
      from.backend().copyToHost(to.mutableData(), from.data(), from.bytes());
    }
    return wrapHandle(info.Env(), dst.release());
  });
}

// free(handle): releases the memory now. Freeing twice is an error (the JS layer never does).
Napi::Value freeHandle(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Args args(info, "free");
    releaseTensor(info.Env(), info[0], args.tensor(0, "handle"));
    return info.Env().Undefined();
  });
}

Napi::Value isFreed(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Args args(info, "isFreed");
    const TensorHandle* h = args.isAbsent(0) ? nullptr : asTensorHandle(info.Env(), info[0]);
    if (!h) args.typeError(0, "handle", "a tensor handle");
    return Napi::Boolean::New(info.Env(), !h->storage);
  });
}

// synchronize(device): waits until all work queued on `device` is done (timing, interop).
Napi::Value synchronize(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Args args(info, "synchronize");
    const Device device = parseDevice(args.oneOf(0, "device", {"cpu", "cuda"}));
    Backend* backend = backendFor(device);
    if (!backend) throw Error(std::string("synchronize: CUDA is not available: ") + cudaReport().reason);
    backend->synchronize();
    return info.Env().Undefined();
  });
}

// nativeMemory() -> { cpu: {buffers, bytes}, cuda: {buffers, bytes} }: what the allocator holds.
Napi::Value nativeMemory(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    Napi::Object out = Napi::Object::New(env);
    for (Device d : {Device::Cpu, Device::Cuda}) {
      const DeviceMemoryStats s = Storage::stats(d);
      Napi::Object o = Napi::Object::New(env);
      o.Set("buffers", Napi::Number::New(env, static_cast<double>(s.liveBuffers)));
      o.Set("bytes", Napi::Number::New(env, static_cast<double>(s.liveBytes)));
      out.Set(deviceName(d), o);
    }
    return out;
  });
}

}  // namespace

void registerTensorBindings(Napi::Env env, Napi::Object exports) {
  exports.Set("alloc", Napi::Function::New(env, alloc, "alloc"));
  exports.Set("read", Napi::Function::New(env, read, "read"));
  exports.Set("readAsync", Napi::Function::New(env, readAsync, "readAsync"));
  exports.Set("firstNonFinite", Napi::Function::New(env, firstNonFinite, "firstNonFinite"));
  exports.Set("write", Napi::Function::New(env, write, "write"));
  exports.Set("copyTo", Napi::Function::New(env, copyTo, "copyTo"));
  exports.Set("free", Napi::Function::New(env, freeHandle, "free"));
  exports.Set("isFreed", Napi::Function::New(env, isFreed, "isFreed"));
  exports.Set("nativeMemory", Napi::Function::New(env, nativeMemory, "nativeMemory"));
  exports.Set("synchronize", Napi::Function::New(env, synchronize, "synchronize"));
}

}  // namespace cgru::bindings
