#include "tools/simgpu/residency.h"

#include <algorithm>
#include <vector>

#include "shim/util/log.h"
#include "tools/simgpu/clock.h"
#include "tools/simgpu/cuda_api.h"
#include "tools/simgpu/timeline.h"

namespace simgpu {
namespace {

// The order in which advice makes ranges give way: ranges that would rather
// live elsewhere first, then ranges with no opinion, then ranges that asked
// for this device. Accessed-by does not protect: it is about mappings.
int EvictionClass(const ManagedRange& r) {
  if (r.preferred == kPreferHost) return 0;
  if (r.preferred == kPreferDevice && r.preferred_device != r.device) return 0;
  if (r.preferred == kPreferNone) return 1;
  return 2;
}

ManagedRange* Resolve(Segment* seg, const ManagedHandle& h) {
  if (h.index < 0 || h.index >= kMaxManagedRanges) return nullptr;
  ManagedRange& r = seg->managed[h.index];
  return r.owner != 0 && r.serial == h.serial ? &r : nullptr;
}

ProcessSlot& Owner(Segment* seg, const ManagedRange& r) { return seg->processes[r.owner - 1]; }

uint64_t RoomLocked(Segment* seg, int device) {
  uint64_t used = seg->devices[device].used_bytes.load(std::memory_order_relaxed);
  return used >= seg->memory_per_device ? 0 : seg->memory_per_device - used;
}

void AddResidentLocked(Segment* seg, ManagedRange& r, uint64_t bytes) {
  if (bytes == 0) return;
  r.resident += bytes;
  ProcessSlot& owner = Owner(seg, r);
  owner.used[r.device].fetch_add(bytes, std::memory_order_relaxed);
  owner.migrated_bytes[r.device].fetch_add(bytes, std::memory_order_relaxed);
  seg->devices[r.device].used_bytes.fetch_add(bytes, std::memory_order_relaxed);
  seg->devices[r.device].managed_resident.fetch_add(bytes, std::memory_order_relaxed);
}

// Clamped subtraction: after a recovery the derived counters are rebuilt, but
// a wrapped one in between would report petabytes in use.
void Subtract(std::atomic<uint64_t>& counter, uint64_t bytes) {
  uint64_t v = counter.load(std::memory_order_relaxed);
  counter.store(v - std::min(v, bytes), std::memory_order_relaxed);
}

void RemoveResidentLocked(Segment* seg, ManagedRange& r, uint64_t bytes, bool count_eviction) {
  bytes = std::min(bytes, r.resident);
  if (bytes == 0) return;
  r.resident -= bytes;
  ProcessSlot& owner = Owner(seg, r);
  Subtract(owner.used[r.device], bytes);
  if (count_eviction) owner.evicted_bytes[r.device].fetch_add(bytes, std::memory_order_relaxed);
  Subtract(seg->devices[r.device].used_bytes, bytes);
  Subtract(seg->devices[r.device].managed_resident, bytes);
}

// Bytes leaving the device cost a transfer unless they are read-mostly: those
// are duplicates of a host copy and are simply dropped.
uint64_t EvictFromLocked(Segment* seg, ManagedRange& r, uint64_t bytes) {
  bytes = std::min(bytes, r.resident);
  RemoveResidentLocked(seg, r, bytes, true);
  return r.read_mostly ? 0 : bytes;
}

uint64_t EvictLocked(Segment* seg, int device, uint64_t need, const std::vector<int32_t>& keep) {
  std::vector<ManagedRange*> victims;
  for (int32_t i = 0; i < kMaxManagedRanges; ++i) {
    ManagedRange& r = seg->managed[i];
    if (r.owner == 0 || r.device != device || r.resident == 0) continue;
    if (std::find(keep.begin(), keep.end(), i) != keep.end()) continue;
    victims.push_back(&r);
  }
  std::sort(victims.begin(), victims.end(), [](const ManagedRange* a, const ManagedRange* b) {
    int ca = EvictionClass(*a), cb = EvictionClass(*b);
    if (ca != cb) return ca < cb;
    if (a->last_access_ns != b->last_access_ns) return a->last_access_ns < b->last_access_ns;
    return a < b;
  });
  uint64_t written_back = 0;
  for (ManagedRange* r : victims) {
    if (need == 0) break;
    uint64_t take = std::min(need, r->resident);
    written_back += EvictFromLocked(seg, *r, take);
    need -= take;
  }
  return written_back;
}

// Makes as much of `want` resident in `r` as the device can hold after
// evicting everything not in `keep`; returns {bytes made resident, bytes
// written back by evictions}.
struct Fill {
  uint64_t gained = 0;
  uint64_t written_back = 0;
};
Fill FillLocked(Segment* seg, ManagedRange& r, uint64_t want, const std::vector<int32_t>& keep) {
  Fill f;
  uint64_t room = RoomLocked(seg, r.device);
  if (room < want) {
    f.written_back = EvictLocked(seg, r.device, want - room, keep);
    room = RoomLocked(seg, r.device);
  }
  f.gained = std::min(want, room);
  AddResidentLocked(seg, r, f.gained);
  return f;
}

int64_t Transfer(int device, int64_t earliest, uint64_t bytes) {
  if (bytes == 0) return earliest;
  return ReserveTransfer(device, earliest, TransferNs(bytes));
}

}  // namespace

bool CreateManagedRange(int device, uintptr_t base, uint64_t size, ManagedHandle* out) {
  Segment* seg = CurrentSegment();
  if (seg == nullptr || device < 0 || device >= seg->device_count) return false;
  int slot = OwnSlotIndex(seg);  // before locking: registration takes the lock itself
  if (slot < 0) return false;
  SegmentLock lock(seg);
  for (int attempt = 0; attempt < 2; ++attempt) {
    for (int k = 0; k < kMaxManagedRanges; ++k) {
      int32_t i = static_cast<int32_t>((seg->managed_cursor + k) % kMaxManagedRanges);
      ManagedRange& r = seg->managed[i];
      if (r.owner != 0) continue;
      r.device = device;
      r.serial = ++seg->managed_serial;
      r.base = base;
      r.size = size;
      r.resident = 0;
      r.last_access_ns = 0;
      r.accessed_by = 0;
      r.preferred = kPreferNone;
      r.read_mostly = 0;
      r.preferred_device = 0;
      r.last_prefetch = CU_DEVICE_INVALID;
      r.owner = slot + 1;  // last: the entry exists only once it is whole
      seg->managed_cursor = static_cast<uint32_t>(i + 1);
      *out = ManagedHandle{i, r.serial};
      return true;
    }
    if (attempt == 0) ReclaimDeadLocked(seg);
  }
  TGS_LOG_ERROR("managed range table full (%d ranges)", kMaxManagedRanges);
  return false;
}

void DropManagedRange(const ManagedHandle& h) {
  Segment* seg = CurrentSegment();
  if (seg == nullptr) return;
  SegmentLock lock(seg);
  ManagedRange* r = Resolve(seg, h);
  if (r == nullptr) return;
  RemoveResidentLocked(seg, *r, r->resident, false);
  r->owner = 0;
}

int64_t AccessManagedRanges(int device, const ManagedHandle* ranges, size_t count, int64_t earliest) {
  Segment* seg = CurrentSegment();
  if (seg == nullptr || count == 0) return earliest;
  SegmentLock lock(seg);
  // Everything this kernel touches stays put while it makes room for itself.
  std::vector<int32_t> touched;
  for (size_t i = 0; i < count; ++i) {
    ManagedRange* r = Resolve(seg, ranges[i]);
    if (r != nullptr && r->device == device) touched.push_back(ranges[i].index);
  }
  int64_t now = NowNs();
  uint64_t moved = 0;
  for (int32_t i : touched) {
    ManagedRange& r = seg->managed[i];
    r.last_access_ns = now;
    uint64_t missing = r.size - std::min(r.resident, r.size);
    if (missing == 0) continue;
    uint64_t remote = missing;
    if (r.preferred != kPreferHost) {
      Fill f = FillLocked(seg, r, missing, touched);
      moved += f.gained + f.written_back;
      remote = missing - f.gained;
    }
    Owner(seg, r).remote_bytes[device].fetch_add(remote, std::memory_order_relaxed);
    moved += remote;
  }
  // Reserved under the lock so transfers queue in the order they were decided.
  return Transfer(device, earliest, moved);
}

int64_t PrefetchManagedRange(const ManagedHandle& h, uint64_t bytes, int location, int64_t earliest) {
  Segment* seg = CurrentSegment();
  if (seg == nullptr) return earliest;
  SegmentLock lock(seg);
  ManagedRange* r = Resolve(seg, h);
  if (r == nullptr) return earliest;
  if (location == kHostLocation) return Transfer(r->device, earliest, EvictFromLocked(seg, *r, bytes));
  if (location != r->device) return earliest;
  r->last_access_ns = NowNs();
  uint64_t want = std::min(bytes, r->size - std::min(r->resident, r->size));
  Fill f = FillLocked(seg, *r, want, {h.index});
  return Transfer(r->device, earliest, f.gained + f.written_back);
}

bool EditManagedRange(const ManagedHandle& h, const std::function<void(ManagedRange&)>& edit) {
  Segment* seg = CurrentSegment();
  if (seg == nullptr) return false;
  SegmentLock lock(seg);
  ManagedRange* r = Resolve(seg, h);
  if (r == nullptr) return false;
  edit(*r);
  return true;
}

uint64_t MakeRoomLocked(Segment* seg, int device, uint64_t bytes) {
  uint64_t room = RoomLocked(seg, device);
  return room >= bytes ? 0 : EvictLocked(seg, device, bytes - room, {});
}

}  // namespace simgpu
