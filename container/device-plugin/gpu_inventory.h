// The node's GPUs as NVML reports them, loaded with dlopen so the plugin
// starts (and says why) on a node whose driver is missing, and so tests can
// point it at the simulated driver (--nvml).
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "container/device-plugin/resource_model.h"
#include "shim/nvml/nvml_abi.h"

namespace tgs::device_plugin {

class GpuInventory {
 public:
  // dlopens `library` (a name the loader resolves, or a path) and runs
  // nvmlInit_v2. Refuses a TGS shim library: the plugin must see the real
  // device. nullptr with *error on failure.
  static std::unique_ptr<GpuInventory> Open(const std::string& library, std::string* error);
  ~GpuInventory();
  GpuInventory(const GpuInventory&) = delete;
  GpuInventory& operator=(const GpuInventory&) = delete;

  // Every GPU that answers: UUID, memory, minor number. One that does not is
  // left out, with why in *left_out (the device list is fixed at start: it
  // comes back when the plugin restarts), so one dead GPU does not take the
  // node's others out of service. Fails only if NVML cannot count GPUs.
  std::optional<std::vector<Gpu>> Discover(std::vector<std::string>* left_out, std::string* error);

  // Empty when the GPU answers (a handle by UUID, then its memory info);
  // otherwise why not, e.g. "nvmlDeviceGetMemoryInfo: GPU is lost".
  std::string Probe(const std::string& uuid);

  const std::string& path() const { return path_; }

 private:
  GpuInventory() = default;
  std::string Describe(const char* call, nvmlReturn_t rc) const;

  void* handle_ = nullptr;
  std::string path_;
  std::mutex mu_;  // NVML is thread-safe; this keeps probe and allocate checks in order in the logs

  nvmlReturn_t (*init_)() = nullptr;
  nvmlReturn_t (*shutdown_)() = nullptr;
  const char* (*error_string_)(nvmlReturn_t) = nullptr;
  nvmlReturn_t (*count_)(unsigned*) = nullptr;
  nvmlReturn_t (*by_index_)(unsigned, nvmlDevice_t*) = nullptr;
  nvmlReturn_t (*by_uuid_)(const char*, nvmlDevice_t*) = nullptr;
  nvmlReturn_t (*uuid_)(nvmlDevice_t, char*, unsigned) = nullptr;
  nvmlReturn_t (*memory_)(nvmlDevice_t, nvmlMemory_t*) = nullptr;
  nvmlReturn_t (*minor_)(nvmlDevice_t, unsigned*) = nullptr;  // optional
};

}  // namespace tgs::device_plugin
