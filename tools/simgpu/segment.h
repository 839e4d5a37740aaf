// The machine-wide device model: one POSIX shared-memory segment that every
// process using the simulated driver (libcuda or NVML) maps. It holds the
// configuration chosen by whoever initialised it, per-device state (memory
// in use, the execution timeline) and a table of processes with their usage.
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
inline constexpr uint64_t kMagic = 0x7467732d73696d31ULL;  // "tgs-sim1"
inline constexpr uint32_t kLayoutVersion = 1;

// A maximal stretch of back-to-back kernel execution, for utilisation.
struct BusyRun {
  std::atomic<int64_t> start;
  std::atomic<int64_t> end;
};

struct DeviceState {
  uint8_t uuid[16];
  char pci_bus_id[16];  // "0000:41:00.0"
  int pci_bus;
  // Sum over the process table; guarded by Segment::lock (read lock-free).
  std::atomic<uint64_t> used_bytes;
  // Timeline: end of the last reserved kernel interval. CAS only (no lock),
  // so a process killed mid-reservation cannot wedge the device.
  std::atomic<int64_t> busy_until;
  std::atomic<uint64_t> run_seq;
  BusyRun runs[kRunRing];
  std::atomic<uint64_t> kernels_executed;
};

struct ProcessSlot {
  std::atomic<int32_t> pid;      // 0 = free; written under Segment::lock
  uint64_t start_time;           // /proc/<pid>/stat field 22, defeats pid reuse
  std::atomic<uint64_t> used[kMaxDevices];
  std::atomic<uint32_t> context_mask;  // devices on which it holds a context
};

struct Segment {
  std::atomic<uint64_t> magic;  // written last during initialisation
  uint32_t layout_version;
  uint32_t layout_size;
  pthread_mutex_t lock;  // guards the process table and used_bytes
  int device_count;
  int sm_count;
  uint64_t memory_per_device;
  char name[96];
  int64_t created_ns;
  DeviceState devices[kMaxDevices];
  ProcessSlot processes[kMaxProcesses];
};

struct SimConfig {
  int device_count = 1;
  uint64_t memory_per_device = 16ULL << 30;
  int sm_count = 132;
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

// Recomputes DeviceState::used_bytes from the process table. Lock held.
void RecomputeUsedLocked(Segment* seg);

// Frees the usage of processes that no longer exist (or are zombies). Lock held.
void ReclaimDeadLocked(Segment* seg);
void ReclaimDead(Segment* seg);

// This process's slot, registering it on first use; nullptr if the table is full.
ProcessSlot* OwnSlot(Segment* seg);

// Start time of `pid` from /proc, 0 when the process is gone or a zombie.
using ::tgs::ProcessStartTime;  // shim/util/process_start_time.h

}  // namespace simgpu
