// How GPU memory becomes Kubernetes devices (container/INTERFACES.md,
// "Kubernetes resources"): each GPU advertises floor(memory / 1 GiB x
// overcommit) devices per resource, named "<GPU-UUID>::<n>", and a request of
// N devices is a memory limit of N GiB on ONE GPU. Extended resources are
// plain counts to the scheduler, so the kubelet may hand a container units of
// two GPUs; the plugin steers it away (GetPreferredAllocation: best fit on one
// GPU) and refuses what still spans GPUs, since one limit cannot be split.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tgs::device_plugin {

inline constexpr uint64_t kBytesPerUnit = 1ULL << 30;  // one device = 1 GiB of limit

struct Gpu {
  std::string uuid;  // "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
  uint64_t memory_bytes = 0;
  unsigned minor = 0;  // N of /dev/nvidiaN
  unsigned index = 0;  // NVML index, for logs
};

// floor(memory / 1 GiB x overcommit); overcommit counts to 1/1000.
int UnitsPerGpu(uint64_t memory_bytes, double overcommit);

std::string DeviceId(std::string_view uuid, int unit);

struct DeviceRef {
  std::string uuid;
  int unit = -1;
};
// "<uuid>::<n>" with n a plain decimal; nullopt for anything else.
std::optional<DeviceRef> ParseDeviceId(std::string_view id);

// Where a request's devices are: one GPU and how many of its units.
struct Placement {
  size_t gpu = 0;  // index into ResourceModel::gpus()
  int units = 0;
};

// One resource's devices on this node.
class ResourceModel {
 public:
  ResourceModel(std::vector<Gpu> gpus, double overcommit);

  const std::vector<Gpu>& gpus() const { return gpus_; }
  int units_per_gpu(size_t gpu) const { return units_[gpu]; }
  // Every device id, GPU by GPU, units in order.
  std::vector<std::string> DeviceIds() const;
  std::vector<std::string> DeviceIdsOf(size_t gpu) const;
  // The GPU of a well-formed id of this node, or nullopt.
  std::optional<size_t> GpuOf(const std::string& id) const;

  // The one GPU all `ids` are on. Fails (naming the id, or each GPU with its
  // count when they span GPUs) on an unknown or repeated id, an empty list,
  // or ids of more than one GPU.
  std::optional<Placement> Place(const std::vector<std::string>& ids, std::string* error) const;

  // `size` ids from `available` (plus `must_include`), all on one GPU: the
  // GPU with the fewest available units that still has `size` (best fit, so
  // large holes stay for large requests), must_include first, then its
  // lowest free units. Fails when no single GPU can hold the request.
  std::optional<std::vector<std::string>> Prefer(const std::vector<std::string>& available,
                                                 const std::vector<std::string>& must_include, int size,
                                                 std::string* error) const;

 private:
  // Validates ids and groups their units by GPU; false with *error.
  bool Group(const std::vector<std::string>& ids, std::vector<std::vector<int>>* by_gpu, bool allow_repeats,
             std::string* error) const;
  // "2 GPUs (GPU-a: 3, GPU-b: 1)" for error messages.
  std::string Spread(const std::vector<std::vector<int>>& by_gpu) const;

  std::vector<Gpu> gpus_;
  std::vector<int> units_;
};

}  // namespace tgs::device_plugin
