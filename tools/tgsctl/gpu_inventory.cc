#include "tools/tgsctl/gpu_inventory.h"

#include <dlfcn.h>

namespace tgs::tgsctl {
namespace {

// The few NVML declarations needed, from NVIDIA's public NVML reference
// (Debian ships no nvml.h).
using NvmlReturn = int;
using NvmlDevice = struct NvmlDeviceOpaque*;
constexpr NvmlReturn kNvmlSuccess = 0;
constexpr unsigned kNvmlUuidBufferSize = 96;  // NVML_DEVICE_UUID_V2_BUFFER_SIZE

struct Nvml {
  NvmlReturn (*init)() = nullptr;
  NvmlReturn (*shutdown)() = nullptr;
  NvmlReturn (*count)(unsigned*) = nullptr;
  NvmlReturn (*handle_by_index)(unsigned, NvmlDevice*) = nullptr;
  NvmlReturn (*uuid)(NvmlDevice, char*, unsigned) = nullptr;
  NvmlReturn (*minor)(NvmlDevice, unsigned*) = nullptr;  // optional
  const char* (*error_string)(NvmlReturn) = nullptr;     // optional

  std::string Describe(const char* call, NvmlReturn rc) const {
    std::string text = error_string != nullptr ? error_string(rc) : "";
    return std::string(call) + " returned " + std::to_string(rc) + (text.empty() ? "" : " (" + text + ")");
  }
};

template <typename Fn>
bool Bind(void* handle, const char* name, Fn* out) {
  *out = reinterpret_cast<Fn>(dlsym(handle, name));
  return *out != nullptr;
}

}  // namespace

std::optional<GpuInventory> ReadGpuInventory(const std::string& nvml_library, std::string* error) {
  void* handle = dlopen(nvml_library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    *error = "cannot load NVML from " + nvml_library + ": " + (why ? why : "dlopen failed");
    return std::nullopt;
  }
  // NVML stays loaded: unloading a driver library at exit gains nothing and
  // some versions misbehave when unloaded.
  Nvml nvml;
  const char* missing = nullptr;
  if (!Bind(handle, "nvmlInit_v2", &nvml.init)) missing = "nvmlInit_v2";
  if (!Bind(handle, "nvmlShutdown", &nvml.shutdown)) missing = "nvmlShutdown";
  if (!Bind(handle, "nvmlDeviceGetCount_v2", &nvml.count)) missing = "nvmlDeviceGetCount_v2";
  if (!Bind(handle, "nvmlDeviceGetHandleByIndex_v2", &nvml.handle_by_index)) missing = "nvmlDeviceGetHandleByIndex_v2";
  if (!Bind(handle, "nvmlDeviceGetUUID", &nvml.uuid)) missing = "nvmlDeviceGetUUID";
  if (missing != nullptr) {
    *error = nvml_library + " is not NVML: it has no " + missing;
    return std::nullopt;
  }
  Bind(handle, "nvmlDeviceGetMinorNumber", &nvml.minor);
  Bind(handle, "nvmlErrorString", &nvml.error_string);

  if (NvmlReturn rc = nvml.init(); rc != kNvmlSuccess) {
    *error = nvml_library + ": " + nvml.Describe("nvmlInit_v2", rc);
    return std::nullopt;
  }
  GpuInventory inventory;
  unsigned count = 0;
  if (NvmlReturn rc = nvml.count(&count); rc != kNvmlSuccess) {
    *error = nvml_library + ": " + nvml.Describe("nvmlDeviceGetCount_v2", rc);
    nvml.shutdown();
    return std::nullopt;
  }
  for (unsigned i = 0; i < count; ++i) {
    NvmlDevice device = nullptr;
    char uuid[kNvmlUuidBufferSize] = {};
    const char* call = "nvmlDeviceGetHandleByIndex_v2";
    NvmlReturn rc = nvml.handle_by_index(i, &device);
    if (rc == kNvmlSuccess) {
      call = "nvmlDeviceGetUUID";
      rc = nvml.uuid(device, uuid, sizeof uuid);
    }
    if (rc != kNvmlSuccess) {
      // One unusable GPU (fallen off the bus) must not hide the others.
      inventory.notes.push_back("GPU " + std::to_string(i) + " left out: " + nvml.Describe(call, rc));
      continue;
    }
    GpuInfo gpu{i, uuid, std::nullopt};
    unsigned minor = 0;
    if (nvml.minor == nullptr) {
      inventory.notes.push_back("GPU " + std::to_string(i) + ": " + nvml_library +
                                " has no nvmlDeviceGetMinorNumber; no /dev/nvidia<minor> node for it");
    } else if (NvmlReturn m = nvml.minor(device, &minor); m != kNvmlSuccess) {
      inventory.notes.push_back("GPU " + std::to_string(i) + ": " + nvml.Describe("nvmlDeviceGetMinorNumber", m) +
                                "; no /dev/nvidia<minor> node for it");
    } else {
      gpu.minor = minor;
    }
    inventory.gpus.push_back(std::move(gpu));
  }
  nvml.shutdown();
  return inventory;
}

}  // namespace tgs::tgsctl
