// Handle validation. CUDA handles are opaque pointers that applications can
// pass back stale or garbage; every API call resolves them here instead of
// dereferencing, so a bad handle is an error code, never a crash. Objects are
// shared_ptr-owned so that work still queued on a destroyed handle stays valid.
#pragma once

#include <memory>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>
#include <vector>

namespace simgpu {

template <typename T>
class Registry {
 public:
  void Add(const std::shared_ptr<T>& object) {
    std::unique_lock lock(mu_);  // guards map_
    map_[object.get()] = object;
  }
  std::shared_ptr<T> Find(const void* handle) const {
    std::shared_lock lock(mu_);
    auto it = map_.find(handle);
    return it == map_.end() ? nullptr : it->second;
  }
  std::shared_ptr<T> Remove(const void* handle) {
    std::unique_lock lock(mu_);
    auto it = map_.find(handle);
    if (it == map_.end()) return nullptr;
    auto object = std::move(it->second);
    map_.erase(it);
    return object;
  }
  template <typename Pred>
  std::vector<std::shared_ptr<T>> Select(Pred pred) const {
    std::shared_lock lock(mu_);
    std::vector<std::shared_ptr<T>> out;
    for (auto& [key, object] : map_) {
      if (pred(*object)) out.push_back(object);
    }
    return out;
  }

 private:
  mutable std::shared_mutex mu_;
  std::unordered_map<const void*, std::shared_ptr<T>> map_;
};

// Process-lifetime singletons are leaked on purpose: stream worker threads may
// still be running while static destructors execute at exit.
template <typename T>
T& Leaked() {
  static T* instance = new T();
  return *instance;
}

}  // namespace simgpu
