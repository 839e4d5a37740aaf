// Which GPU, and how many bytes, each live allocation of this process was
// charged, so that a free returns exactly that. Sharded hash maps: a free is
// O(1) whatever the number of live allocations (the linked list seen in the
// field made frees O(n)). Process-local; cleared in a forked child.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <unordered_map>

namespace tgs {

struct Charge {
  int gpu;
  uint64_t bytes;
};

class AllocationTable {
 public:
  AllocationTable();
  ~AllocationTable();
  AllocationTable(const AllocationTable&) = delete;
  AllocationTable& operator=(const AllocationTable&) = delete;

  void Insert(uint64_t key, Charge charge);
  // Removes and returns the charge of `key`, if any.
  std::optional<Charge> Take(uint64_t key);
  std::optional<Charge> Find(uint64_t key);
  size_t SizeForTest();

 private:
  friend struct AllocationTableForkHandlers;
  static constexpr size_t kShards = 32;
  struct alignas(64) Shard {
    std::mutex mu;  // guards `map`
    std::unordered_map<uint64_t, Charge> map;
  };
  Shard& ShardFor(uint64_t key) { return shards_[(key >> 8 ^ key >> 20) % kShards]; }

  Shard shards_[kShards];
  AllocationTable* next_registered_ = nullptr;
};

}  // namespace tgs
