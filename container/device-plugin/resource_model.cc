#include "container/device-plugin/resource_model.h"

#include <algorithm>
#include <cmath>
#include <set>

namespace tgs::device_plugin {

int UnitsPerGpu(uint64_t memory_bytes, double overcommit) {
  // Exact: overcommit has at most three decimals (options.cc), so it is a
  // whole number of thousandths, and a partial GiB never rounds up to a unit.
  long long milli = std::llround(overcommit * 1000.0);
  if (milli <= 0) return 0;
  unsigned __int128 units = static_cast<unsigned __int128>(memory_bytes) * static_cast<unsigned long long>(milli) /
                            (static_cast<unsigned __int128>(kBytesPerUnit) * 1000u);
  return static_cast<int>(std::min<unsigned __int128>(units, 1u << 20));
}

std::string DeviceId(std::string_view uuid, int unit) { return std::string(uuid) + "::" + std::to_string(unit); }

std::optional<DeviceRef> ParseDeviceId(std::string_view id) {
  size_t sep = id.rfind("::");
  if (sep == std::string_view::npos || sep == 0) return std::nullopt;
  std::string_view number = id.substr(sep + 2);
  if (number.empty() || number.size() > 7) return std::nullopt;
  int unit = 0;
  for (char c : number) {
    if (c < '0' || c > '9') return std::nullopt;
    unit = unit * 10 + (c - '0');
  }
  if (number.size() > 1 && number[0] == '0') return std::nullopt;  // one spelling per device
  return DeviceRef{std::string(id.substr(0, sep)), unit};
}

ResourceModel::ResourceModel(std::vector<Gpu> gpus, double overcommit) : gpus_(std::move(gpus)) {
  for (const Gpu& g : gpus_) units_.push_back(UnitsPerGpu(g.memory_bytes, overcommit));
}

std::vector<std::string> ResourceModel::DeviceIdsOf(size_t gpu) const {
  std::vector<std::string> ids;
  for (int n = 0; n < units_[gpu]; ++n) ids.push_back(DeviceId(gpus_[gpu].uuid, n));
  return ids;
}

std::vector<std::string> ResourceModel::DeviceIds() const {
  std::vector<std::string> ids;
  for (size_t g = 0; g < gpus_.size(); ++g) {
    std::vector<std::string> of = DeviceIdsOf(g);
    ids.insert(ids.end(), of.begin(), of.end());
  }
  return ids;
}

std::optional<size_t> ResourceModel::GpuOf(const std::string& id) const {
  std::optional<DeviceRef> ref = ParseDeviceId(id);
  if (!ref) return std::nullopt;
  for (size_t g = 0; g < gpus_.size(); ++g) {
    if (gpus_[g].uuid == ref->uuid) {
      if (ref->unit >= units_[g]) return std::nullopt;
      return g;
    }
  }
  return std::nullopt;
}

bool ResourceModel::Group(const std::vector<std::string>& ids, std::vector<std::vector<int>>* by_gpu,
                          bool allow_repeats, std::string* error) const {
  by_gpu->assign(gpus_.size(), {});
  std::set<std::string> seen;
  for (const std::string& id : ids) {
    std::optional<DeviceRef> ref = ParseDeviceId(id);
    if (!ref) {
      *error = "device id '" + id + "' is not of the form <GPU-UUID>::<n>";
      return false;
    }
    auto gpu = std::find_if(gpus_.begin(), gpus_.end(), [&](const Gpu& g) { return g.uuid == ref->uuid; });
    if (gpu == gpus_.end()) {
      *error = "device id '" + id + "' names GPU " + ref->uuid + ", which this node does not have";
      return false;
    }
    size_t g = static_cast<size_t>(gpu - gpus_.begin());
    if (ref->unit >= units_[g]) {
      *error = "device id '" + id + "': " + ref->uuid + " has only " + std::to_string(units_[g]) + " devices (0.." +
               std::to_string(units_[g] - 1) + ")";
      return false;
    }
    if (!seen.insert(id).second) {
      if (allow_repeats) continue;
      *error = "device id '" + id + "' is requested twice";
      return false;
    }
    (*by_gpu)[g].push_back(ref->unit);
  }
  return true;
}

std::string ResourceModel::Spread(const std::vector<std::vector<int>>& by_gpu) const {
  std::string list;
  int gpus = 0;
  for (size_t g = 0; g < by_gpu.size(); ++g) {
    if (by_gpu[g].empty()) continue;
    ++gpus;
    list += (list.empty() ? "" : ", ") + gpus_[g].uuid + ": " + std::to_string(by_gpu[g].size());
  }
  return std::to_string(gpus) + " GPUs (" + list + ")";
}

std::optional<Placement> ResourceModel::Place(const std::vector<std::string>& ids, std::string* error) const {
  if (ids.empty()) {
    *error = "no devices requested";
    return std::nullopt;
  }
  std::vector<std::vector<int>> by_gpu;
  if (!Group(ids, &by_gpu, /*allow_repeats=*/false, error)) return std::nullopt;
  std::vector<size_t> used;
  for (size_t g = 0; g < by_gpu.size(); ++g) {
    if (!by_gpu[g].empty()) used.push_back(g);
  }
  if (used.size() == 1) return Placement{used[0], static_cast<int>(by_gpu[used[0]].size())};
  *error = "the " + std::to_string(ids.size()) + " devices span " + Spread(by_gpu) +
           "; one request's memory must be on one GPU";
  return std::nullopt;
}

std::optional<std::vector<std::string>> ResourceModel::Prefer(const std::vector<std::string>& available,
                                                              const std::vector<std::string>& must_include, int size,
                                                              std::string* error) const {
  if (size <= 0) {
    *error = "allocation size " + std::to_string(size) + " is not positive";
    return std::nullopt;
  }
  std::vector<std::vector<int>> required, free;
  if (!Group(must_include, &required, /*allow_repeats=*/true, error)) return std::nullopt;
  std::vector<std::string> pool = available;
  pool.insert(pool.end(), must_include.begin(), must_include.end());
  if (!Group(pool, &free, /*allow_repeats=*/true, error)) return std::nullopt;

  std::vector<size_t> required_gpus;
  for (size_t g = 0; g < required.size(); ++g) {
    if (!required[g].empty()) required_gpus.push_back(g);
  }
  if (required_gpus.size() > 1) {
    *error = "the devices that must be included span " + Spread(required) + "; one request's memory must be on one GPU";
    return std::nullopt;
  }
  if (static_cast<int>(must_include.size()) > size) {
    *error = std::to_string(must_include.size()) + " devices must be included in an allocation of " +
             std::to_string(size);
    return std::nullopt;
  }

  std::optional<size_t> best;
  size_t largest = 0;
  for (size_t g = 0; g < free.size(); ++g) {
    if (!required_gpus.empty() && g != required_gpus[0]) continue;
    largest = std::max(largest, free[g].size());
    if (static_cast<int>(free[g].size()) < size) continue;
    if (!best || free[g].size() < free[*best].size()) best = g;
  }
  if (!best) {
    *error = "no single GPU has " + std::to_string(size) + " free devices";
    *error += required_gpus.empty() ? " (the most on one GPU is " + std::to_string(largest) + ")"
                                    : " together with the required ones on " + gpus_[required_gpus[0]].uuid +
                                          " (it has " + std::to_string(largest) + ")";
    *error += "; one request's memory must be on one GPU";
    return std::nullopt;
  }

  std::vector<std::string> chosen;
  std::set<int> taken;
  for (int unit : required[*best]) {
    if (taken.insert(unit).second) chosen.push_back(DeviceId(gpus_[*best].uuid, unit));
  }
  std::vector<int> rest = free[*best];
  std::sort(rest.begin(), rest.end());
  for (int unit : rest) {
    if (static_cast<int>(chosen.size()) == size) break;
    if (taken.insert(unit).second) chosen.push_back(DeviceId(gpus_[*best].uuid, unit));
  }
  return chosen;
}

}  // namespace tgs::device_plugin
