#include "tools/simgpu/timeline.h"

#include <algorithm>
#include <atomic>
#include <cmath>

#include "tools/simgpu/clock.h"
#include "tools/simgpu/segment.h"

namespace simgpu {

namespace {
// An MPS client limited to a share of the SMs runs on SMs of its own: its
// kernels neither wait for nor delay other clients' (the partitions of a
// node's clients are taken to be disjoint; kMaxDevices timelines per process).
std::atomic<int64_t> g_partition_busy_until[kMaxDevices];
}  // namespace

int64_t ReservePartitionKernel(int device, int64_t earliest, int64_t duration_ns) {
  std::atomic<int64_t>& busy = g_partition_busy_until[device];
  int64_t prev = busy.load(std::memory_order_acquire), start;
  do {
    start = std::max(earliest, prev);
  } while (!busy.compare_exchange_weak(prev, start + duration_ns, std::memory_order_acq_rel));
  CurrentSegment()->devices[device].kernels_executed.fetch_add(1, std::memory_order_relaxed);
  return start + duration_ns;
}

int64_t ReserveKernel(int device, int64_t earliest, int64_t duration_ns) {
  Segment* seg = CurrentSegment();
  DeviceState& d = seg->devices[device];
  int64_t now = earliest;
  int64_t prev = d.busy_until.load(std::memory_order_acquire);
  int64_t start;
  do {
    start = std::max(now, prev);
  } while (!d.busy_until.compare_exchange_weak(prev, start + duration_ns, std::memory_order_acq_rel));
  int64_t end = start + duration_ns;
  // Utilisation bookkeeping: back-to-back kernels extend the current run, a
  // gap opens a new one. Racing reservations can misattribute a few
  // microseconds to the wrong run, which a 1 s utilisation window absorbs.
  if (start > prev || d.run_seq.load(std::memory_order_relaxed) == 0) {
    uint64_t k = d.run_seq.fetch_add(1, std::memory_order_acq_rel) + 1;
    BusyRun& r = d.runs[k % kRunRing];
    r.end.store(end, std::memory_order_relaxed);
    r.start.store(start, std::memory_order_release);
  } else {
    uint64_t k = d.run_seq.load(std::memory_order_acquire);
    BusyRun& r = d.runs[k % kRunRing];
    int64_t cur = r.end.load(std::memory_order_relaxed);
    while (cur < end && !r.end.compare_exchange_weak(cur, end, std::memory_order_relaxed)) {
    }
  }
  d.kernels_executed.fetch_add(1, std::memory_order_relaxed);
  return end;
}

int64_t ReserveTransfer(int device, int64_t earliest, int64_t duration_ns) {
  DeviceState& d = CurrentSegment()->devices[device];
  int64_t prev = d.copy_busy_until.load(std::memory_order_acquire);
  int64_t start;
  do {
    start = std::max(earliest, prev);
  } while (!d.copy_busy_until.compare_exchange_weak(prev, start + duration_ns, std::memory_order_acq_rel));
  return start + duration_ns;
}

int64_t TransferNs(uint64_t bytes) {
  Segment* seg = CurrentSegment();
  if (bytes == 0 || seg == nullptr || seg->migration_bandwidth == 0) return 0;
  double seconds = static_cast<double>(bytes) / static_cast<double>(seg->migration_bandwidth);
  return static_cast<int64_t>(std::ceil(seconds * 1e9));
}

double DeviceUtilization(int device, int64_t window_ns) {
  Segment* seg = CurrentSegment();
  if (seg == nullptr || device < 0 || device >= seg->device_count || window_ns <= 0) return 0;
  DeviceState& d = seg->devices[device];
  int64_t now = NowNs();
  int64_t from = now - window_ns;
  uint64_t k = d.run_seq.load(std::memory_order_acquire);
  int64_t busy = 0;
  for (uint64_t i = 0; i < static_cast<uint64_t>(kRunRing) && i < k; ++i) {
    BusyRun& r = d.runs[(k - i) % kRunRing];
    int64_t s = r.start.load(std::memory_order_acquire);
    int64_t e = r.end.load(std::memory_order_relaxed);
    if (e <= from) break;  // runs are in time order: everything older is outside the window
    busy += std::max<int64_t>(0, std::min(e, now) - std::max(s, from));
  }
  return std::clamp(static_cast<double>(busy) / static_cast<double>(window_ns), 0.0, 1.0);
}

}  // namespace simgpu
