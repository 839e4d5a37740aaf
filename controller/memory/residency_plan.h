// How much unified memory each oversubscribing container may keep resident
// on one GPU (the budget its shims place their managed ranges within;
// shim/memory/residency.h). A pure function of the GPU's memory picture, so
// it is unit-tested without processes.
//
// What cannot move — production's memory, the memory of containers that do
// not oversubscribe, and the plain device memory (arrays, pools, VMM) of
// those that do — is subtracted from the device, and so is a headroom kept
// free for production to grow into without waiting for evictions. What is
// left is shared among the oversubscribing containers by weight, water-
// filling: a container that needs less than its share leaves the rest to
// the others. When everyone fits, each budget also gets a weighted part of
// the spare room, so that a container that grows a little does not have to
// move memory.
#pragma once

#include <cstdint>
#include <vector>

namespace tgs::controller {

struct ResidencyInput {
  uint64_t device_bytes = 0;  // the GPU's memory; 0 = unknown (no budgets)
  uint64_t pinned_bytes = 0;  // device memory that cannot be evicted
  double headroom = 0.05;     // fraction of device_bytes kept free
  struct Container {
    int weight = 1;
    uint64_t managed_bytes = 0;   // its unified memory on this GPU
    uint64_t resident_limit = 0;  // its own cap (policy resident_limit); 0 = none
  };
  std::vector<Container> containers;  // oversubscribing containers on this GPU
};

// One budget per container, in input order; kNoResidentBudget
// (container_state.h) where the device size is unknown.
std::vector<uint64_t> PlanResidency(const ResidencyInput& in);

// How long a budget stays down after it was lowered while production is on
// the GPU. Production's memory can come and go within seconds (a framework
// that frees and reallocates); following every dip would move the
// opportunistic container's memory back and forth — thrashing it — for
// nothing. Lowering is never delayed (production needs the room, and the
// driver would evict anyway), nor is raising once production has left.
inline constexpr double kBudgetRaiseHoldSeconds = 2.0;

// The budget to apply, given the planned one, the one in force, whether
// production is registered on the GPU and how long ago the budget was last
// lowered (seconds).
uint64_t DampedBudget(uint64_t planned, uint64_t current, bool production_present, double since_lowered_s);

}  // namespace tgs::controller
