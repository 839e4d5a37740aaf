// What one launch of an instantiated CUDA graph costs, in kernels and blocks,
// so that cuGraphLaunch is metered and gated like the kernels it contains
// (the published TGS prototype let graphs escape its rate control). Filled
// when a graph is instantiated, read on every graph launch: the table is a
// fixed-size open-addressing hash with atomic slots, lock-free for readers.
#pragma once

#include <atomic>
#include <cstdint>

namespace tgs::launch {

struct GraphCost {
  uint64_t kernels = 0;
  uint64_t blocks = 0;
};

class GraphCostTable {
 public:
  static constexpr size_t kCapacity = 8192;  // live instantiated graphs per process

  // false when the table is full (the graph is then metered as one launch).
  bool Insert(uint64_t exec, GraphCost cost);
  // The cost of `exec`; kernels = 1, blocks = 0 when unknown.
  GraphCost Find(uint64_t exec) const;
  void Erase(uint64_t exec);

 private:
  static constexpr uint64_t kEmpty = 0, kErased = 1;
  struct Slot {
    std::atomic<uint64_t> key{kEmpty};
    std::atomic<uint64_t> kernels{0};
    std::atomic<uint64_t> blocks{0};
  };
  static size_t Home(uint64_t exec) { return (exec * 0x9e3779b97f4a7c15ull >> 51) % kCapacity; }
  Slot slots_[kCapacity];
};

GraphCostTable& GraphCosts();

}  // namespace tgs::launch
