#include "tools/tgsctl/cdi_spec.h"

#include <map>
#include <set>

namespace tgs::tgsctl {
namespace {

using nlohmann::ordered_json;

bool IsAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }
bool IsLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

std::string Basename(const std::string& path) {
  size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string WithoutTrailingSlashes(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

ordered_json BindMount(const std::string& host, const std::string& container, bool read_only) {
  // nosuid/nodev: nothing TGS mounts needs either. No "type": bind mounts
  // need none, and the field would raise the spec to CDI 0.4.0.
  ordered_json options = ordered_json::array();
  if (read_only) options.push_back("ro");
  for (const char* o : {"nosuid", "nodev", "bind"}) options.push_back(o);
  return {{"hostPath", host}, {"containerPath", container}, {"options", options}};
}

// The node `name` (e.g. "nvidia0") if it exists under dev_root; hostPath only
// when it differs from the container's /dev path (it needs CDI 0.5.0).
void AddDeviceNode(ordered_json& nodes, const std::string& dev_root, const std::string& name,
                   const PathExists& exists) {
  std::string host = dev_root + "/" + name;
  if (!exists(host)) return;
  ordered_json node = {{"path", "/dev/" + name}};
  if (dev_root != "/dev") node["hostPath"] = host;
  nodes.push_back(std::move(node));
}

ordered_json DeviceEdits(const std::string& klass, const std::vector<const GpuInfo*>& gpus,
                         const CdiSpecOptions& options, const PathExists& exists) {
  ordered_json edits;
  edits["env"] = ordered_json::array({"TGS_CLASS=" + klass});
  // The directory, never the socket file: a restarted controller's new socket
  // is then seen (container/INTERFACES.md). Read-only, so that a container
  // cannot replace the socket other containers of its class connect to.
  edits["mounts"] = ordered_json::array(
      {BindMount(WithoutTrailingSlashes(options.grant_dir) + "/class/" + klass, kContainerGrantDir, true)});
  ordered_json nodes = ordered_json::array();
  std::string dev_root = WithoutTrailingSlashes(options.dev_root);
  for (const GpuInfo* gpu : gpus) {
    if (gpu->minor) AddDeviceNode(nodes, dev_root, "nvidia" + std::to_string(*gpu->minor), exists);
  }
  if (!nodes.empty()) edits["deviceNodes"] = std::move(nodes);
  return edits;
}

bool UsesAny(const ordered_json& spec, const std::function<bool(const ordered_json& edits)>& uses) {
  if (spec.contains("containerEdits") && uses(spec["containerEdits"])) return true;
  for (const ordered_json& device : spec.value("devices", ordered_json::array())) {
    if (device.contains("containerEdits") && uses(device["containerEdits"])) return true;
  }
  return false;
}

bool AnyEntryHas(const ordered_json& edits, const char* list, const char* field) {
  for (const ordered_json& entry : edits.value(list, ordered_json::array())) {
    if (entry.contains(field)) return true;
  }
  return false;
}

}  // namespace

std::string CheckCdiDeviceName(std::string_view name) {
  if (name.empty()) return "is empty";
  if (!IsAlnum(name.front()) || !IsAlnum(name.back())) return "must start and end with a letter or digit";
  for (char c : name) {
    if (!IsAlnum(c) && c != '-' && c != '_' && c != '.') {
      return std::string("has '") + c + "'; only letters, digits, '-', '_' and '.' are allowed";
    }
  }
  return "";
}

std::optional<ExtraMount> ParseMountFlag(std::string_view value, std::string* error) {
  ExtraMount m;
  std::string_view rest = value;
  if (rest.size() > 3 && rest.substr(rest.size() - 3) == ":ro") {
    m.read_only = true;
    rest.remove_suffix(3);
  }
  size_t colon = rest.find(':');
  if (colon == std::string_view::npos || rest.find(':', colon + 1) != std::string_view::npos) {
    *error = "expected HOST:CONTAINER or HOST:CONTAINER:ro";
    return std::nullopt;
  }
  m.host_path = std::string(rest.substr(0, colon));
  m.container_path = std::string(rest.substr(colon + 1));
  if (m.host_path.empty() || m.host_path[0] != '/') {
    *error = "the host path must be absolute";
    return std::nullopt;
  }
  if (m.container_path.empty() || m.container_path[0] != '/') {
    *error = "the container path must be absolute";
    return std::nullopt;
  }
  return m;
}

std::vector<std::string> CheckCdiSpecOptions(const CdiSpecOptions& options) {
  std::vector<std::string> problems;
  if (options.classes.empty()) problems.push_back("no class given");
  std::set<std::string> seen;
  for (const std::string& c : options.classes) {
    if (std::string why = CheckCdiDeviceName(c); !why.empty()) {
      problems.push_back("class '" + c + "' cannot name CDI devices: it " + why);
    } else if (!seen.insert(c).second) {
      problems.push_back("class '" + c + "' given twice");
    }
  }
  auto absolute = [&](const std::string& path, const std::string& what) {
    if (path.empty() || path[0] != '/') problems.push_back(what + " '" + path + "' is not an absolute path");
  };
  absolute(options.shim_dir, "shim directory");
  absolute(options.grant_dir, "grant directory");
  absolute(options.dev_root, "device root");
  // Two host paths on one container path: only the last would be seen.
  std::map<std::string, std::string> by_container_path = {
      {kContainerShimDir, "the shim directory"},
      {kContainerPreloadFile, "the shim's ld.so.preload"},
      {kContainerGrantDir, "the grant directory"},
  };
  auto claim = [&](const std::string& container, const std::string& what) {
    auto [it, fresh] = by_container_path.emplace(WithoutTrailingSlashes(container), what);
    if (!fresh) problems.push_back(what + " and " + it->second + " both go to " + it->first + " in the container");
  };
  for (const std::string& lib : options.driver_libraries) {
    absolute(lib, "driver library");
    claim(std::string(kContainerDriverDir) + "/" + Basename(lib), "driver library " + lib);
  }
  for (const ExtraMount& m : options.mounts) {
    absolute(m.host_path, "mount source");
    absolute(m.container_path, "mount target");
    claim(m.container_path, "mount " + m.host_path);
  }
  return problems;
}

std::vector<std::string> MissingShimFiles(const std::string& shim_dir, const PathExists& exists) {
  std::vector<std::string> missing;
  for (const char* file : kShimDirFiles) {
    if (!exists(WithoutTrailingSlashes(shim_dir) + "/" + file)) missing.push_back(file);
  }
  return missing;
}

nlohmann::ordered_json BuildCdiSpec(const std::vector<GpuInfo>& gpus, const CdiSpecOptions& options,
                                    const PathExists& device_node_exists) {
  ordered_json spec;
  spec["cdiVersion"] = "";  // set below, once every field is known; first for readers
  spec["kind"] = kCdiKind;

  std::string shim_dir = WithoutTrailingSlashes(options.shim_dir);
  ordered_json common;
  ordered_json nodes = ordered_json::array();
  std::string dev_root = WithoutTrailingSlashes(options.dev_root);
  for (const char* name : {"nvidiactl", "nvidia-uvm", "nvidia-uvm-tools"}) {
    AddDeviceNode(nodes, dev_root, name, device_node_exists);
  }
  if (!nodes.empty()) common["deviceNodes"] = std::move(nodes);
  ordered_json mounts = ordered_json::array();
  mounts.push_back(BindMount(shim_dir, kContainerShimDir, true));
  mounts.push_back(BindMount(shim_dir + "/ld.so.preload", kContainerPreloadFile, true));
  for (const std::string& lib : options.driver_libraries) {
    mounts.push_back(BindMount(lib, std::string(kContainerDriverDir) + "/" + Basename(lib), true));
  }
  for (const ExtraMount& m : options.mounts) mounts.push_back(BindMount(m.host_path, m.container_path, m.read_only));
  common["mounts"] = std::move(mounts);
  spec["containerEdits"] = std::move(common);

  ordered_json devices = ordered_json::array();
  std::vector<const GpuInfo*> all;
  for (const GpuInfo& gpu : gpus) all.push_back(&gpu);
  for (const std::string& klass : options.classes) {
    for (const GpuInfo& gpu : gpus) {
      ordered_json edits = DeviceEdits(klass, {&gpu}, options, device_node_exists);
      devices.push_back({{"name", klass + "-" + std::to_string(gpu.index)}, {"containerEdits", edits}});
      devices.push_back({{"name", klass + "-" + gpu.uuid}, {"containerEdits", edits}});
    }
    devices.push_back(
        {{"name", klass + "-all"}, {"containerEdits", DeviceEdits(klass, all, options, device_node_exists)}});
  }
  spec["devices"] = std::move(devices);
  spec["cdiVersion"] = MinimumCdiVersion(spec);
  return spec;
}

std::string MinimumCdiVersion(const nlohmann::ordered_json& spec) {
  if (UsesAny(spec, [](const ordered_json& e) { return e.contains("intelRdt") || e.contains("additionalGids"); })) {
    return "0.7.0";
  }
  bool annotations = spec.contains("annotations");
  for (const ordered_json& device : spec.value("devices", ordered_json::array())) {
    annotations = annotations || device.contains("annotations");
  }
  std::string kind = spec.value("kind", "");
  size_t slash = kind.find('/');
  bool dotted_kind_name = slash != std::string::npos && kind.find('.', slash) != std::string::npos;
  if (annotations || dotted_kind_name) return "0.6.0";
  bool digit_first_name = false;
  for (const ordered_json& device : spec.value("devices", ordered_json::array())) {
    std::string name = device.value("name", "");
    digit_first_name = digit_first_name || (!name.empty() && !IsLetter(name[0]));
  }
  if (digit_first_name ||
      UsesAny(spec, [](const ordered_json& e) { return AnyEntryHas(e, "deviceNodes", "hostPath"); })) {
    return "0.5.0";
  }
  if (UsesAny(spec, [](const ordered_json& e) { return AnyEntryHas(e, "mounts", "type"); })) return "0.4.0";
  return "0.3.0";
}

}  // namespace tgs::tgsctl
