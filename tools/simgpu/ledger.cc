#include "tools/simgpu/ledger.h"

#include <unistd.h>

#include <algorithm>

#include "tools/simgpu/clock.h"
#include "tools/simgpu/residency.h"
#include "tools/simgpu/segment.h"
#include "tools/simgpu/timeline.h"

namespace simgpu {

bool ChargeDevice(int device, uint64_t bytes) {
  Segment* seg = CurrentSegment();
  if (seg == nullptr || device < 0 || device >= seg->device_count) return false;
  ProcessSlot* slot = OwnSlot(seg);
  if (slot == nullptr) return false;
  DeviceState& d = seg->devices[device];
  uint64_t capacity = seg->memory_per_device;
  bool charged = false;
  int64_t evicted_until = 0;
  {
    SegmentLock lock(seg);
    for (int attempt = 0; attempt < 2 && !charged; ++attempt) {
      uint64_t used = d.used_bytes.load(std::memory_order_relaxed);
      uint64_t plain = used - std::min(used, d.managed_resident.load(std::memory_order_relaxed));
      bool fits_plain = bytes <= capacity && plain <= capacity - bytes;
      bool fits = fits_plain && used <= capacity - bytes;
      // Evict live processes' managed memory only after the dead have given
      // back theirs: reclaiming first may make the eviction unnecessary.
      if (fits || (fits_plain && attempt == 1)) {
        uint64_t written_back = fits ? 0 : MakeRoomLocked(seg, device, bytes);
        slot->plain[device].fetch_add(bytes, std::memory_order_relaxed);
        slot->used[device].fetch_add(bytes, std::memory_order_relaxed);
        d.used_bytes.fetch_add(bytes, std::memory_order_relaxed);
        if (written_back != 0) evicted_until = ReserveTransfer(device, NowNs(), TransferNs(written_back));
        charged = true;
      } else if (attempt == 0) {
        ReclaimDeadLocked(seg);
      }
    }
  }
  // The allocation returns once the evicted pages are out; never sleep holding the lock.
  if (evicted_until != 0) SleepUntilNs(evicted_until);
  return charged;
}

void CreditDevice(int device, uint64_t bytes) {
  Segment* seg = CurrentSegment();
  if (seg == nullptr || device < 0 || device >= seg->device_count || bytes == 0) return;
  ProcessSlot* slot = OwnSlot(seg);
  if (slot == nullptr) return;
  SegmentLock lock(seg);
  // Clamp rather than underflow: a wrapped counter would report petabytes free.
  uint64_t mine = slot->plain[device].load(std::memory_order_relaxed);
  uint64_t take = std::min(bytes, mine);
  slot->plain[device].store(mine - take, std::memory_order_relaxed);
  uint64_t used = slot->used[device].load(std::memory_order_relaxed);
  slot->used[device].store(used - std::min(take, used), std::memory_order_relaxed);
  uint64_t total = seg->devices[device].used_bytes.load(std::memory_order_relaxed);
  seg->devices[device].used_bytes.store(total - std::min(take, total), std::memory_order_relaxed);
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
  for (int i = 0; i < kMaxProcesses; ++i) {
    if (seg->processes[i].pid.load(std::memory_order_relaxed) != self) continue;
    ClearSlotLocked(seg, i);  // its managed ranges go with it
    seg->processes[i].pid.store(0, std::memory_order_release);
  }
  RecomputeUsedLocked(seg);
}
}  // namespace

}  // namespace simgpu
