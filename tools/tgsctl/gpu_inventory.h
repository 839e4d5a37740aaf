// The node's GPUs as NVML lists them, for `tgsctl cdi generate`: index, UUID
// and the minor number of /dev/nvidia<minor>.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace tgs::tgsctl {

struct GpuInfo {
  unsigned index = 0;
  std::string uuid;               // "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
  std::optional<unsigned> minor;  // absent when NVML cannot tell (no device node then)
};

struct GpuInventory {
  std::vector<GpuInfo> gpus;       // in NVML index order
  std::vector<std::string> notes;  // what could not be read, for stderr
};

// Loads NVML from `nvml_library` (a path, or a name for the loader) with
// dlopen, so tgsctl runs on nodes without a driver too and only this command
// needs one. nullopt with `*error` naming the library and the failing call.
std::optional<GpuInventory> ReadGpuInventory(const std::string& nvml_library, std::string* error);

}  // namespace tgs::tgsctl
