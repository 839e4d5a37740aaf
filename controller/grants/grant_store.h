// The grants that outlive the controller, in <state_dir>/grants.json:
// - allocations (alloc:<id>), until revoked;
// - which class socket each cgroup-keyed container came through, so a
//   restarted controller restores its class before its processes reconnect.
// Each change is written at once (temporary file and rename).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "controller/grants/grant.h"

namespace tgs::controller {

class GrantStore {
 public:
  static constexpr int kFormat = 1;

  // A missing file is no grants. A malformed one is an error naming the
  // file and the problem; it is then renamed to grants.json.bad so that the
  // next save does not destroy what an operator may want to recover.
  bool Load(const std::string& path, std::string* error);
  bool Save(std::string* error) const;

  const std::map<std::string, Allocation>& allocations() const { return allocations_; }
  const Allocation* FindAllocation(const std::string& id) const;
  Allocation* FindAllocation(const std::string& id);
  void AddAllocation(Allocation a);
  bool RemoveAllocation(const std::string& id);

  // The class grant a cgroup-keyed container came through ("" if none).
  std::string ClassBinding(const std::string& container_key) const;
  void BindClass(const std::string& container_key, const std::string& class_name);
  void UnbindClass(const std::string& container_key);

 private:
  std::string path_;
  std::map<std::string, Allocation> allocations_;       // by id
  std::map<std::string, std::string> class_bindings_;  // container key -> class
};

inline constexpr char kGrantsFileName[] = "grants.json";

}  // namespace tgs::controller
