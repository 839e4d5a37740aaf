#include "shim/core/runtime.h"

#include <pthread.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

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

  std::string error;
  state_file_ = state::StateFile::Open(config_.state_dir, config_.container_id, &error);
  if (!state_file_) {
    TGS_LOG_ERROR("%s; CUDA is refused in this process rather than run unaccounted", error.c_str());
    return CUDA_ERROR_NOT_PERMITTED;
  }
  int count = 0;
  if (CallReal(real_.cuDeviceGetCount, &count) != CUDA_SUCCESS) count = 0;
  if (count > kMaxDevices) count = kMaxDevices;
  for (int i = 0; i < count; ++i) {
    CUdevice dev;
    CUuuid uuid;
    if (CallReal(real_.cuDeviceGet, &dev, i) != CUDA_SUCCESS ||
        CallReal(real_.cuDeviceGetUuid_v2, &uuid, dev) != CUDA_SUCCESS) {
      TGS_LOG_ERROR("cannot read the UUID of CUDA device %d; CUDA is refused in this process", i);
      return CUDA_ERROR_NOT_PERMITTED;
    }
    int gpu = state_file_->FindOrClaimGpu(reinterpret_cast<const uint8_t*>(uuid.bytes), config_.memory_limit_bytes);
    if (gpu < 0) {
      TGS_LOG_ERROR("the container state %s has no room for another GPU (max %d)", state_file_->path().c_str(),
                    state::kMaxGpus);
      return CUDA_ERROR_NOT_PERMITTED;
    }
    if (dev >= 0 && dev < kMaxDevices) device_gpu_[dev] = gpu;
  }
  device_count_ = count;
  if (ClaimSlotLocked() == nullptr) {
    TGS_LOG_ERROR("all %d process slots of %s are held by live processes", state::kMaxProcesses,
                  state_file_->path().c_str());
    return CUDA_ERROR_NOT_PERMITTED;
  }
  std::atexit(&Runtime::AtExit);
  TGS_LOG_DEBUG("container '%s' state %s, %d device(s), limit %llu bytes per GPU", config_.container_id.c_str(),
                state_file_->path().c_str(), count, static_cast<unsigned long long>(config_.memory_limit_bytes));
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
}

void Runtime::AtExit() {
  Runtime* rt = instance_.load(std::memory_order_acquire);
  if (rt == nullptr || !rt->attached_.load(std::memory_order_acquire)) return;
  state::ProcessSlot* slot = rt->slot_.exchange(nullptr, std::memory_order_acq_rel);
  // A forked child inherits this handler but not the parent's slot; the
  // slot's pid tells whose it is.
  if (slot != nullptr && slot->pid.load(std::memory_order_relaxed) == getpid()) {
    rt->state_file_->ReleaseProcessSlot(slot);
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
