// Unified-memory residency: the managed-range table in the shared segment,
// which bytes of each range are resident on its device, eviction when the
// device is full, and what moving bytes over the host link costs.
//
// A range's resident bytes are a count, not a page set: eviction and prefetch
// take exactly the bytes needed (no 2 MiB granules), and a kernel accesses its
// whole allocation. Device usage stays derived from the process table (see
// segment.h): a process's `used` is its plain charges plus its resident bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>

#include "tools/simgpu/segment.h"

namespace simgpu {

// Names a ManagedRange as this process created it. The serial makes a handle
// to a dropped (and perhaps reused) entry stale instead of wrong: queued
// launches and graph nodes outlive the allocations they name.
struct ManagedHandle {
  int32_t index = -1;
  uint64_t serial = 0;
};

inline constexpr int kHostLocation = -1;

// Registers a range of this process on `device`; nothing becomes resident or
// is charged until it is touched. False when the table is full.
bool CreateManagedRange(int device, uintptr_t base, uint64_t size, ManagedHandle* out);
// Drops the range and credits its resident bytes. Stale handles are ignored.
void DropManagedRange(const ManagedHandle& h);

// A kernel on `device` touching `ranges` (stale ones and ranges on other
// devices are skipped). Missing bytes migrate in, evicting other ranges; a
// host-preferred range, and whatever cannot be made resident, is accessed
// remotely in place. Returns when those transfers end on the copy-engine
// timeline, `earliest` when nothing crosses the link.
int64_t AccessManagedRanges(int device, const ManagedHandle* ranges, size_t count, int64_t earliest);

// Moves up to `bytes` of the range to `location` (its device, or
// kHostLocation) and returns when the transfer ends; a prefetch to any other
// device moves nothing (ranges live on their allocation device).
int64_t PrefetchManagedRange(const ManagedHandle& h, uint64_t bytes, int location, int64_t earliest);

// Runs `edit` on the range under the segment lock (advice, attribute
// queries); false when the handle is stale.
bool EditManagedRange(const ManagedHandle& h, const std::function<void(ManagedRange&)>& edit);

// Evicts resident managed bytes on `device` until `bytes` more fit, in
// eviction order; returns how many bytes that writes back over the link.
// Lock held.
uint64_t MakeRoomLocked(Segment* seg, int device, uint64_t bytes);

}  // namespace simgpu
