#include "container/runtime/apply_edits.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>

namespace tgs::oci {
namespace {

using nlohmann::json;

// The hook lists of an OCI config, by CDI hookName (the same names).
const std::set<std::string> kHookNames = {"prestart",       "createRuntime", "createContainer",
                                          "startContainer", "poststart",     "poststop"};
const std::set<std::string> kEditFields = {"env", "deviceNodes", "mounts", "hooks", "additionalGids", "intelRdt"};

// Field checks that name the offending field ("mounts[1].containerPath").
class Checker {
 public:
  explicit Checker(std::string* error) : error_(error) {}
  bool Fail(const std::string& what) {
    *error_ = what;
    return false;
  }
  bool String(const json& obj, const char* field, const std::string& where, bool required, std::string* out) {
    out->clear();
    if (!obj.contains(field)) return !required || Fail(where + "." + field + " is missing");
    if (!obj[field].is_string()) return Fail(where + "." + field + " is not a string");
    *out = obj[field].get<std::string>();
    return true;
  }
  bool Absolute(const json& obj, const char* field, const std::string& where, bool required, std::string* out) {
    if (!String(obj, field, where, required, out)) return false;
    if (obj.contains(field) && (out->empty() || (*out)[0] != '/')) {
      return Fail(where + "." + field + " '" + *out + "' is not an absolute path");
    }
    return true;
  }
  bool Integer(const json& obj, const char* field, const std::string& where, int64_t min, int64_t max,
               std::optional<int64_t>* out) {
    if (!obj.contains(field)) return true;
    if (!obj[field].is_number_integer()) return Fail(where + "." + field + " is not an integer");
    int64_t v = obj[field].get<int64_t>();
    if (v < min || v > max) return Fail(where + "." + field + " " + std::to_string(v) + " is out of range");
    *out = v;
    return true;
  }
  bool Strings(const json& obj, const char* field, const std::string& where) {
    if (!obj.contains(field)) return true;
    if (!obj[field].is_array()) return Fail(where + "." + field + " is not a list");
    for (const json& s : obj[field]) {
      if (!s.is_string()) return Fail(where + "." + field + " holds a non-string");
    }
    return true;
  }

 private:
  std::string* error_;
};

json& Ensure(json& parent, const char* field, const json& empty) {
  if (!parent.contains(field) || parent[field].is_null()) parent[field] = empty;
  return parent[field];
}

std::string EnvName(const std::string& entry) { return entry.substr(0, entry.find('=')); }

void SetEnv(json& config, const std::string& entry) {
  json& env = Ensure(Ensure(config, "process", json::object()), "env", json::array());
  std::string name = EnvName(entry);
  for (json& e : env) {
    if (e.is_string() && EnvName(e.get<std::string>()) == name) {
      e = entry;
      return;
    }
  }
  env.push_back(entry);
}

bool CheckEdits(const json& edits, Checker& check) {
  for (const auto& [key, value] : edits.items()) {
    if (key == "intelRdt") return check.Fail("intelRdt edits are not supported by tgs-oci-runtime");
    if (kEditFields.count(key) == 0) return check.Fail("unknown containerEdits field '" + key + "'");
    if (!value.is_array() && !value.is_null()) return check.Fail(key + " is not a list");
  }
  std::string s;
  for (const json& e : edits.value("env", json::array())) {
    if (!e.is_string() || e.get<std::string>().find('=') == std::string::npos || e.get<std::string>()[0] == '=') {
      return check.Fail("env entry " + e.dump() + " is not NAME=VALUE");
    }
  }
  size_t i = 0;
  for (const json& n : edits.value("deviceNodes", json::array())) {
    std::string where = "deviceNodes[" + std::to_string(i++) + "]";
    std::optional<int64_t> number;
    if (!n.is_object()) return check.Fail(where + " is not an object");
    if (!check.Absolute(n, "path", where, true, &s) || !check.Absolute(n, "hostPath", where, false, &s)) return false;
    if (!check.String(n, "type", where, false, &s)) return false;
    if (n.contains("type") && s != "b" && s != "c" && s != "u" && s != "p") {
      return check.Fail(where + ".type '" + s + "' is not b, c, u or p");
    }
    if (!check.String(n, "permissions", where, false, &s)) return false;
    if (s.find_first_not_of("rwm") != std::string::npos) {
      return check.Fail(where + ".permissions '" + s + "' is not a combination of r, w and m");
    }
    for (const char* f : {"major", "minor"}) {
      if (!check.Integer(n, f, where, 0, UINT32_MAX, &number)) return false;
    }
    for (const char* f : {"fileMode", "uid", "gid"}) {
      if (!check.Integer(n, f, where, 0, UINT32_MAX, &number)) return false;
    }
  }
  i = 0;
  for (const json& m : edits.value("mounts", json::array())) {
    std::string where = "mounts[" + std::to_string(i++) + "]";
    if (!m.is_object()) return check.Fail(where + " is not an object");
    if (!check.String(m, "hostPath", where, true, &s) || !check.Absolute(m, "containerPath", where, true, &s) ||
        !check.String(m, "type", where, false, &s) || !check.Strings(m, "options", where)) {
      return false;
    }
  }
  i = 0;
  for (const json& h : edits.value("hooks", json::array())) {
    std::string where = "hooks[" + std::to_string(i++) + "]";
    std::optional<int64_t> timeout;
    if (!h.is_object()) return check.Fail(where + " is not an object");
    if (!check.String(h, "hookName", where, true, &s)) return false;
    if (kHookNames.count(s) == 0) return check.Fail(where + ".hookName '" + s + "' is not an OCI hook");
    if (!check.Absolute(h, "path", where, true, &s) || !check.Strings(h, "args", where) ||
        !check.Strings(h, "env", where) || !check.Integer(h, "timeout", where, 1, INT32_MAX, &timeout)) {
      return false;
    }
  }
  for (const json& g : edits.value("additionalGids", json::array())) {
    if (!g.is_number_unsigned() || g.get<uint64_t>() > UINT32_MAX) {
      return check.Fail("additionalGids entry " + g.dump() + " is not a group id");
    }
  }
  return true;
}

// The OCI linux.devices entry of a CDI device node, host facts filled in.
bool DeviceEntry(const json& node, const json& config, const StatDeviceNode& stat, json* out, std::string* error) {
  std::string path = node["path"];
  std::string host = node.value("hostPath", path);
  std::string type = node.value("type", "");
  int64_t major = node.value("major", int64_t{0}), minor = node.value("minor", int64_t{0});
  if (type.empty() || (major == 0 && type != "p")) {
    std::optional<DeviceNodeInfo> info = stat(host, error);
    if (!info) return false;
    if (!type.empty() && type != info->type) {
      *error = "device node " + path + " has type " + type + " in the spec but " + host + " is of type " + info->type;
      return false;
    }
    type = info->type;
    if (major == 0) {
      major = info->major;
      minor = info->minor;
    }
  }
  json dev = {{"path", path}, {"type", type}, {"major", major}, {"minor", minor}};
  if (node.contains("fileMode")) dev["fileMode"] = node["fileMode"];
  const json* user = nullptr;
  if (config.contains("process") && config["process"].is_object() && config["process"].contains("user")) {
    user = &config["process"]["user"];
  }
  for (const char* id : {"uid", "gid"}) {
    if (node.contains(id)) {
      dev[id] = node[id];
    } else if (user != nullptr && user->contains(id) && (*user)[id].is_number_integer() && (*user)[id] > 0) {
      dev[id] = (*user)[id];
    }
  }
  *out = std::move(dev);
  return true;
}

int PathDepth(const std::string& destination) {
  std::string clean = std::filesystem::path(destination).lexically_normal().string();
  while (clean.size() > 1 && clean.back() == '/') clean.pop_back();
  return static_cast<int>(std::count(clean.begin(), clean.end(), '/'));
}

}  // namespace

std::optional<DeviceNodeInfo> StatHostDeviceNode(const std::string& host_path, std::string* error) {
  struct stat st;
  if (stat(host_path.c_str(), &st) != 0) {
    *error = "CDI device node " + host_path + ": " + std::strerror(errno);
    return std::nullopt;
  }
  DeviceNodeInfo info;
  if (S_ISCHR(st.st_mode)) {
    info.type = "c";
  } else if (S_ISBLK(st.st_mode)) {
    info.type = "b";
  } else if (S_ISFIFO(st.st_mode)) {
    info.type = "p";
    return info;
  } else {
    *error = "CDI device node " + host_path + " is not a device node";
    return std::nullopt;
  }
  info.major = major(st.st_rdev);
  info.minor = minor(st.st_rdev);
  return info;
}

bool ApplyContainerEdits(nlohmann::json& config, const nlohmann::json& edits, const StatDeviceNode& stat,
                         std::string* error) {
  if (edits.is_null()) return true;
  Checker check(error);
  if (!edits.is_object()) return check.Fail("containerEdits is not an object");
  if (!CheckEdits(edits, check)) return false;
  // Device nodes first into a scratch list: a host node that is missing must
  // leave `config` as it was.
  std::vector<json> devices;
  for (const json& node : edits.value("deviceNodes", json::array())) {
    json dev;
    if (!DeviceEntry(node, config, stat, &dev, error)) return false;
    devices.push_back(std::move(dev));
  }

  for (const json& e : edits.value("env", json::array())) SetEnv(config, e.get<std::string>());

  for (size_t i = 0; i < devices.size(); ++i) {
    const json& dev = devices[i];
    json& linux_section = Ensure(config, "linux", json::object());
    json& list = Ensure(linux_section, "devices", json::array());
    list.erase(std::remove_if(list.begin(), list.end(),
                              [&](const json& d) { return d.is_object() && d.value("path", "") == dev["path"]; }),
               list.end());
    list.push_back(dev);
    if (dev["type"] == "c" || dev["type"] == "b") {
      std::string access = edits["deviceNodes"][i].value("permissions", "");
      json& rules = Ensure(Ensure(linux_section, "resources", json::object()), "devices", json::array());
      rules.push_back({{"allow", true},
                       {"type", dev["type"]},
                       {"major", dev["major"]},
                       {"minor", dev["minor"]},
                       {"access", access.empty() ? "rwm" : access}});
    }
  }

  for (const json& m : edits.value("mounts", json::array())) {
    json& mounts = Ensure(config, "mounts", json::array());
    std::string destination = m["containerPath"];
    mounts.erase(
        std::remove_if(mounts.begin(), mounts.end(),
                       [&](const json& x) { return x.is_object() && x.value("destination", "") == destination; }),
        mounts.end());
    json mount = {{"destination", destination}};
    if (m.contains("type")) mount["type"] = m["type"];
    mount["source"] = m["hostPath"];
    if (m.contains("options")) mount["options"] = m["options"];
    mounts.push_back(std::move(mount));
  }

  for (const json& h : edits.value("hooks", json::array())) {
    json hook = {{"path", h["path"]}};
    for (const char* f : {"args", "env", "timeout"}) {
      if (h.contains(f)) hook[f] = h[f];
    }
    Ensure(Ensure(config, "hooks", json::object()), h["hookName"].get<std::string>().c_str(), json::array())
        .push_back(std::move(hook));
  }

  for (const json& g : edits.value("additionalGids", json::array())) {
    if (g.get<uint64_t>() == 0) continue;
    json& gids = Ensure(Ensure(Ensure(config, "process", json::object()), "user", json::object()), "additionalGids",
                        json::array());
    if (std::find(gids.begin(), gids.end(), g) == gids.end()) gids.push_back(g);
  }
  return true;
}

void SortMounts(nlohmann::json& config) {
  if (!config.contains("mounts") || !config["mounts"].is_array()) return;
  json& mounts = config["mounts"];
  std::stable_sort(mounts.begin(), mounts.end(), [](const json& a, const json& b) {
    std::string da = a.is_object() ? a.value("destination", "") : "";
    std::string db = b.is_object() ? b.value("destination", "") : "";
    int pa = PathDepth(da), pb = PathDepth(db);
    return pa != pb ? pa < pb : da < db;
  });
}

bool InjectCdiDevices(nlohmann::json& config, const std::vector<const CdiDevice*>& devices, const StatDeviceNode& stat,
                      std::string* error) {
  std::set<const CdiSpec*> applied;
  bool mounts = false;
  for (const CdiDevice* device : devices) {
    if (applied.insert(device->spec.get()).second) {
      if (!ApplyContainerEdits(config, device->spec->edits, stat, error)) {
        *error = device->spec->file + ": containerEdits: " + *error;
        return false;
      }
      mounts = mounts || (device->spec->edits.is_object() && device->spec->edits.contains("mounts"));
    }
    if (!ApplyContainerEdits(config, device->edits, stat, error)) {
      *error = device->spec->file + ": device " + device->name + ": containerEdits: " + *error;
      return false;
    }
    mounts = mounts || (device->edits.is_object() && device->edits.contains("mounts"));
  }
  if (mounts) SortMounts(config);
  return true;
}

std::string FindConflictingDevices(const std::vector<const CdiDevice*>& devices) {
  std::map<std::string, std::pair<std::string, std::string>> env;     // name -> (value, device)
  std::map<std::string, std::pair<std::string, std::string>> mounts;  // container path -> (host path, device)
  for (const CdiDevice* d : devices) {
    if (!d->edits.is_object()) continue;
    for (const json& e : d->edits.value("env", json::array())) {
      if (!e.is_string()) continue;
      std::string entry = e.get<std::string>();
      std::string name = EnvName(entry), value = entry.substr(std::min(entry.size(), name.size() + 1));
      auto [it, fresh] = env.emplace(name, std::make_pair(value, d->name));
      if (!fresh && it->second.first != value) {
        return "devices " + it->second.second + " and " + d->name + " set " + name + " differently (" +
               it->second.first + ", " + value + ")";
      }
    }
    for (const json& m : d->edits.value("mounts", json::array())) {
      if (!m.is_object() || !m.contains("containerPath") || !m.contains("hostPath")) continue;
      std::string target = m["containerPath"].dump(), source = m["hostPath"].dump();
      auto [it, fresh] = mounts.emplace(target, std::make_pair(source, d->name));
      if (!fresh && it->second.first != source) {
        return "devices " + it->second.second + " and " + d->name + " mount different host paths at " + target + " (" +
               it->second.first + ", " + source + ")";
      }
    }
  }
  return "";
}

}  // namespace tgs::oci
