// What a limited container is shown of a GPU's memory: a device of exactly
// its limit, of which its own usage is taken. Applies to cuMemGetInfo,
// cuDeviceTotalMem and NVML's memory queries alike.
#pragma once

#include <cstdint>

namespace tgs {

struct MemoryView {
  uint64_t free;
  uint64_t total;
};

// limit 0 = no limit (the real view). Free never exceeds what the device
// really has free, and never wraps below zero — except for an oversubscribing
// container, whose allocations are unified memory the driver can place on the
// host: it may allocate up to its limit whatever production holds.
MemoryView VirtualMemoryView(uint64_t real_free, uint64_t real_total, uint64_t limit, uint64_t used,
                             bool oversubscribed = false);

// The view for container GPU `gpu` (or the real one when gpu < 0 or the
// accounting is not attached). Siblings that died without releasing are
// reclaimed first, so a report never shows their memory as used (a stale
// view makes a second process of a container misjudge what it may take).
MemoryView ContainerMemoryView(int gpu, uint64_t real_free, uint64_t real_total);

}  // namespace tgs
