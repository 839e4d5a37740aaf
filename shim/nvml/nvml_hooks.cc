// NVML's memory queries, answered with the container's virtual view (the
// same one cuMemGetInfo gives): total = the limit, used = the container's
// usage. nvidia-smi, pynvml and monitoring agents inside a container thus see
// a GPU of the container's size. The real library is loaded on first use.
#include <dlfcn.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>

#include "shim/control/controller_client.h"
#include "shim/core/config.h"
#include "shim/driver/library_search.h"
#include "shim/interpose/passthrough_table.h"
#include "shim/memory/memory_view.h"
#include "shim/nvml/nvml_abi.h"
#include "shim/state/state_file.h"
#include "shim/util/gpu_uuid.h"
#include "shim/util/log.h"

namespace tgs {
namespace {

struct RealNvml {
  void* handle = nullptr;
  nvmlReturn_t (*GetMemoryInfo)(nvmlDevice_t, nvmlMemory_t*) = nullptr;
  nvmlReturn_t (*GetMemoryInfo_v2)(nvmlDevice_t, nvmlMemory_v2_t*) = nullptr;
  nvmlReturn_t (*GetUUID)(nvmlDevice_t, char*, unsigned int) = nullptr;
  const char* (*ErrorString)(nvmlReturn_t) = nullptr;
};

class NvmlRuntime {
 public:
  static NvmlRuntime& Get() {
    static NvmlRuntime* rt = new NvmlRuntime();  // leaked: used during exit
    return *rt;
  }
  const RealNvml& real() const { return real_; }

  // Limit and usage of this container on the GPU with `uuid`.
  bool View(const uint8_t uuid[16], uint64_t* limit, uint64_t* used) {
    if (!config_.error.empty()) return false;
    std::call_once(state_once_, [this] {
      // The same state the CUDA side uses: the controller's when it runs
      // (a process such as nvidia-smi may never initialise CUDA), else local.
      control::Result reg = control::Register(config_.controller_socket, {}, config_.container_id, 2000);
      if (reg.outcome == control::Outcome::kRegistered) {
        state_ = std::move(reg.state);
        under_controller_ = true;
        return;
      }
      std::string error;
      state_ = state::StateFile::Open(config_.state_dir, config_.container_id, &error);
      if (!state_) TGS_LOG_WARN("NVML memory view without container accounting: %s", error.c_str());
    });
    *limit = under_controller_ ? 0 : config_.memory_limit_bytes;
    *used = 0;
    if (!state_) return *limit != 0;
    int gpu = state_->FindGpu(uuid);
    if (gpu >= 0) {
      state_->ReclaimDeadProcesses();
      uint64_t stored = state_->LimitBytes(gpu);
      if (stored != 0 && (*limit == 0 || stored < *limit)) *limit = stored;
      *used = state_->UsedBytes(gpu);
    }
    return *limit != 0;
  }

 private:
  NvmlRuntime() : config_(LoadShimConfig()) {
    LoadedLibrary lib = LoadRealLibrary("libnvidia-ml.so.1", config_.real_libnvml, "TGS_REAL_LIBNVML");
    if (lib.handle == nullptr) {
      TGS_LOG_ERROR("%s", lib.error.c_str());
      return;
    }
    real_.handle = lib.handle;
    real_.GetMemoryInfo = reinterpret_cast<decltype(real_.GetMemoryInfo)>(dlsym(lib.handle, "nvmlDeviceGetMemoryInfo"));
    real_.GetMemoryInfo_v2 =
        reinterpret_cast<decltype(real_.GetMemoryInfo_v2)>(dlsym(lib.handle, "nvmlDeviceGetMemoryInfo_v2"));
    real_.GetUUID = reinterpret_cast<decltype(real_.GetUUID)>(dlsym(lib.handle, "nvmlDeviceGetUUID"));
    real_.ErrorString = reinterpret_cast<decltype(real_.ErrorString)>(dlsym(lib.handle, "nvmlErrorString"));
    TGS_LOG_DEBUG("loaded real NVML %s", lib.path.c_str());
  }

  ShimConfig config_;
  RealNvml real_;
  std::once_flag state_once_;
  std::unique_ptr<state::StateFile> state_;
  bool under_controller_ = false;
};

// The container's limit and usage for `device`; false when unlimited (or the
// device cannot be identified), meaning the real answer stands.
bool ContainerView(nvmlDevice_t device, uint64_t* limit, uint64_t* used) {
  NvmlRuntime& rt = NvmlRuntime::Get();
  if (rt.real().GetUUID == nullptr) return false;
  char text[NVML_DEVICE_UUID_V2_BUFFER_SIZE];
  uint8_t uuid[16];
  if (rt.real().GetUUID(device, text, sizeof text) != NVML_SUCCESS || !ParseGpuUuid(text, uuid)) return false;
  return rt.View(uuid, limit, used);
}

}  // namespace

namespace nvml_hooks {

nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t* memory) {
  auto real = NvmlRuntime::Get().real().GetMemoryInfo;
  if (real == nullptr) return NVML_ERROR_FUNCTION_NOT_FOUND;
  nvmlReturn_t r = real(device, memory);
  uint64_t limit, used;
  if (r != NVML_SUCCESS || !ContainerView(device, &limit, &used)) return r;
  MemoryView view = VirtualMemoryView(memory->free, memory->total, limit, used);
  memory->total = view.total;
  memory->free = view.free;
  memory->used = used < view.total ? used : view.total;
  return r;
}

nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device, nvmlMemory_v2_t* memory) {
  auto real = NvmlRuntime::Get().real().GetMemoryInfo_v2;
  if (real == nullptr) return NVML_ERROR_FUNCTION_NOT_FOUND;
  nvmlReturn_t r = real(device, memory);
  uint64_t limit, used;
  if (r != NVML_SUCCESS || !ContainerView(device, &limit, &used)) return r;
  MemoryView view = VirtualMemoryView(memory->free, memory->total, limit, used);
  memory->total = view.total;
  memory->free = view.free;
  memory->reserved = 0;  // the driver's reservation is not the container's
  memory->used = used < view.total ? used : view.total;
  return r;
}

const char* nvmlErrorString(nvmlReturn_t result) {
  auto real = NvmlRuntime::Get().real().ErrorString;
  if (real != nullptr) return real(result);
  switch (result) {
    case NVML_SUCCESS: return "Success";
    case NVML_ERROR_LIBRARY_NOT_FOUND: return "NVML Shared Library Not Found (no real libnvidia-ml.so.1 behind the TGS shim)";
    case NVML_ERROR_FUNCTION_NOT_FOUND: return "Function Not Found";
    default: return "Unknown Error";
  }
}

}  // namespace nvml_hooks
}  // namespace tgs

extern "C" {
extern void* tgs_nvml_passthrough_table[];
extern const char* const tgs_nvml_passthrough_names[];
extern const uint32_t tgs_nvml_passthrough_count;

__attribute__((visibility("hidden"))) nvmlReturn_t tgs_nvml_symbol_missing() { return NVML_ERROR_FUNCTION_NOT_FOUND; }
__attribute__((visibility("hidden"))) nvmlReturn_t tgs_nvml_library_missing() { return NVML_ERROR_LIBRARY_NOT_FOUND; }

__attribute__((visibility("hidden"))) void* tgs_nvml_passthrough_resolve(uint32_t index) {
  static std::once_flag once;
  std::call_once(once, [] {
    tgs::FillPassthroughTable(tgs::NvmlRuntime::Get().real().handle, tgs_nvml_passthrough_table,
                              tgs_nvml_passthrough_names, tgs_nvml_passthrough_count,
                              reinterpret_cast<void*>(&tgs_nvml_symbol_missing),
                              reinterpret_cast<void*>(&tgs_nvml_library_missing));
  });
  return __atomic_load_n(&tgs_nvml_passthrough_table[index], __ATOMIC_ACQUIRE);
}
}
