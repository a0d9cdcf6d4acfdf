#include "bindings/handles.h"

#include <limits>

#include "bindings/environment.h"
#include "core/errors.h"

namespace cgru::bindings {
namespace {

static_assert(sizeof(void*) >= sizeof(uint64_t), "a key (slot, generation) travels as an External's pointer");

uint64_t makeKey(uint32_t index, uint32_t generation) { return uint64_t{generation} << 32 | index; }
uint32_t indexOf(uint64_t key) { return static_cast<uint32_t>(key); }
uint32_t generationOf(uint64_t key) { return static_cast<uint32_t>(key >> 32); }

bool sameTag(const napi_type_tag& a, const napi_type_tag& b) { return a.lower == b.lower && a.upper == b.upper; }

uint64_t keyOf(const Napi::Value& external) {
  return static_cast<uint64_t>(reinterpret_cast<uintptr_t>(external.As<Napi::External<void>>().Data()));
}

}  // namespace

HandleTable::~HandleTable() {
  for (Slot& slot : slots_)
    if (slot.object) slot.destroy(slot.object);
}

uint64_t HandleTable::insertErased(void* object, Destroy destroy, const napi_type_tag& kind) {
  uint32_t index;
  if (!freeSlots_.empty()) {
    index = freeSlots_.back();
    freeSlots_.pop_back();
  } else {
    if (slots_.size() >= std::numeric_limits<uint32_t>::max())
      throw Error("cudnn-gru: more than 2^32 native objects are alive in this environment");
    index = static_cast<uint32_t>(slots_.size());
    // release() must not fail, so the free list always has room for every slot.
    if (freeSlots_.capacity() <= slots_.size()) freeSlots_.reserve(2 * slots_.size() + 16);
    slots_.emplace_back();
  }
  Slot& slot = slots_[index];
  slot.object = object;
  slot.destroy = destroy;
  slot.kind = kind;
  return makeKey(index, slot.generation);
}

const HandleTable::Slot* HandleTable::slotFor(uint64_t key) const {
  const uint32_t index = indexOf(key);
  if (index >= slots_.size()) return nullptr;
  const Slot& slot = slots_[index];
  return slot.object && slot.generation == generationOf(key) ? &slot : nullptr;
}

void* HandleTable::find(uint64_t key, const napi_type_tag& kind) const {
  const Slot* slot = slotFor(key);
  return slot && sameTag(slot->kind, kind) ? slot->object : nullptr;
}

void HandleTable::release(uint64_t key) {
  if (!slotFor(key)) throw Error("cudnn-gru: internal error: releasing a native object that is not alive");
  Slot& slot = slots_[indexOf(key)];
  void* object = slot.object;
  const Destroy destroy = slot.destroy;
  slot.object = nullptr;
  slot.destroy = nullptr;
  // Generation 0 is never used, so that no key is 0.
  slot.generation = slot.generation == std::numeric_limits<uint32_t>::max() ? 1 : slot.generation + 1;
  freeSlots_.push_back(indexOf(key));  // never reallocates (see insertErased)
  destroy(object);
}

HandleTable& handleTable(Napi::Env env) { return environment(env).handles; }

Napi::Value wrapErased(Napi::Env env, uint64_t key, const napi_type_tag& tag) {
  // No finalizer: the table owns the object (see handles.h).
  auto external = Napi::External<void>::New(env, reinterpret_cast<void*>(static_cast<uintptr_t>(key)));
  if (napi_type_tag_object(env, external, &tag) != napi_ok) throw Error("cudnn-gru: could not tag a native handle");
  return external;
}

HandleState lookupErased(Napi::Env env, const Napi::Value& value, const napi_type_tag& tag, void** object) {
  *object = nullptr;
  bool tagged = false;
  if (!value.IsExternal() || napi_check_object_type_tag(env, value, &tag, &tagged) != napi_ok || !tagged)
    return HandleState::Foreign;
  *object = handleTable(env).find(keyOf(value), tag);
  return *object ? HandleState::Live : HandleState::Released;
}

void releaseObject(Napi::Env env, const Napi::Value& value) { handleTable(env).release(keyOf(value)); }

}  // namespace cgru::bindings
