// Transparent unified memory for oversubscribing containers (TGS's second
// mechanism). In a container whose policy says `oversubscribe` (opportunistic
// classes by default), cuMemAlloc becomes cuMemAllocManaged, so that the
// driver can evict the memory to the host when production needs the room
// instead of the job failing with out-of-memory. Production never gets
// managed memory: its allocations stay plain device memory, which the driver
// never evicts.
//
// The hard limit is unchanged (managed bytes count against it like any
// other). On top of it, tgs-controller writes a *resident budget* per
// container and GPU (container_state.h, GpuEntry::resident_budget_bytes):
// how much of its managed memory may stay on the GPU given production's
// current use. Each process places its ranges within its share of that
// budget, oldest first:
//   - inside the budget: accessed-by the GPU, no preferred location, and
//     prefetched back when they had been moved out;
//   - beyond it: preferred location host (+ accessed-by the GPU), and
//     prefetched to the host. The GPU then reads them over the bus instead
//     of faulting them in and evicting others — remote access is slower, but
//     it does not thrash.
// Placement is redone on the launch path of an opportunistic process when
// the budget moved (one relaxed load and a compare otherwise), with the
// prefetches queued on the launching stream, so they are ordered before the
// kernel that needs the memory.
//
// What managed memory cannot do stays plain device memory within the limit
// and is counted in GpuEntry::device_fallbacks: pitched allocations, stream-
// ordered pools (cuMemAllocAsync), VMM (cuMemCreate), CUDA arrays. CUDA IPC
// export of a managed range is refused (ipc_hooks.cc).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "shim/interpose/cuda_api.h"
#include "shim/state/container_state.h"

namespace tgs::residency {

// Whether this process's device allocations become managed memory: the
// controller said so in its Welcome. Without a controller nothing is
// oversubscribed: only the controller sees production's memory.
bool Enabled();

// cuMemAlloc in an oversubscribing container: managed memory on the current
// context's device (container GPU `gpu`), advised and placed as above.
CUresult AllocateManaged(int gpu, size_t bytes, CUdeviceptr* dptr);
// The application's own cuMemAllocManaged in an oversubscribing container:
// placed like the converted ones.
void Track(int gpu, CUdeviceptr ptr, size_t bytes);
// After a successful free: forgets the range (no-op for other pointers).
void Forget(CUdeviceptr ptr);
// Whether `ptr` lies in a managed range this shim placed.
bool IsManaged(CUdeviceptr ptr);

// An allocation of an oversubscribing container that had to stay device
// memory (`api` names the path, logged once per path).
void NoteDeviceFallback(int gpu, const char* api);

namespace internal {
extern std::atomic<uint32_t> ranges_on_gpu[state::kMaxGpus];
extern std::atomic<uint64_t> placed_for_budget[state::kMaxGpus];
void Replace(int gpu, state::GpuEntry& entry, CUstream stream);
}  // namespace internal

// Launch path of an opportunistic process: re-place this process's ranges
// on `gpu` when the container's budget changed since they were placed.
inline void OnLaunch(int gpu, state::GpuEntry& entry, CUstream stream) {
  if (__builtin_expect(internal::ranges_on_gpu[gpu].load(std::memory_order_relaxed) == 0, 1)) return;
  if (entry.resident_budget_bytes.load(std::memory_order_relaxed) !=
      internal::placed_for_budget[gpu].load(std::memory_order_relaxed)) {
    internal::Replace(gpu, entry, stream);
  }
}

}  // namespace tgs::residency
