#include "container/device-plugin/gpu_inventory.h"

#include <dlfcn.h>
#include <link.h>

#include "shim/util/log.h"

namespace tgs::device_plugin {
namespace {

template <typename Fn>
bool Resolve(void* handle, const char* name, Fn* out, std::string* missing) {
  *out = reinterpret_cast<Fn>(dlsym(handle, name));
  if (*out == nullptr && missing != nullptr) *missing += std::string(missing->empty() ? "" : ", ") + name;
  return *out != nullptr;
}

}  // namespace

std::unique_ptr<GpuInventory> GpuInventory::Open(const std::string& library, std::string* error) {
  std::unique_ptr<GpuInventory> inv(new GpuInventory());
  inv->handle_ = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (inv->handle_ == nullptr) {
    const char* why = dlerror();
    *error = "cannot load NVML '" + library + "': " + (why ? why : "dlopen failed");
    return nullptr;
  }
  inv->path_ = library;
  if (link_map* map = nullptr; dlinfo(inv->handle_, RTLD_DI_LINKMAP, &map) == 0 && map && map->l_name) {
    if (*map->l_name != '\0') inv->path_ = map->l_name;
  }
  if (dlsym(inv->handle_, "tgs_shim_identity") != nullptr) {
    *error = "NVML '" + library + "' resolves to " + inv->path_ +
             ", a TGS shim, not the driver; pass the driver's libnvidia-ml.so.1 with --nvml";
    return nullptr;
  }
  std::string missing;
  Resolve(inv->handle_, "nvmlInit_v2", &inv->init_, &missing);
  Resolve(inv->handle_, "nvmlShutdown", &inv->shutdown_, &missing);
  Resolve(inv->handle_, "nvmlErrorString", &inv->error_string_, &missing);
  Resolve(inv->handle_, "nvmlDeviceGetCount_v2", &inv->count_, &missing);
  Resolve(inv->handle_, "nvmlDeviceGetHandleByIndex_v2", &inv->by_index_, &missing);
  Resolve(inv->handle_, "nvmlDeviceGetHandleByUUID", &inv->by_uuid_, &missing);
  Resolve(inv->handle_, "nvmlDeviceGetUUID", &inv->uuid_, &missing);
  Resolve(inv->handle_, "nvmlDeviceGetMemoryInfo", &inv->memory_, &missing);
  Resolve(inv->handle_, "nvmlDeviceGetMinorNumber", &inv->minor_, nullptr);
  if (!missing.empty()) {
    *error = "NVML " + inv->path_ + " lacks " + missing;
    return nullptr;
  }
  if (nvmlReturn_t rc = inv->init_(); rc != NVML_SUCCESS) {
    *error = inv->Describe("nvmlInit_v2", rc) + " (" + inv->path_ + ")";
    inv->init_ = nullptr;  // nothing to shut down
    return nullptr;
  }
  return inv;
}

GpuInventory::~GpuInventory() {
  // Never dlclose NVML: its threads may outlive the call.
  if (init_ != nullptr && shutdown_ != nullptr) shutdown_();
}

std::string GpuInventory::Describe(const char* call, nvmlReturn_t rc) const {
  const char* text = error_string_ ? error_string_(rc) : nullptr;
  return std::string(call) + ": " + (text ? text : "error") + " (" + std::to_string(static_cast<int>(rc)) + ")";
}

std::optional<std::vector<Gpu>> GpuInventory::Discover(std::vector<std::string>* left_out, std::string* error) {
  std::lock_guard<std::mutex> guard(mu_);
  unsigned count = 0;
  if (nvmlReturn_t rc = count_(&count); rc != NVML_SUCCESS) {
    *error = Describe("nvmlDeviceGetCount_v2", rc);
    return std::nullopt;
  }
  std::vector<Gpu> gpus;
  for (unsigned i = 0; i < count; ++i) {
    auto leave_out = [&](const char* call, nvmlReturn_t rc) {
      left_out->push_back("GPU " + std::to_string(i) + ": " + Describe(call, rc));
    };
    nvmlDevice_t dev = nullptr;
    if (nvmlReturn_t rc = by_index_(i, &dev); rc != NVML_SUCCESS) {
      leave_out("nvmlDeviceGetHandleByIndex_v2", rc);
      continue;
    }
    char uuid[NVML_DEVICE_UUID_V2_BUFFER_SIZE] = {};
    if (nvmlReturn_t rc = uuid_(dev, uuid, sizeof uuid); rc != NVML_SUCCESS) {
      leave_out("nvmlDeviceGetUUID", rc);
      continue;
    }
    nvmlMemory_t memory{};
    if (nvmlReturn_t rc = memory_(dev, &memory); rc != NVML_SUCCESS) {
      leave_out("nvmlDeviceGetMemoryInfo", rc);
      continue;
    }
    Gpu gpu;
    gpu.uuid = uuid;
    gpu.memory_bytes = memory.total;
    gpu.index = i;
    gpu.minor = i;
    if (minor_ == nullptr) {
      TGS_LOG_WARN("NVML has no nvmlDeviceGetMinorNumber: assuming /dev/nvidia%u for GPU %u", i, i);
    } else if (nvmlReturn_t rc = minor_(dev, &gpu.minor); rc != NVML_SUCCESS) {
      leave_out("nvmlDeviceGetMinorNumber", rc);
      continue;
    }
    gpus.push_back(gpu);
  }
  return gpus;
}

std::string GpuInventory::Probe(const std::string& uuid) {
  std::lock_guard<std::mutex> guard(mu_);
  nvmlDevice_t dev = nullptr;
  if (nvmlReturn_t rc = by_uuid_(uuid.c_str(), &dev); rc != NVML_SUCCESS) {
    return Describe("nvmlDeviceGetHandleByUUID", rc);
  }
  nvmlMemory_t memory{};
  if (nvmlReturn_t rc = memory_(dev, &memory); rc != NVML_SUCCESS) return Describe("nvmlDeviceGetMemoryInfo", rc);
  return "";
}

}  // namespace tgs::device_plugin
