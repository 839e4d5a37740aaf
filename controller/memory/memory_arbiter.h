// The memory half of arbitration, run every control interval beside the rate
// control: per GPU it sums what cannot be evicted (production's memory and
// every other plain device allocation), asks PlanResidency how much unified
// memory each oversubscribing container may keep resident, and writes the
// budgets into their state files, where the shims pick them up on their next
// launch (shim/memory/residency.h). When production leaves, the budgets grow
// within one interval and the shims prefetch their memory back.
//
// It also watches each oversubscribing container's placement: memory left on
// the host (its working set does not fit its budget: its kernels read that
// part over the bus) and memory moving back and forth (thrashing), and logs
// each episode once.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <utility>

#include "controller/daemon/control_loop.h"

namespace tgs::controller {

// One container's unified memory on one GPU, as last seen.
struct ResidencyStatus {
  uint64_t budget = 0;          // kNoResidentBudget: unlimited
  uint64_t managed = 0;         // unified memory allocated
  uint64_t resident = 0;        // placed on the GPU
  uint64_t evicted_total = 0;   // moved to the host so far
  uint64_t prefetched_total = 0;  // moved back so far
  bool thrashing = false;
};

class MemoryArbiter {
 public:
  void OnInterval(const RegistrySnapshot& snapshot);

  // Status of container `key` on node-board GPU `board_gpu`; nullptr when it
  // does not oversubscribe there.
  const ResidencyStatus* Status(const std::string& key, int board_gpu) const;
  // " | unified 2 GiB: 512 MiB resident, 1.5 GiB on host, 3 GiB moved" for status lines.
  static std::string Describe(const ResidencyStatus& s);

 private:
  struct Watch {
    ResidencyStatus status;
    std::deque<std::pair<std::chrono::steady_clock::time_point, uint64_t>> moved;  // (when, bytes moved so far)
    bool spill_logged = false;
    std::chrono::steady_clock::time_point lowered;  // when the budget last went down
  };
  void Observe(const std::string& key, const std::string& gpu, Watch& w, std::chrono::steady_clock::time_point now);

  std::map<std::pair<std::string, int>, Watch> watches_;
};

}  // namespace tgs::controller
