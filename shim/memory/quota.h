// Charging and returning device memory against the container's limit, for
// this process. The allocation hooks call Reserve before asking the driver
// and Release when the driver refused or the memory is freed.
#pragma once

#include <cstdint>

namespace tgs::quota {

// true if `bytes` on container GPU `gpu` fit in the limit and are now
// charged to this process. gpu < 0 (device unknown to the accounting) charges
// nothing and returns true; the driver will reject such a call itself.
bool Reserve(int gpu, uint64_t bytes, const char* api);
void Release(int gpu, uint64_t bytes);

}  // namespace tgs::quota
