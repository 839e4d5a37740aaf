// The machine-wide device model: one POSIX shared-memory segment that every
// process using the simulated driver (libcuda or NVML) maps. It holds the
// configuration chosen by whoever initialised it, per-device state (memory
// in use, the execution and copy-engine timelines), a table of processes with
// their usage and a table of managed (unified-memory) ranges with their
// residency.
//
// Crash safety: anything a process can be killed in the middle of is either a
// single atomic update or done under `lock`, a robust process-shared mutex
// whose EOWNERDEAD recovery recomputes every derived counter from the
// per-process table (the source of truth).
#pragma once

#include "shim/util/process_start_time.h"

#include <pthread.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <string>

namespace simgpu {

inline constexpr int kMaxDevices = 8;
inline constexpr int kMaxProcesses = 1024;
inline constexpr int kRunRing = 4096;
inline constexpr int kMaxManagedRanges = 8192;
inline constexpr uint64_t kMagic = 0x7467732d73696d31ULL;  // "tgs-sim1"
inline constexpr uint32_t kLayoutVersion = 4;  // 2: unified memory; 3: MPS; 4: lost devices

// A maximal stretch of back-to-back kernel execution, for utilisation.
struct BusyRun {
  std::atomic<int64_t> start;
  std::atomic<int64_t> end;
};

struct DeviceState {
  uint8_t uuid[16];
  char pci_bus_id[16];  // "0000:41:00.0"
  int pci_bus;
  // 1 while the device has "fallen off the bus" (tgs-simgpu-ctl lose): NVML
  // answers NVML_ERROR_GPU_IS_LOST for it and new CUDA contexts on it fail,
  // as after an Xid 79 on a real node. Cleared by `restore`.
  std::atomic<int32_t> lost;
  // Sum over the process table; guarded by Segment::lock (read lock-free).
  std::atomic<uint64_t> used_bytes;
  // The managed part of used_bytes (sum of ManagedRange::resident on this
  // device), so that "plain usage" is one subtraction; guarded by the lock.
  std::atomic<uint64_t> managed_resident;
  // Timeline: end of the last reserved kernel interval. CAS only (no lock),
  // so a process killed mid-reservation cannot wedge the device.
  std::atomic<int64_t> busy_until;
  // The copy engine (host link): end of the last reserved transfer. Separate
  // from busy_until so migrations never occupy the compute timeline.
  std::atomic<int64_t> copy_busy_until;
  std::atomic<uint64_t> run_seq;
  BusyRun runs[kRunRing];
  std::atomic<uint64_t> kernels_executed;
};

struct ProcessSlot {
  std::atomic<int32_t> pid;      // 0 = free; written under Segment::lock
  uint64_t start_time;           // /proc/<pid>/stat field 22, defeats pid reuse
  // plain[d] + this process's resident managed bytes on d: what NVML reports
  // per process and device totals sum. Derived; see RecomputeUsedLocked.
  std::atomic<uint64_t> used[kMaxDevices];
  std::atomic<uint32_t> context_mask;  // devices on which it holds a context
  // Everything charged at allocation (cuMemAlloc, pools, cuMemCreate, arrays).
  std::atomic<uint64_t> plain[kMaxDevices];
  // Cumulative unified-memory traffic of this process's ranges, per device.
  std::atomic<uint64_t> migrated_bytes[kMaxDevices];  // host -> device
  std::atomic<uint64_t> evicted_bytes[kMaxDevices];   // device -> host
  std::atomic<uint64_t> remote_bytes[kMaxDevices];    // accessed over the bus in place
};

enum ManagedPreference : int8_t { kPreferNone = 0, kPreferDevice = 1, kPreferHost = 2 };

// One cuMemAllocManaged allocation. Guarded by Segment::lock; `owner` is
// written last when a range is created and first when it is dropped, so a
// holder killed half-way leaves either a whole entry or a free one.
struct ManagedRange {
  int32_t owner;            // process slot index + 1; 0 = free
  int32_t device;           // the context's device at allocation
  uint64_t serial;          // unique per segment: tells a reused entry from the one a launch named
  uint64_t base;            // address in the owner's address space (diagnostics, tests)
  uint64_t size;
  uint64_t resident;        // bytes resident on `device` (a count, not pages)
  int64_t last_access_ns;   // device time of the last kernel access or prefetch
  uint32_t accessed_by;     // device mask (CU_MEM_ADVISE_SET_ACCESSED_BY)
  int8_t preferred;         // ManagedPreference
  int8_t read_mostly;
  int16_t preferred_device; // when preferred == kPreferDevice
  int32_t last_prefetch;    // CU_DEVICE_INVALID, CU_DEVICE_CPU or a device ordinal
};

struct Segment {
  std::atomic<uint64_t> magic;  // written last during initialisation
  uint32_t layout_version;
  uint32_t layout_size;
  pthread_mutex_t lock;  // guards the process and managed tables, used_bytes, managed_resident
  int device_count;
  int sm_count;
  uint64_t memory_per_device;
  uint64_t migration_bandwidth;  // bytes per second over the host link
  int mps;                       // 1: an MPS control daemon "runs" (TGS_SIM_MPS)
  char name[96];
  int64_t created_ns;
  uint64_t managed_serial;   // last ManagedRange::serial handed out; lock held
  uint32_t managed_cursor;   // where the next free-entry search starts; lock held
  DeviceState devices[kMaxDevices];
  ProcessSlot processes[kMaxProcesses];
  ManagedRange managed[kMaxManagedRanges];
};

struct SimConfig {
  int device_count = 1;
  uint64_t memory_per_device = 16ULL << 30;
  uint64_t migration_bandwidth = 24ULL << 30;
  int sm_count = 132;
  bool mps = false;
  std::string name = "TGS Simulated GPU";
};

// Reads TGS_SIM_*; on a bad value logs one line naming variable and value and
// returns false.
bool ReadConfig(SimConfig* config);

// Maps (creating if needed) the segment named by TGS_SIM_SHM. Idempotent and
// thread-safe; returns nullptr (after logging why) on failure.
Segment* AttachSegment();
// The attached segment or nullptr: for paths that have already attached.
Segment* CurrentSegment();
std::string SegmentName();

// RAII over Segment::lock with EOWNERDEAD recovery.
class SegmentLock {
 public:
  explicit SegmentLock(Segment* seg);
  ~SegmentLock();
  SegmentLock(const SegmentLock&) = delete;
  SegmentLock& operator=(const SegmentLock&) = delete;

 private:
  Segment* seg_;
};

// Recomputes every derived counter (ProcessSlot::used, DeviceState::used_bytes
// and managed_resident) from the primitive facts: each slot's plain charges
// and each managed range's resident bytes. Drops ranges whose owner slot is
// free. Lock held.
void RecomputeUsedLocked(Segment* seg);

// Frees the usage and managed ranges of processes that no longer exist (or
// are zombies). Lock held.
void ReclaimDeadLocked(Segment* seg);
void ReclaimDead(Segment* seg);

// Clears a slot's usage, counters and managed ranges (exit, death, reuse);
// the caller recomputes totals. Lock held.
void ClearSlotLocked(Segment* seg, int index);

// This process's slot, registering it on first use; nullptr if the table is full.
ProcessSlot* OwnSlot(Segment* seg);
// Index of OwnSlot in Segment::processes, -1 if none.
int OwnSlotIndex(Segment* seg);

// Start time of `pid` from /proc, 0 when the process is gone or a zombie.
using ::tgs::ProcessStartTime;  // shim/util/process_start_time.h

}  // namespace simgpu
