#include "shim/core/runtime.h"

#include <pthread.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "shim/driver/library_search.h"
#include "shim/util/log.h"

namespace tgs {

std::atomic<Runtime*> Runtime::instance_{nullptr};
std::atomic<uint32_t> Runtime::fork_generation_{0};

Runtime& Runtime::CreateSlow() {
  static std::once_flag once;
  std::call_once(once, [] {
    // Intentionally leaked: hooks can still run from other threads or atexit
    // handlers while static destructors run.
    auto* rt = new Runtime();
    pthread_atfork(nullptr, nullptr, &Runtime::AtForkChild);
    instance_.store(rt, std::memory_order_release);
  });
  return *instance_.load(std::memory_order_acquire);
}

Runtime::Runtime() : config_(LoadShimConfig()) {
  std::fill(std::begin(device_gpu_), std::end(device_gpu_), -1);
  LoadedLibrary lib = LoadRealLibrary("libcuda.so.1", config_.real_libcuda, "TGS_REAL_LIBCUDA");
  if (lib.handle == nullptr) {
    driver_error_ = lib.error;
    return;
  }
  ResolveRealCuda(lib.handle, &real_);
  real_.path = lib.path;
  TGS_LOG_DEBUG("loaded real driver %s", lib.path.c_str());
}

CUresult Runtime::CheckUsable() {
  CUresult status = CUDA_SUCCESS;
  if (!config_.error.empty()) {
    status = CUDA_ERROR_NOT_PERMITTED;
  } else if (real_.handle == nullptr) {
    status = CUDA_ERROR_NO_DEVICE;
  }
  if (status != CUDA_SUCCESS) {
    std::call_once(usable_logged_, [&] {
      if (!config_.error.empty()) {
        TGS_LOG_ERROR("%s; CUDA is refused in this process rather than run without its limit", config_.error.c_str());
      } else {
        TGS_LOG_ERROR("%s", driver_error_.c_str());
      }
    });
  }
  return status;
}

CUresult Runtime::AttachAccounting() {
  if (attached_.load(std::memory_order_acquire)) return CUDA_SUCCESS;
  std::lock_guard<std::mutex> lock(attach_mu_);
  if (attached_.load(std::memory_order_relaxed)) return CUDA_SUCCESS;

  // The devices this process sees, by UUID (CUDA ordinals are remapped by
  // CUDA_VISIBLE_DEVICES; UUIDs are not).
  int count = 0;
  if (CallReal(real_.cuDeviceGetCount, &count) != CUDA_SUCCESS) count = 0;
  if (count > kMaxDevices) count = kMaxDevices;
  std::vector<std::array<uint8_t, 16>> uuids(count);
  std::vector<CUdevice> devices(count);
  for (int i = 0; i < count; ++i) {
    CUuuid uuid;
    if (CallReal(real_.cuDeviceGet, &devices[i], i) != CUDA_SUCCESS ||
        CallReal(real_.cuDeviceGetUuid_v2, &uuid, devices[i]) != CUDA_SUCCESS) {
      TGS_LOG_ERROR("cannot read the UUID of CUDA device %d; CUDA is refused in this process", i);
      return CUDA_ERROR_NOT_PERMITTED;
    }
    std::memcpy(uuids[i].data(), uuid.bytes, 16);
  }

  // The controller's policy and state file when it is there; the local state
  // file of TGS_CONTAINER_ID (or the cgroup) and TGS_MEMORY_LIMIT otherwise.
  uint64_t env_limit = config_.memory_limit_bytes;
  control::Result reg = control::Register(config_.controller_socket, uuids, config_.container_id, 2000);
  if (reg.outcome == control::Outcome::kRejected) {
    TGS_LOG_ERROR("%s", reg.message.c_str());
    return static_cast<CUresult>(reg.reject_code != 0 ? reg.reject_code : CUDA_ERROR_NOT_PERMITTED);
  }
  if (reg.outcome == control::Outcome::kRegistered) {
    state_file_ = std::move(reg.state);
    board_ = std::move(reg.board);
    policy_ = reg.welcome;
    under_controller_ = true;
    env_limit = 0;  // the controller's policy is authoritative
    if (config_.memory_limit_bytes != 0) {
      TGS_LOG_INFO("TGS_MEMORY_LIMIT is ignored: tgs-controller sets this container's limit");
    }
    TGS_LOG_DEBUG("registered with tgs-controller: container '%s', class %s", policy_.container_key.c_str(),
                  policy_.class_name.c_str());
  } else {
    if (reg.outcome == control::Outcome::kFailed) {
      TGS_LOG_WARN("%s; accounting locally", reg.message.c_str());
    } else {
      TGS_LOG_DEBUG("%s", reg.message.c_str());
    }
    std::string error;
    state_file_ = state::StateFile::Open(config_.state_dir, config_.container_id, &error);
    if (!state_file_) {
      TGS_LOG_ERROR("%s; CUDA is refused in this process rather than run unaccounted", error.c_str());
      return CUDA_ERROR_NOT_PERMITTED;
    }
  }

  for (int i = 0; i < count; ++i) {
    int gpu = state_file_->FindOrClaimGpu(uuids[i].data(), env_limit);
    if (gpu < 0) {
      TGS_LOG_ERROR("the container state %s has no room for another GPU (max %d)", state_file_->path().c_str(),
                    state::kMaxGpus);
      return CUDA_ERROR_NOT_PERMITTED;
    }
    if (devices[i] >= 0 && devices[i] < kMaxDevices) device_gpu_[devices[i]] = gpu;
    if (board_ != nullptr) {
      int b = board_->FindGpu(uuids[i].data());
      board_gpu_[gpu] = b >= 0 ? &board_->board().gpus[b] : nullptr;
      size_t total = 0;
      if (b >= 0 && CallReal(real_.cuDeviceTotalMem_v2, &total, devices[i]) == CUDA_SUCCESS && total != 0) {
        board_gpu_[gpu]->total_memory_bytes.store(total, std::memory_order_relaxed);
      }
    }
  }
  state::ProcessSlot* slot = ClaimSlotLocked();
  if (slot == nullptr) {
    TGS_LOG_ERROR("all %d process slots of %s are held by live processes", state::kMaxProcesses,
                  state_file_->path().c_str());
    return CUDA_ERROR_NOT_PERMITTED;
  }
  if (under_controller_) {
    control::CompleteRegistration(config_.controller_socket, uuids, config_.container_id,
                                  state_file_->SlotIndex(slot), slot->start_time, *state_file_, board_.get());
  }
  std::atexit(&Runtime::AtExit);
  TGS_LOG_DEBUG("container state %s, %d device(s), limit %llu bytes per GPU", state_file_->path().c_str(), count,
                static_cast<unsigned long long>(count > 0 ? state_file_->LimitBytes(device_gpu_[devices[0]]) : 0));
  attached_.store(true, std::memory_order_release);
  return CUDA_SUCCESS;
}

state::ProcessSlot* Runtime::ClaimSlotLocked() {
  state::ProcessSlot* slot = state_file_->ClaimProcessSlot(getpid(), state::ProcessStartTime(getpid()));
  slot_.store(slot, std::memory_order_release);
  return slot;
}

state::ProcessSlot* Runtime::process_slot() {
  state::ProcessSlot* slot = slot_.load(std::memory_order_acquire);
  if (__builtin_expect(slot != nullptr, 1) || !attached_.load(std::memory_order_acquire)) return slot;
  // Only a forked child gets here: the parent's slot is not its own.
  std::lock_guard<std::mutex> lock(attach_mu_);
  slot = slot_.load(std::memory_order_relaxed);
  return slot != nullptr ? slot : ClaimSlotLocked();
}

void Runtime::AtForkChild() {
  Runtime* rt = instance_.load(std::memory_order_relaxed);
  fork_generation_.fetch_add(1, std::memory_order_relaxed);
  if (rt == nullptr) return;
  // The parent's mutex may have been held by another thread at fork time.
  new (&rt->attach_mu_) std::mutex();
  rt->slot_.store(nullptr, std::memory_order_relaxed);
  // The parent's work in flight is the parent's to clear.
  for (auto& f : rt->production_inflight_) f.store(false, std::memory_order_relaxed);
  // The parent's connection must close when the parent exits, not linger in
  // the child. The child accounts in the same state file; its slot is
  // reclaimed by liveness if it dies.
  control::ForgetConnectionInChild();
}

void Runtime::AtExit() {
  Runtime* rt = instance_.load(std::memory_order_acquire);
  if (rt == nullptr || !rt->attached_.load(std::memory_order_acquire)) return;
  rt->ProductionSynchronized();  // an exiting process has nothing left to wait for
  state::ProcessSlot* slot = rt->slot_.exchange(nullptr, std::memory_order_acq_rel);
  // A forked child inherits this handler but not the parent's slot; the
  // slot's pid tells whose it is.
  if (slot != nullptr && slot->pid.load(std::memory_order_relaxed) == getpid()) {
    rt->state_file_->ReleaseProcessSlot(slot);
  }
}

void Runtime::ProductionSynchronized() {
  if (!attached_.load(std::memory_order_acquire) || board_ == nullptr) return;
  for (int g = 0; g < state::kMaxGpus; ++g) {
    if (production_inflight_[g].load(std::memory_order_relaxed) &&
        production_inflight_[g].exchange(false, std::memory_order_acq_rel) && board_gpu_[g] != nullptr) {
      board_gpu_[g]->production_inflight.fetch_sub(1, std::memory_order_release);
    }
  }
}

int Runtime::GpuForDevice(CUdevice device) const {
  if (device < 0 || device >= kMaxDevices || !attached_.load(std::memory_order_acquire)) return -1;
  return device_gpu_[device];
}

int Runtime::GpuForCurrentContext() const {
  CUdevice dev;
  if (CallReal(real_.cuCtxGetDevice, &dev) != CUDA_SUCCESS) return -1;
  return GpuForDevice(dev);
}

int Runtime::GpuForStream(CUstream stream) const {
  if (stream == nullptr || stream == CU_STREAM_LEGACY || stream == CU_STREAM_PER_THREAD) {
    return GpuForCurrentContext();
  }
  CUdevice dev;
  if (real_.cuStreamGetDevice != nullptr && real_.cuStreamGetDevice(stream, &dev) == CUDA_SUCCESS) {
    return GpuForDevice(dev);
  }
  // Drivers before CUDA 12.8 lack cuStreamGetDevice: go through the context.
  CUcontext ctx = nullptr;
  if (CallReal(real_.cuStreamGetCtx, stream, &ctx) != CUDA_SUCCESS || ctx == nullptr) return GpuForCurrentContext();
  CUcontext current = nullptr;
  CallReal(real_.cuCtxGetCurrent, &current);
  if (current == ctx) return GpuForCurrentContext();
  // Ask the stream's own context for its device without disturbing the
  // caller's context stack.
  if (CallReal(real_.cuCtxPushCurrent_v2, ctx) != CUDA_SUCCESS) return GpuForCurrentContext();
  int gpu = GpuForCurrentContext();
  CUcontext popped;
  CallReal(real_.cuCtxPopCurrent_v2, &popped);
  return gpu;
}

}  // namespace tgs
