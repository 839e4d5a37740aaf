#include "shim/memory/allocation_table.h"

#include <pthread.h>

namespace tgs {

// All tables are locked across fork() so that a child never inherits a shard
// mutex held by a parent thread, then the child forgets the parent's
// allocations: they belong to the parent's driver context, not the child's.
struct AllocationTableForkHandlers {
  static std::mutex& RegistryMutex() {
    static std::mutex mu;  // guards the registry list
    return mu;
  }
  static AllocationTable*& Head() {
    static AllocationTable* head = nullptr;
    return head;
  }
  static void Prepare() {
    RegistryMutex().lock();
    for (AllocationTable* t = Head(); t; t = t->next_registered_) {
      for (auto& s : t->shards_) s.mu.lock();
    }
  }
  static void Parent() {
    for (AllocationTable* t = Head(); t; t = t->next_registered_) {
      for (auto& s : t->shards_) s.mu.unlock();
    }
    RegistryMutex().unlock();
  }
  static void Child() {
    for (AllocationTable* t = Head(); t; t = t->next_registered_) {
      for (auto& s : t->shards_) {
        s.map.clear();
        s.mu.unlock();
      }
    }
    RegistryMutex().unlock();
  }
  static void Register(AllocationTable* table) {
    static std::once_flag once;
    std::call_once(once, [] { pthread_atfork(&Prepare, &Parent, &Child); });
    std::lock_guard<std::mutex> lock(RegistryMutex());
    table->next_registered_ = Head();
    Head() = table;
  }
  static void Unregister(AllocationTable* table) {
    std::lock_guard<std::mutex> lock(RegistryMutex());
    for (AllocationTable** p = &Head(); *p; p = &(*p)->next_registered_) {
      if (*p == table) {
        *p = table->next_registered_;
        return;
      }
    }
  }
};

AllocationTable::AllocationTable() { AllocationTableForkHandlers::Register(this); }
AllocationTable::~AllocationTable() { AllocationTableForkHandlers::Unregister(this); }

void AllocationTable::Insert(uint64_t key, Charge charge) {
  Shard& s = ShardFor(key);
  std::lock_guard<std::mutex> lock(s.mu);
  s.map[key] = charge;
}

std::optional<Charge> AllocationTable::Take(uint64_t key) {
  Shard& s = ShardFor(key);
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.map.find(key);
  if (it == s.map.end()) return std::nullopt;
  Charge c = it->second;
  s.map.erase(it);
  return c;
}

std::optional<Charge> AllocationTable::Find(uint64_t key) {
  Shard& s = ShardFor(key);
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.map.find(key);
  if (it == s.map.end()) return std::nullopt;
  return it->second;
}

size_t AllocationTable::SizeForTest() {
  size_t n = 0;
  for (auto& s : shards_) {
    std::lock_guard<std::mutex> lock(s.mu);
    n += s.map.size();
  }
  return n;
}

}  // namespace tgs
