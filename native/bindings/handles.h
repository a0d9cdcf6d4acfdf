// Ownership of the native objects JS holds (tensor data, GRU training state).
//
// They are owned by a table per Node environment, not by their JS objects: JS gets a type-tagged
// External without a finalizer whose value names a table slot and that slot's generation.
// - Releasing (free, gruReserveFree) destroys the object at once. Per-object finalizers would
//   only run when the event loop turns, so a synchronous loop would grow without bound even
//   though it disposes everything it makes.
// - A released slot gets a new generation, so an External that named it reads as released (a
//   clear use-after-free error) even after the slot is reused.
// - The tag tells the kinds apart (a tensor is not a GRU state); anything else is foreign.
// - The environment's teardown (exit, a worker ending or being terminated) destroys what is left.
// An External dropped without a release keeps its object until then: the JS layer frees what its
// users forget through a FinalizationRegistry.
#pragma once
#include <napi.h>

#include <cstdint>
#include <memory>
#include <vector>

namespace cgru::bindings {

class HandleTable {
 public:
  HandleTable() = default;
  ~HandleTable();
  HandleTable(const HandleTable&) = delete;
  HandleTable& operator=(const HandleTable&) = delete;

  // Takes ownership of `object`; returns the nonzero key that names it.
  template <class T>
  uint64_t insert(std::unique_ptr<T> object, const napi_type_tag& kind) {
    const uint64_t key = insertErased(object.get(), [](void* p) { delete static_cast<T*>(p); }, kind);
    object.release();
    return key;
  }
  // The object `key` names when it is live and of `kind`, else nullptr.
  void* find(uint64_t key, const napi_type_tag& kind) const;
  // Destroys the live object `key` names; its slot may then be reused under a new generation.
  void release(uint64_t key);

 private:
  using Destroy = void (*)(void*);
  struct Slot {
    void* object = nullptr;  // null while free
    Destroy destroy = nullptr;
    napi_type_tag kind{};
    uint32_t generation = 1;
  };
  uint64_t insertErased(void* object, Destroy destroy, const napi_type_tag& kind);
  const Slot* slotFor(uint64_t key) const;

  std::vector<Slot> slots_;
  std::vector<uint32_t> freeSlots_;
};

// What a JS value is, for one kind of object.
enum class HandleState {
  Live,      // an External of this kind whose object is alive
  Released,  // an External of this kind whose object was released
  Foreign,   // anything else
};

// This environment's table (made by initEnvironment in addon.cpp's init).
HandleTable& handleTable(Napi::Env env);

// A type-tagged External naming `object`, which the environment's table now owns.
Napi::Value wrapErased(Napi::Env env, uint64_t key, const napi_type_tag& tag);
HandleState lookupErased(Napi::Env env, const Napi::Value& value, const napi_type_tag& tag, void** object);

template <class T>
Napi::Value wrapObject(Napi::Env env, std::unique_ptr<T> object, const napi_type_tag& tag) {
  HandleTable& table = handleTable(env);
  const uint64_t key = table.insert(std::move(object), tag);
  try {
    return wrapErased(env, key, tag);
  } catch (...) {
    table.release(key);
    throw;
  }
}

template <class T>
HandleState lookupObject(Napi::Env env, const Napi::Value& value, const napi_type_tag& tag, T** object) {
  void* found = nullptr;
  const HandleState state = lookupErased(env, value, tag, &found);
  *object = static_cast<T*>(found);
  return state;
}

// Destroys the object a Live `value` names.
void releaseObject(Napi::Env env, const Napi::Value& value);

}  // namespace cgru::bindings
