#include "container/runtime/cdi_registry.h"

#include <algorithm>
#include <filesystem>

#include "container/runtime/spec_file.h"

namespace tgs::oci {

namespace fs = std::filesystem;

void CdiRegistry::AddSpec(const nlohmann::json& spec, const std::string& file, int priority) {
  if (!spec.is_object() || !spec.contains("kind") || spec["kind"] != kind_) return;
  if (!spec.contains("cdiVersion") || !spec["cdiVersion"].is_string()) {
    problems_.push_back(file + ": no cdiVersion");
    return;
  }
  if (!spec.contains("devices") || !spec["devices"].is_array() || spec["devices"].empty()) {
    problems_.push_back(file + ": no devices");
    return;
  }
  if (spec.contains("containerEdits") && !spec["containerEdits"].is_object() && !spec["containerEdits"].is_null()) {
    problems_.push_back(file + ": containerEdits is not an object");
    return;
  }
  auto shared = std::make_shared<CdiSpec>(CdiSpec{file, spec.value("containerEdits", nlohmann::json())});
  std::vector<CdiDevice> devices;
  for (const nlohmann::json& d : spec["devices"]) {
    if (!d.is_object() || !d.contains("name") || !d["name"].is_string() || d["name"].get<std::string>().empty()) {
      problems_.push_back(file + ": a device without a name");
      return;
    }
    nlohmann::json edits = d.value("containerEdits", nlohmann::json());
    if (!edits.is_object() && !edits.is_null()) {
      problems_.push_back(file + ": device " + d["name"].get<std::string>() + ": containerEdits is not an object");
      return;
    }
    devices.push_back(CdiDevice{d["name"].get<std::string>(), std::move(edits), shared});
  }
  for (CdiDevice& device : devices) {
    std::string name = device.name;
    auto it = devices_.find(name);
    if (it == devices_.end() || priority > it->second.priority) {
      devices_[name] = Entry{std::move(device), priority, ""};
    } else if (priority == it->second.priority) {
      it->second.conflict = it->second.device.spec->file + " and " + file;
    }
  }
}

void CdiRegistry::LoadDirectories(const std::vector<std::string>& dirs) {
  dirs_ = dirs;
  for (size_t i = 0; i < dirs.size(); ++i) {
    std::error_code ec;
    if (!fs::is_directory(dirs[i], ec)) continue;
    std::vector<std::string> files;
    for (const fs::directory_entry& e : fs::directory_iterator(dirs[i], ec)) {
      if (IsSpecFileName(e.path().filename().string()) && e.is_regular_file(ec)) files.push_back(e.path().string());
    }
    std::sort(files.begin(), files.end());
    for (const std::string& file : files) {
      std::string error;
      std::optional<nlohmann::json> spec = ReadSpecFile(file, &error);
      if (!spec) {
        problems_.push_back(error);
        continue;
      }
      AddSpec(*spec, file, static_cast<int>(i));
    }
  }
}

const CdiDevice* CdiRegistry::Find(const std::string& name, std::string* error) const {
  auto it = devices_.find(name);
  if (it != devices_.end() && it->second.conflict.empty()) return &it->second.device;
  if (it != devices_.end()) {
    *error = kind_ + "=" + name + " is defined twice at the same priority, in " + it->second.conflict;
    return nullptr;
  }
  std::string where;
  for (const std::string& d : dirs_) where += (where.empty() ? "" : ", ") + d;
  *error = "no CDI device " + kind_ + "=" + name + " in " + (where.empty() ? "the spec directories" : where);
  if (devices_.empty()) {
    *error += " (no spec of kind " + kind_ + " there; write one with `tgsctl cdi generate --output DIR/tgs.json`)";
  } else {
    std::string known;
    size_t shown = 0;
    for (const auto& [n, e] : devices_) {
      if (shown++ == 8) {
        known += ", …";
        break;
      }
      known += (known.empty() ? "" : ", ") + n;
    }
    *error += " (known: " + known + ")";
  }
  for (const std::string& p : problems_) *error += "\n  unreadable spec: " + p;
  return nullptr;
}

}  // namespace tgs::oci
