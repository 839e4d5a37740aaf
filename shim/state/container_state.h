// The per-container state shared by every shimmed process of a container (and,
// from the controller issue on, by tgs-controller). THIS FILE IS THE LAYOUT:
// any change to the structs below bumps kLayoutVersion.
//
// One state file per container lives in TGS_STATE_DIR (default /dev/shm) as
// "tgs-container-<fnv1a64(container id) in hex>". It holds, per GPU (keyed by
// UUID, never by CUDA ordinal, which CUDA_VISIBLE_DEVICES remaps), the memory
// limit and the bytes in use, and per process a slot with that process's bytes
// and launch counters.
//
// Concurrency and crash safety:
// - `mutex` (process-shared, robust) guards every *write* of byte counts and
//   the claiming/releasing of process slots. It is taken only on allocation,
//   free and process start/exit paths, never on the kernel-launch path.
// - Invariant under `mutex`: gpu[g].used_bytes == sum over live slots of
//   slot.gpu[g].used_bytes. If a holder dies mid-update (EOWNERDEAD), the next
//   locker recomputes the GPU totals from the slots, which are the source of truth.
// - A process that dies without releasing its slot is noticed by pid +
//   start time (immune to pid reuse) when another process attaches or would
//   otherwise hit the limit, and its bytes are returned.
// - Launch counters are relaxed atomics in the owning process's slot, one
//   cache line per GPU, so the launch path is a plain atomic add.
#pragma once

#include <pthread.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <string>

#include "shim/util/process_start_time.h"

namespace tgs::state {

inline constexpr uint64_t kMagic = 0x5441545343534754ull;  // "TGSCSTAT" little-endian
inline constexpr uint32_t kLayoutVersion = 4;  // 2: launch gate fields; 3: yield counters; 4: residency
inline constexpr int kMaxGpus = 16;
inline constexpr int kMaxProcesses = 256;
inline constexpr int kMaxContainerIdLength = 255;

struct alignas(64) GpuEntry {
  std::atomic<uint32_t> claimed;  // 0 = free entry, 1 = uuid valid (set under mutex)
  uint8_t uuid[16];
  std::atomic<uint64_t> limit_bytes;  // 0 = unlimited; only ever lowered (see SetLimit)
  std::atomic<uint64_t> used_bytes;   // written under mutex; read lock-free for reports
  std::atomic<uint64_t> peak_bytes;
  std::atomic<uint64_t> oom_refusals;  // allocations refused at the limit
  // Counters of processes that have exited, so totals stay monotonic.
  std::atomic<uint64_t> retired_kernels;
  std::atomic<uint64_t> retired_blocks;

  // Launch gate of this container on this GPU (shim/launch/launch_gate.h),
  // on its own cache line: opportunistic launches of all the container's
  // processes update gate_tat_ns. Rates are in thousandths of a block per
  // second; 0 means the gate is open. tgs-controller writes both rates; the
  // shim uses the fallback while it has lost the controller.
  alignas(64) std::atomic<uint64_t> gate_rate_mblocks;
  std::atomic<uint64_t> gate_fallback_mblocks;
  std::atomic<int64_t> gate_tat_ns;  // GCRA theoretical arrival time (CLOCK_MONOTONIC)
  std::atomic<uint64_t> gate_waits;  // launches that had to wait
  std::atomic<uint64_t> gate_wait_ns;  // total time they waited
  // Launches that waited for production's work to finish (node_board.h),
  // and how long in total.
  std::atomic<uint64_t> gate_yields;
  std::atomic<uint64_t> gate_yield_ns;

  // Unified memory of an oversubscribing container (shim/memory/residency.h).
  // tgs-controller writes resident_budget_bytes: how much of the container's
  // managed memory may stay on this GPU, all its processes together
  // (kNoResidentBudget until it decides). Each process places its managed
  // ranges within its share (device-resident, oldest first) and the rest on
  // the host; per-process bytes are in ProcessGpuCounters, totals here.
  alignas(64) std::atomic<uint64_t> resident_budget_bytes;
  std::atomic<uint64_t> evicted_bytes_total;     // bytes the shim moved to the host
  std::atomic<uint64_t> prefetched_bytes_total;  // bytes the shim moved back to the GPU
  std::atomic<uint64_t> placements;              // times the placement was redone for a new budget
  std::atomic<uint64_t> device_fallbacks;        // allocations that could not be managed (kept as device memory)
};

inline constexpr uint64_t kNoResidentBudget = ~0ull;

struct alignas(64) ProcessGpuCounters {
  std::atomic<uint64_t> kernels;
  std::atomic<uint64_t> blocks;
  uint64_t used_bytes;  // under mutex
  // Written by the owning process only; zeroed with the slot.
  std::atomic<uint64_t> managed_bytes;          // of used_bytes, allocated as managed memory
  std::atomic<uint64_t> placed_resident_bytes;  // of managed_bytes, placed on the GPU
};

struct alignas(64) ProcessSlot {
  std::atomic<int32_t> pid;  // 0 = free
  uint64_t start_time;       // /proc/<pid>/stat field 22, to survive pid reuse
  ProcessGpuCounters gpu[kMaxGpus];
};

struct alignas(64) StateHeader {
  std::atomic<uint64_t> magic;  // written last (release) when initialisation completes
  uint32_t layout_version;
  uint32_t file_size;
  char container_id[kMaxContainerIdLength + 1];
  pthread_mutex_t mutex;
  std::atomic<uint64_t> reclaimed_processes;  // dead processes whose bytes were returned
};

struct ContainerState {
  StateHeader header;
  GpuEntry gpus[kMaxGpus];
  ProcessSlot processes[kMaxProcesses];
};

// File name of a container's state inside the state directory.
std::string StateFileName(const std::string& container_id);

// Identity of a live process that cannot be fooled by pid reuse.
using ::tgs::ProcessStartTime;

}  // namespace tgs::state
