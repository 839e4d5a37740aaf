// Runtime policy changes made with `tgsctl set`: a container's class, memory
// limit or weight, on top of what the policy file resolves for it. The
// controller validates each change against the loaded policy before taking
// it. A change is transient (dropped at the next reload, when the file is the
// truth again) unless it was made with --persist: persistent changes are
// saved in <state_dir>/overrides.json and survive reloads and restarts.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "controller/policy/policy.h"

namespace tgs::controller {

struct Override {
  std::optional<std::string> class_name;
  std::optional<uint64_t> memory_limit_bytes;  // 0 = no limit
  std::optional<int> weight;
  bool persist = false;

  bool Empty() const { return !class_name && !memory_limit_bytes && !weight; }
};

class Overrides {
 public:
  // Why `change` cannot apply to a container currently resolved as `current`
  // under `policy`; nullopt when it can.
  static std::optional<std::string> Validate(const policy::Policy& policy, const policy::ContainerPolicy& current,
                                             const Override& change);

  // Merges `change` into the container's persistent or transient changes
  // (as change.persist says); fields it sets replace earlier ones.
  void Set(const std::string& container, const Override& change);
  // Applies the container's override, if any, to its resolved policy.
  void Apply(const policy::Policy& policy, const std::string& container, policy::ContainerPolicy* p) const;
  // At reload: transient changes go, persistent ones stay.
  void DropTransient();
  // The ones no longer valid under a reloaded policy (a class that is gone)
  // are dropped, each with a log line.
  void DropInvalid(const policy::Policy& policy);

  bool Save(const std::string& path, std::string* error) const;
  // A missing file is no overrides; a malformed one is an error naming it.
  bool Load(const std::string& path, std::string* error);

  const std::map<std::string, Override>& persistent() const { return persistent_; }

 private:
  // Applied in this order: a transient change made after a persistent one wins until the next reload.
  std::map<std::string, Override> persistent_;
  std::map<std::string, Override> transient_;
};

inline constexpr char kOverridesFileName[] = "overrides.json";

}  // namespace tgs::controller
