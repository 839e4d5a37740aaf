#include "tools/simgpu/ledger.h"

#include <unistd.h>

#include "tools/simgpu/segment.h"

namespace simgpu {

bool ChargeDevice(int device, uint64_t bytes) {
  Segment* seg = CurrentSegment();
  if (seg == nullptr || device < 0 || device >= seg->device_count) return false;
  ProcessSlot* slot = OwnSlot(seg);
  if (slot == nullptr) return false;
  DeviceState& d = seg->devices[device];
  SegmentLock lock(seg);
  for (int attempt = 0; attempt < 2; ++attempt) {
    uint64_t used = d.used_bytes.load(std::memory_order_relaxed);
    if (bytes <= seg->memory_per_device && used <= seg->memory_per_device - bytes) {
      slot->used[device].fetch_add(bytes, std::memory_order_relaxed);
      d.used_bytes.fetch_add(bytes, std::memory_order_relaxed);
      return true;
    }
    if (attempt == 0) ReclaimDeadLocked(seg);
  }
  return false;
}

void CreditDevice(int device, uint64_t bytes) {
  Segment* seg = CurrentSegment();
  if (seg == nullptr || device < 0 || device >= seg->device_count || bytes == 0) return;
  ProcessSlot* slot = OwnSlot(seg);
  if (slot == nullptr) return;
  SegmentLock lock(seg);
  // Clamp rather than underflow: a wrapped counter would report petabytes free.
  uint64_t mine = slot->used[device].load(std::memory_order_relaxed);
  uint64_t take = bytes < mine ? bytes : mine;
  slot->used[device].store(mine - take, std::memory_order_relaxed);
  uint64_t total = seg->devices[device].used_bytes.load(std::memory_order_relaxed);
  seg->devices[device].used_bytes.store(total - (take < total ? take : total), std::memory_order_relaxed);
}

DeviceMemory QueryDeviceMemory(int device) {
  DeviceMemory m{0, 0, 0};
  Segment* seg = CurrentSegment();
  if (seg == nullptr || device < 0 || device >= seg->device_count) return m;
  ReclaimDead(seg);
  m.total = seg->memory_per_device;
  m.used = seg->devices[device].used_bytes.load(std::memory_order_relaxed);
  if (m.used > m.total) m.used = m.total;
  m.free = m.total - m.used;
  return m;
}

void SetContextFlag(int device, bool present) {
  Segment* seg = CurrentSegment();
  if (seg == nullptr || device < 0 || device >= kMaxDevices) return;
  ProcessSlot* slot = OwnSlot(seg);
  if (slot == nullptr) return;
  if (present) {
    slot->context_mask.fetch_or(1u << device, std::memory_order_relaxed);
  } else {
    slot->context_mask.fetch_and(~(1u << device), std::memory_order_relaxed);
  }
}

namespace {
// The real driver returns a process's device memory when it exits; do the same
// at normal exit so the next query does not depend on reclaiming the corpse.
__attribute__((destructor)) void ReleaseOwnSlotAtExit() {
  Segment* seg = CurrentSegment();
  if (seg == nullptr) return;
  pid_t self = getpid();
  SegmentLock lock(seg);
  for (auto& slot : seg->processes) {
    if (slot.pid.load(std::memory_order_relaxed) != self) continue;
    for (auto& u : slot.used) u.store(0, std::memory_order_relaxed);
    slot.context_mask.store(0, std::memory_order_relaxed);
    slot.pid.store(0, std::memory_order_release);
  }
  RecomputeUsedLocked(seg);
}
}  // namespace

}  // namespace simgpu
