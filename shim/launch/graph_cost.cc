#include "shim/launch/graph_cost.h"

namespace tgs::launch {

bool GraphCostTable::Insert(uint64_t exec, GraphCost cost) {
  if (exec == kEmpty || exec == kErased) return false;
  for (size_t i = 0, s = Home(exec); i < kCapacity; ++i, s = (s + 1) % kCapacity) {
    uint64_t key = slots_[s].key.load(std::memory_order_acquire);
    if (key == exec || key == kEmpty || key == kErased) {
      // Publish the value before the key, so a reader that sees the key sees it.
      // (Re-instantiation of a handle the driver reused overwrites in place.)
      if (key != exec && !slots_[s].key.compare_exchange_strong(key, kErased, std::memory_order_acq_rel)) continue;
      slots_[s].kernels.store(cost.kernels, std::memory_order_relaxed);
      slots_[s].blocks.store(cost.blocks, std::memory_order_relaxed);
      slots_[s].key.store(exec, std::memory_order_release);
      return true;
    }
  }
  return false;
}

GraphCost GraphCostTable::Find(uint64_t exec) const {
  for (size_t i = 0, s = Home(exec); i < kCapacity; ++i, s = (s + 1) % kCapacity) {
    uint64_t key = slots_[s].key.load(std::memory_order_acquire);
    if (key == exec) {
      return GraphCost{slots_[s].kernels.load(std::memory_order_relaxed), slots_[s].blocks.load(std::memory_order_relaxed)};
    }
    if (key == kEmpty) break;
  }
  return GraphCost{1, 0};
}

void GraphCostTable::Erase(uint64_t exec) {
  for (size_t i = 0, s = Home(exec); i < kCapacity; ++i, s = (s + 1) % kCapacity) {
    uint64_t key = slots_[s].key.load(std::memory_order_acquire);
    if (key == exec) {
      slots_[s].key.compare_exchange_strong(key, kErased, std::memory_order_acq_rel);
      return;
    }
    if (key == kEmpty) return;
  }
}

GraphCostTable& GraphCosts() {
  static auto* table = new GraphCostTable();  // leaked: launches may run during exit
  return *table;
}

}  // namespace tgs::launch
