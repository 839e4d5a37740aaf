// Device-memory accounting in the shared segment: what every allocation path
// calls to charge or credit a device, and what memory queries read. Charging
// happens under the segment lock so the capacity check and the counters (this
// process's plain charges and usage, the device total) move together. Used
// memory includes resident managed bytes of every process.
#pragma once

#include <cstdint>

namespace simgpu {

// Charges a plain (non-managed) allocation. Resident managed memory of any
// process gives way (residency.h): when only that is in the way, it is
// evicted and the call returns once the evicted bytes have crossed the host
// link. False only when plain usage alone would exceed the device, after
// reclaiming the usage of dead processes.
bool ChargeDevice(int device, uint64_t bytes);
void CreditDevice(int device, uint64_t bytes);

struct DeviceMemory {
  uint64_t total;
  uint64_t used;
  uint64_t free;
};
// Reclaims dead processes first, as a query after a crash must not see their memory.
DeviceMemory QueryDeviceMemory(int device);

// Marks that this process holds (or no longer holds) a context on `device`.
void SetContextFlag(int device, bool present);

}  // namespace simgpu
