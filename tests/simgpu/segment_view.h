// A read-only view of the simulator's shared segment, for asserting on what
// the CUDA API does not expose: which bytes of a managed range are resident
// and each process's unified-memory traffic counters.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <string>

#include "tests/simgpu/sim_env.h"
#include "tools/simgpu/segment.h"

namespace simtest {

// Valid once the segment exists (after cuInit).
inline const simgpu::Segment& SharedSegment() {
  static const simgpu::Segment* seg = [] {
    int fd = shm_open(("/" + SegmentName()).c_str(), O_RDONLY, 0);
    void* p = fd < 0 ? MAP_FAILED : mmap(nullptr, sizeof(simgpu::Segment), PROT_READ, MAP_SHARED, fd, 0);
    if (fd >= 0) close(fd);
    return p == MAP_FAILED ? nullptr : static_cast<const simgpu::Segment*>(p);
  }();
  return *seg;
}

inline const simgpu::ProcessSlot* SlotOf(pid_t pid) {
  for (const auto& slot : SharedSegment().processes) {
    if (slot.pid.load() == pid) return &slot;
  }
  return nullptr;
}

// The live range `pid` allocated at `base`, or nullptr.
inline const simgpu::ManagedRange* RangeAt(CUdeviceptr base, pid_t pid = getpid()) {
  const simgpu::Segment& seg = SharedSegment();
  for (const auto& r : seg.managed) {
    if (r.owner != 0 && r.base == base && seg.processes[r.owner - 1].pid.load() == pid) return &r;
  }
  return nullptr;
}

inline uint64_t Resident(CUdeviceptr base) {
  const simgpu::ManagedRange* r = RangeAt(base);
  return r == nullptr ? ~0ULL : r->resident;
}

inline int LiveRanges() {
  int n = 0;
  for (const auto& r : SharedSegment().managed) n += r.owner != 0 ? 1 : 0;
  return n;
}

struct Traffic {
  uint64_t migrated, evicted, remote;
};
inline Traffic TrafficOf(pid_t pid = getpid(), int device = 0) {
  const simgpu::ProcessSlot* s = SlotOf(pid);
  if (s == nullptr) return {0, 0, 0};
  return {s->migrated_bytes[device].load(), s->evicted_bytes[device].load(), s->remote_bytes[device].load()};
}

}  // namespace simtest
