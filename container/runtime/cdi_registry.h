// The CDI devices of one kind found in the spec directories, resolved the
// way CDI does: a device in a later directory overrides one of the same name
// in an earlier directory (/var/run/cdi over /etc/cdi); two specs in the same
// directory that define one name make that name unusable.
#pragma once

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace tgs::oci {

inline constexpr const char* kDefaultCdiSpecDirs[] = {"/etc/cdi", "/var/run/cdi"};

struct CdiSpec {
  std::string file;
  nlohmann::json edits;  // the spec's own containerEdits (null when it has none)
};

struct CdiDevice {
  std::string name;
  nlohmann::json edits;  // the device's containerEdits (null when it has none)
  std::shared_ptr<const CdiSpec> spec;
};

class CdiRegistry {
 public:
  explicit CdiRegistry(std::string kind) : kind_(std::move(kind)) {}

  // Adds the devices of `spec` (parsed from `file`) if its kind is this
  // registry's. `priority` is the index of its directory. A spec of this
  // kind that is malformed is remembered in problems() and adds nothing.
  void AddSpec(const nlohmann::json& spec, const std::string& file, int priority);

  // Reads every spec file in `dirs` (missing directories are skipped),
  // in name order within a directory.
  void LoadDirectories(const std::vector<std::string>& dirs);

  // nullptr with `*error` when `name` is unknown or conflicting; the error
  // lists the known devices and the spec files that could not be read.
  const CdiDevice* Find(const std::string& name, std::string* error) const;

  const std::vector<std::string>& problems() const { return problems_; }
  size_t size() const { return devices_.size(); }

 private:
  struct Entry {
    CdiDevice device;
    int priority = 0;
    std::string conflict;  // non-empty: the two files that both define it
  };

  std::string kind_;
  std::map<std::string, Entry> devices_;
  std::vector<std::string> problems_;
  std::vector<std::string> dirs_;
};

}  // namespace tgs::oci
