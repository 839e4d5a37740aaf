// Opens (creating if needed) a container's state file and performs the
// accounting operations on it. Every method that changes byte counts takes the
// state's robust mutex; nothing here is on the kernel-launch path.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "shim/state/container_state.h"

namespace tgs::state {

class StateFile {
 public:
  // Maps "<dir>/tgs-container-<hash>" for `container_id`, initialising it if
  // this process is first. nullptr with `*error` set if the file cannot be
  // created, has another layout version, or belongs to another container id.
  static std::unique_ptr<StateFile> Open(const std::string& dir, const std::string& container_id,
                                         std::string* error);
  // Maps a state file received as a descriptor (from tgs-controller), taking
  // ownership of `fd`. The file must already be initialised; nullptr with
  // `*error` if it is not a state file of this layout version.
  static std::unique_ptr<StateFile> Adopt(int fd, std::string* error);
  ~StateFile();
  StateFile(const StateFile&) = delete;
  StateFile& operator=(const StateFile&) = delete;

  ContainerState& state() { return *state_; }
  const std::string& path() const { return path_; }
  int fd() const { return fd_; }

  // Index of the entry for `uuid`, claiming a free one if needed; -1 when the
  // table is full. `limit_bytes` (0 = none) tightens the entry's limit: the
  // stricter of the stored and the given limit wins, so a process started
  // without the variable (env -i) cannot loosen what its container was given.
  int FindOrClaimGpu(const uint8_t uuid[16], uint64_t limit_bytes);
  // Sets the limit of entry `gpu` as given (0 = none), raising or lowering:
  // for tgs-controller, whose policy is authoritative.
  void SetGpuLimit(int gpu, uint64_t limit_bytes);
  // Lock-free lookup; -1 if the GPU was never used by this container.
  int FindGpu(const uint8_t uuid[16]) const;

  // A slot for this process, reclaiming dead processes first; nullptr when all
  // kMaxProcesses slots are taken by live processes.
  ProcessSlot* ClaimProcessSlot(pid_t pid, uint64_t start_time);
  // Returns the slot's bytes to its GPUs and frees it (normal process exit).
  void ReleaseProcessSlot(ProcessSlot* slot);
  // The same for slot number `index`, only if it still belongs to the process
  // that started at `start_time` (tgs-controller, when that process's
  // connection closes). Returns whether it was released.
  bool ReleaseProcessSlotIfOwned(int index, uint64_t start_time);
  int SlotIndex(const ProcessSlot* slot) const { return static_cast<int>(slot - state_->processes); }

  // Charges `bytes` on `gpu` to `slot` if the container stays within its
  // limit; false (and counts a refusal) otherwise. Reclaims dead processes
  // and retries once before refusing.
  bool Reserve(ProcessSlot* slot, int gpu, uint64_t bytes);
  void Release(ProcessSlot* slot, int gpu, uint64_t bytes);

  // Returns the bytes of processes that died without releasing their slot.
  // Returns how many were reclaimed.
  int ReclaimDeadProcesses();

  uint64_t UsedBytes(int gpu) const { return state_->gpus[gpu].used_bytes.load(std::memory_order_relaxed); }
  uint64_t LimitBytes(int gpu) const { return state_->gpus[gpu].limit_bytes.load(std::memory_order_relaxed); }

 private:
  class Lock;
  StateFile(std::string path, int fd, ContainerState* state);
  bool TryReserveLocked(ProcessSlot* slot, int gpu, uint64_t bytes);
  int ReclaimDeadLocked();
  void ReleaseSlotLocked(ProcessSlot* slot);
  void RepairAfterOwnerDeath();

  std::string path_;
  int fd_;
  ContainerState* state_;
};

}  // namespace tgs::state
