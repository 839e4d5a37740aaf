// Device-memory accounting in the shared segment: what every allocation path
// calls to charge or credit a device, and what memory queries read. Charging
// happens under the segment lock so the capacity check and the two counters
// (this process's usage, the device total) move together.
#pragma once

#include <cstdint>

namespace simgpu {

// False when the device cannot hold `bytes` more, after reclaiming the usage
// of dead processes.
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
