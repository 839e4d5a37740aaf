// The simulated libnvidia-ml: reads the same shared device model as the
// simulated libcuda, so NVML and CUDA agree on UUIDs, memory and activity
// across all processes, as they do on a real machine.
#include <atomic>
#include <cstdio>
#include <cstring>

#include "shim/nvml/nvml_abi.h"
#include "shim/util/gpu_uuid.h"
#include "tools/simgpu/ledger.h"
#include "tools/simgpu/segment.h"
#include "tools/simgpu/timeline.h"

#define SIMGPU_NVML_EXPORT extern "C" __attribute__((visibility("default")))

struct nvmlDevice_st {
  int index;
};

namespace {

using simgpu::Segment;

nvmlDevice_st g_devices[simgpu::kMaxDevices] = {{0}, {1}, {2}, {3}, {4}, {5}, {6}, {7}};
std::atomic<int> g_init_count{0};

Segment* Seg() { return g_init_count.load(std::memory_order_acquire) > 0 ? simgpu::CurrentSegment() : nullptr; }

// Resolves a handle to its index, or -1.
int IndexOf(nvmlDevice_t device) {
  Segment* seg = Seg();
  if (seg == nullptr || device == nullptr) return -1;
  for (int i = 0; i < seg->device_count; ++i) {
    if (device == &g_devices[i]) return i;
  }
  return -1;
}

nvmlReturn_t CopyString(const char* text, char* out, unsigned int length) {
  if (out == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  if (std::strlen(text) + 1 > length) return NVML_ERROR_INSUFFICIENT_SIZE;
  std::memcpy(out, text, std::strlen(text) + 1);
  return NVML_SUCCESS;
}

bool Lost(int index) { return Seg()->devices[index].lost.load(std::memory_order_acquire) != 0; }

// Every per-device query starts here. A device that has fallen off the bus
// (DeviceState::lost) answers nothing but NVML_ERROR_GPU_IS_LOST, as NVIDIA's
// NVML does after an Xid 79, until it is restored.
#define SIMGPU_NVML_DEVICE(device, index)              \
  if (Seg() == nullptr) return NVML_ERROR_UNINITIALIZED; \
  int index = IndexOf(device);                          \
  if (index < 0) return NVML_ERROR_INVALID_ARGUMENT;    \
  if (Lost(index)) return NVML_ERROR_GPU_IS_LOST

}  // namespace

SIMGPU_NVML_EXPORT nvmlReturn_t nvmlInitWithFlags(unsigned int flags) {
  (void)flags;
  if (simgpu::AttachSegment() == nullptr) return NVML_ERROR_UNKNOWN;
  g_init_count.fetch_add(1, std::memory_order_acq_rel);
  return NVML_SUCCESS;
}

SIMGPU_NVML_EXPORT nvmlReturn_t nvmlInit_v2(void) { return nvmlInitWithFlags(0); }
SIMGPU_NVML_EXPORT nvmlReturn_t nvmlInit(void) { return nvmlInitWithFlags(0); }

SIMGPU_NVML_EXPORT nvmlReturn_t nvmlShutdown(void) {
  int n = g_init_count.load(std::memory_order_acquire);
  while (n > 0 && !g_init_count.compare_exchange_weak(n, n - 1, std::memory_order_acq_rel)) {
  }
  return n > 0 ? NVML_SUCCESS : NVML_ERROR_UNINITIALIZED;
}

SIMGPU_NVML_EXPORT const char* nvmlErrorString(nvmlReturn_t result) {
  switch (result) {
    case NVML_SUCCESS: return "Success";
    case NVML_ERROR_UNINITIALIZED: return "Uninitialized";
    case NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
    case NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
    case NVML_ERROR_NO_PERMISSION: return "Insufficient Permissions";
    case NVML_ERROR_NOT_FOUND: return "Not Found";
    case NVML_ERROR_INSUFFICIENT_SIZE: return "Insufficient Size";
    case NVML_ERROR_DRIVER_NOT_LOADED: return "Driver Not Loaded";
    case NVML_ERROR_GPU_IS_LOST: return "GPU is lost";
    case NVML_ERROR_ARGUMENT_VERSION_MISMATCH: return "Argument Version Mismatch";
    default: return "Unknown Error";
  }
}

SIMGPU_NVML_EXPORT nvmlReturn_t nvmlSystemGetDriverVersion(char* version, unsigned int length) {
  if (Seg() == nullptr) return NVML_ERROR_UNINITIALIZED;
  return CopyString("580.00-simgpu", version, length);
}

SIMGPU_NVML_EXPORT nvmlReturn_t nvmlSystemGetCudaDriverVersion(int* version) {
  if (version == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  *version = 13000;
  return NVML_SUCCESS;
}

SIMGPU_NVML_EXPORT nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int* count) {
  Segment* seg = Seg();
  if (seg == nullptr) return NVML_ERROR_UNINITIALIZED;
  if (count == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  *count = static_cast<unsigned>(seg->device_count);
  return NVML_SUCCESS;
}
SIMGPU_NVML_EXPORT nvmlReturn_t nvmlDeviceGetCount(unsigned int* count) { return nvmlDeviceGetCount_v2(count); }

SIMGPU_NVML_EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t* device) {
  Segment* seg = Seg();
  if (seg == nullptr) return NVML_ERROR_UNINITIALIZED;
  if (device == nullptr || index >= static_cast<unsigned>(seg->device_count)) return NVML_ERROR_INVALID_ARGUMENT;
  if (Lost(static_cast<int>(index))) return NVML_ERROR_GPU_IS_LOST;
  *device = &g_devices[index];
  return NVML_SUCCESS;
}
SIMGPU_NVML_EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned int index, nvmlDevice_t* device) {
  return nvmlDeviceGetHandleByIndex_v2(index, device);
}

SIMGPU_NVML_EXPORT nvmlReturn_t nvmlDeviceGetHandleByUUID(const char* uuid, nvmlDevice_t* device) {
  Segment* seg = Seg();
  if (seg == nullptr) return NVML_ERROR_UNINITIALIZED;
  if (uuid == nullptr || device == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  for (int i = 0; i < seg->device_count; ++i) {
    if (tgs::FormatGpuUuid(seg->devices[i].uuid) == uuid) {
      if (Lost(i)) return NVML_ERROR_GPU_IS_LOST;
      *device = &g_devices[i];
      return NVML_SUCCESS;
    }
  }
  return NVML_ERROR_NOT_FOUND;
}

SIMGPU_NVML_EXPORT nvmlReturn_t nvmlDeviceGetIndex(nvmlDevice_t device, unsigned int* index) {
  SIMGPU_NVML_DEVICE(device, i);
  if (index == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  *index = static_cast<unsigned>(i);
  return NVML_SUCCESS;
}

SIMGPU_NVML_EXPORT nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char* uuid, unsigned int length) {
  SIMGPU_NVML_DEVICE(device, i);
  return CopyString(tgs::FormatGpuUuid(Seg()->devices[i].uuid).c_str(), uuid, length);
}

// The N of /dev/nvidiaN. Not in shim/nvml/nvml_abi.h: the shim does not
// interpose it; the device plugin resolves it by name.
SIMGPU_NVML_EXPORT nvmlReturn_t nvmlDeviceGetMinorNumber(nvmlDevice_t device, unsigned int* minor) {
  SIMGPU_NVML_DEVICE(device, i);
  if (minor == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  *minor = static_cast<unsigned>(i);
  return NVML_SUCCESS;
}

SIMGPU_NVML_EXPORT nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char* name, unsigned int length) {
  SIMGPU_NVML_DEVICE(device, i);
  (void)i;
  return CopyString(Seg()->name, name, length);
}

SIMGPU_NVML_EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t* memory) {
  SIMGPU_NVML_DEVICE(device, i);
  if (memory == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  simgpu::DeviceMemory m = simgpu::QueryDeviceMemory(i);
  memory->total = m.total;
  memory->used = m.used;
  memory->free = m.free;
  return NVML_SUCCESS;
}

SIMGPU_NVML_EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device, nvmlMemory_v2_t* memory) {
  SIMGPU_NVML_DEVICE(device, i);
  if (memory == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  if (memory->version != nvmlMemory_v2) return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
  simgpu::DeviceMemory m = simgpu::QueryDeviceMemory(i);
  memory->total = m.total;
  memory->reserved = 0;  // no driver-reserved memory is modelled
  memory->used = m.used;
  memory->free = m.free;
  return NVML_SUCCESS;
}

SIMGPU_NVML_EXPORT nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device, nvmlUtilization_t* utilization) {
  SIMGPU_NVML_DEVICE(device, i);
  if (utilization == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  double busy = simgpu::DeviceUtilization(i, 1000000000LL);
  utilization->gpu = static_cast<unsigned>(busy * 100.0 + 0.5);
  utilization->memory = 0;  // memory traffic is not modelled
  return NVML_SUCCESS;
}

SIMGPU_NVML_EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device, unsigned int* count,
                                                                       nvmlProcessInfo_t* infos) {
  SIMGPU_NVML_DEVICE(device, i);
  if (count == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  Segment* seg = Seg();
  simgpu::ReclaimDead(seg);
  unsigned found = 0;
  unsigned capacity = infos == nullptr ? 0 : *count;
  for (auto& slot : seg->processes) {
    int pid = slot.pid.load(std::memory_order_acquire);
    if (pid == 0) continue;
    uint64_t used = slot.used[i].load(std::memory_order_relaxed);
    bool has_context = (slot.context_mask.load(std::memory_order_relaxed) & (1u << i)) != 0;
    if (used == 0 && !has_context) continue;
    if (found < capacity) {
      infos[found].pid = static_cast<unsigned>(pid);
      infos[found].usedGpuMemory = used;
      infos[found].gpuInstanceId = 0xFFFFFFFFu;
      infos[found].computeInstanceId = 0xFFFFFFFFu;
    }
    ++found;
  }
  bool fits = found <= capacity;
  *count = found;
  return fits ? NVML_SUCCESS : NVML_ERROR_INSUFFICIENT_SIZE;
}
