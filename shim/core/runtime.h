// Process-wide shim state: configuration, the real driver, this process's
// container state and slot, and the map from CUDA device ordinals to the
// container's GPU entries (by UUID). Created on the first hooked call and
// never destroyed (hooks may run during exit).
#pragma once

#include <atomic>
#include <mutex>

#include "shim/control/controller_client.h"
#include "shim/core/config.h"
#include "shim/driver/real_cuda.h"
#include "shim/state/node_board.h"
#include "shim/state/state_file.h"

namespace tgs {

class Runtime {
 public:
  static Runtime& Get() {
    Runtime* rt = instance_.load(std::memory_order_acquire);
    return rt != nullptr ? *rt : CreateSlow();
  }

  const ShimConfig& config() const { return config_; }
  const RealCuda& real() const { return real_; }

  // What cuInit (and context creation) must return before touching the
  // driver: CUDA_SUCCESS, or the refusal for a bad configuration or a
  // missing driver. Logs the reason once.
  CUresult CheckUsable();

  // After the real cuInit succeeded: maps the container's state and this
  // process's slot and learns every device's UUID. Idempotent. Returns
  // CUDA_ERROR_NOT_PERMITTED (logged) if the accounting cannot be set up,
  // because running without it would run unlimited.
  CUresult AttachAccounting();

  // The container GPU entry for a device ordinal, or -1 (device unknown or
  // accounting not attached).
  int GpuForDevice(CUdevice device) const;
  // ... for the calling thread's current context; -1 without one.
  int GpuForCurrentContext() const;
  // ... for a stream (its context's device); stream 0 and the per-thread
  // default stream mean the current context.
  int GpuForStream(CUstream stream) const;

  state::StateFile* state_file() const { return state_file_.get(); }
  // Registered with tgs-controller (else the accounting is local).
  bool under_controller() const { return under_controller_; }
  const control::Welcome& policy() const { return policy_; }
  // This process's slot (claimed anew in a forked child); nullptr if the
  // accounting is not attached.
  state::ProcessSlot* process_slot();

  // The node board's entry for container GPU entry `gpu`; nullptr without a
  // controller (or for a GPU the controller did not put on the board).
  state::BoardGpu* board_gpu(int gpu) const { return gpu >= 0 && gpu < state::kMaxGpus ? board_gpu_[gpu] : nullptr; }
  // Production processes only: whether this process has launched on `gpu`
  // since its last synchronisation (see node_board.h).
  std::atomic<bool>* production_inflight(int gpu) {
    return board_gpu(gpu) != nullptr && policy_.kind == protocol::ClassKind::kProduction && under_controller_
               ? &production_inflight_[gpu]
               : nullptr;
  }
  // A synchronisation returned: this production process has nothing in
  // flight any more. Cheap when it had nothing in flight.
  void ProductionSynchronized();

  // Bumped in a forked child so per-thread caches start over.
  static uint32_t fork_generation() { return fork_generation_.load(std::memory_order_relaxed); }

 private:
  Runtime();
  static Runtime& CreateSlow();
  static void AtForkChild();
  static void AtExit();
  state::ProcessSlot* ClaimSlotLocked();

  static std::atomic<Runtime*> instance_;
  static std::atomic<uint32_t> fork_generation_;

  ShimConfig config_;
  RealCuda real_;
  std::string driver_error_;
  std::once_flag usable_logged_;

  static constexpr int kMaxDevices = 64;
  std::mutex attach_mu_;  // guards attaching the state, device map and slot claiming
  std::atomic<bool> attached_{false};
  std::unique_ptr<state::StateFile> state_file_;
  int device_gpu_[kMaxDevices];
  std::atomic<state::ProcessSlot*> slot_{nullptr};
  bool under_controller_ = false;  // written once under attach_mu_, before attached_
  control::Welcome policy_;
  std::unique_ptr<state::BoardFile> board_;
  state::BoardGpu* board_gpu_[state::kMaxGpus] = {};
  std::atomic<bool> production_inflight_[state::kMaxGpus] = {};
};

// Calls a real driver entry point, reporting CUDA_ERROR_NOT_FOUND when the
// loaded driver lacks it (an older driver) rather than jumping to null.
template <typename Fn, typename... Args>
inline CUresult CallReal(Fn fn, Args... args) {
  if (__builtin_expect(fn == nullptr, 0)) return CUDA_ERROR_NOT_FOUND;
  return fn(args...);
}

}  // namespace tgs
