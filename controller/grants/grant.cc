#include "controller/grants/grant.h"

#include <sys/random.h>

#include <chrono>
#include <cstdio>

#include "controller/status/collect_status.h"
#include "shim/util/gpu_uuid.h"

namespace tgs::controller {
namespace {

constexpr size_t kMaxListEntries = 4096;
constexpr size_t kMaxText = 1024;

bool PrintableText(const std::string& s) {
  if (s.size() > kMaxText) return false;
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

std::optional<std::vector<std::string>> StringList(const nlohmann::json& j, const char* field, std::string* error) {
  std::vector<std::string> out;
  auto it = j.find(field);
  if (it == j.end() || it->is_null()) return out;
  if (!it->is_array()) {
    *error = std::string(field) + " must be a list of strings";
    return std::nullopt;
  }
  if (it->size() > kMaxListEntries) {
    *error = std::string(field) + " has " + std::to_string(it->size()) + " entries; at most " +
             std::to_string(kMaxListEntries);
    return std::nullopt;
  }
  for (const nlohmann::json& e : *it) {
    if (!e.is_string() || !PrintableText(e.get<std::string>())) {
      *error = std::string(field) + " must be a list of printable strings (at most 1024 bytes each)";
      return std::nullopt;
    }
    out.push_back(e.get<std::string>());
  }
  return out;
}

std::optional<std::string> Text(const nlohmann::json& j, const char* field, std::string* error) {
  auto it = j.find(field);
  if (it == j.end() || it->is_null()) return std::string();
  if (!it->is_string() || !PrintableText(it->get<std::string>())) {
    *error = std::string(field) + " must be a printable string (at most 1024 bytes)";
    return std::nullopt;
  }
  return it->get<std::string>();
}

std::optional<std::vector<std::string>> GpuList(const nlohmann::json& j, std::string* error) {
  auto gpus = StringList(j, "gpus", error);
  if (!gpus) return std::nullopt;
  for (std::string& g : *gpus) {
    uint8_t raw[16];
    if (!ParseGpuUuid(g.c_str(), raw)) {
      *error = "gpus: '" + g + "' is not a GPU UUID (GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)";
      return std::nullopt;
    }
    g = FormatGpuUuid(raw);  // one spelling, as the shims report them
  }
  return gpus;
}

std::optional<std::map<std::string, std::string>> LabelMap(const nlohmann::json& j, std::string* error) {
  std::map<std::string, std::string> out;
  auto it = j.find("labels");
  if (it == j.end() || it->is_null()) return out;
  if (!it->is_object() || it->size() > 64) {
    *error = "labels must be an object of at most 64 string values";
    return std::nullopt;
  }
  for (const auto& [k, v] : it->items()) {
    if (k.empty() || !PrintableText(k) || !v.is_string() || !PrintableText(v.get<std::string>())) {
      *error = "labels: '" + k + "' must be a non-empty printable key with a printable string value";
      return std::nullopt;
    }
    out[k] = v.get<std::string>();
  }
  return out;
}

}  // namespace

std::string NewAllocationId() {
  uint8_t bytes[16];
  size_t got = 0;
  while (got < sizeof bytes) {
    ssize_t n = getrandom(bytes + got, sizeof bytes - got, 0);
    if (n > 0) got += static_cast<size_t>(n);
  }
  char text[33];
  for (int i = 0; i < 16; ++i) std::snprintf(text + 2 * i, 3, "%02x", bytes[i]);
  return std::string(text, 32);
}

bool IsAllocationId(const std::string& text) {
  if (text.size() != 32) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::optional<Allocation> AllocationFromRequest(const nlohmann::json& request, const policy::Policy& policy,
                                                std::string* error) {
  Allocation a;
  auto cls = request.find("class");
  if (cls == request.end() || !cls->is_string() || cls->get<std::string>().empty()) {
    *error = "grant needs a class (a class of the policy)";
    return std::nullopt;
  }
  a.class_name = cls->get<std::string>();
  if (!policy.classes.contains(a.class_name)) {
    std::string known;
    for (const auto& [name, spec] : policy.classes) known += (known.empty() ? "" : ", ") + name;
    *error = "class '" + a.class_name + "' is not defined in the policy (" + policy.source + ": " + known + ")";
    return std::nullopt;
  }
  if (auto it = request.find("memory_limit_bytes"); it != request.end() && !it->is_null()) {
    if (!it->is_number_unsigned() && !(it->is_number_integer() && it->get<int64_t>() >= 0)) {
      *error = "memory_limit_bytes must be a non-negative integer (0: the class's limit)";
      return std::nullopt;
    }
    a.memory_limit_bytes = it->get<uint64_t>();
  }
  auto gpus = GpuList(request, error);
  auto devices = gpus ? StringList(request, "devices", error) : std::nullopt;
  auto resource = devices ? Text(request, "resource", error) : std::nullopt;
  auto owner = resource ? Text(request, "owner", error) : std::nullopt;
  auto labels = owner ? LabelMap(request, error) : std::nullopt;
  if (!labels) return std::nullopt;
  a.gpus = std::move(*gpus);
  a.devices = std::move(*devices);
  a.resource = std::move(*resource);
  a.owner = std::move(*owner);
  a.labels = std::move(*labels);
  a.id = NewAllocationId();
  a.created_unix =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  return a;
}

std::optional<std::map<std::string, std::string>> LabelsFromRequest(const nlohmann::json& request,
                                                                     std::string* error) {
  if (!request.contains("labels")) {
    *error = "label needs labels (an object, e.g. {\"namespace\": \"ns\", \"pod\": \"p\", \"container\": \"c\"})";
    return std::nullopt;
  }
  return LabelMap(request, error);
}

nlohmann::json AllocationToJson(const Allocation& a) {
  return {{"id", a.id},           {"class", a.class_name}, {"memory_limit_bytes", a.memory_limit_bytes},
          {"gpus", a.gpus},       {"devices", a.devices},  {"resource", a.resource},
          {"owner", a.owner},     {"labels", a.labels},    {"created_unix", a.created_unix}};
}

std::optional<Allocation> AllocationFromJson(const nlohmann::json& j, std::string* error) {
  if (!j.is_object()) {
    *error = "an allocation must be an object";
    return std::nullopt;
  }
  auto id = Text(j, "id", error);
  if (!id) return std::nullopt;
  if (!IsAllocationId(*id)) {
    *error = "id '" + *id + "' is not 32 lowercase hex digits";
    return std::nullopt;
  }
  auto cls = Text(j, "class", error);
  if (!cls) return std::nullopt;
  if (cls->empty()) {
    *error = "allocation " + *id + " has no class";
    return std::nullopt;
  }
  Allocation a;
  a.id = *id;
  a.class_name = *cls;
  if (auto it = j.find("memory_limit_bytes"); it != j.end()) {
    if (!it->is_number_unsigned()) {
      *error = "allocation " + *id + ": memory_limit_bytes must be a non-negative integer";
      return std::nullopt;
    }
    a.memory_limit_bytes = it->get<uint64_t>();
  }
  auto gpus = GpuList(j, error);
  auto devices = gpus ? StringList(j, "devices", error) : std::nullopt;
  auto resource = devices ? Text(j, "resource", error) : std::nullopt;
  auto owner = resource ? Text(j, "owner", error) : std::nullopt;
  auto labels = owner ? LabelMap(j, error) : std::nullopt;
  if (!labels) {
    *error = "allocation " + *id + ": " + *error;
    return std::nullopt;
  }
  a.gpus = std::move(*gpus);
  a.devices = std::move(*devices);
  a.resource = std::move(*resource);
  a.owner = std::move(*owner);
  a.labels = std::move(*labels);
  if (auto it = j.find("created_unix"); it != j.end() && it->is_number()) a.created_unix = it->get<double>();
  return a;
}

policy::ContainerPolicy GrantPolicy(const policy::Policy& policy, const std::string& class_name,
                                    uint64_t memory_limit_bytes, std::string* warning) {
  policy::ContainerPolicy p;
  p.memory_limit_bytes = policy.defaults.memory_limit_bytes;
  if (!policy.classes.contains(class_name)) {
    *warning = "class '" + class_name + "' is no longer in the policy; treated as opportunistic";
  }
  policy::ApplyClass(policy, class_name, &p);
  if (memory_limit_bytes != 0) p.memory_limit_bytes = memory_limit_bytes;
  p.rule_index = -1;
  return p;
}

std::map<std::string, std::string> IdentityLabels(const Allocation& a) {
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : a.labels) {
    if (k == "namespace") {
      out[kNamespaceLabel] = v;
    } else if (k == "pod") {
      out[kPodLabel] = v;
    } else if (k == "container") {
      out[kContainerNameLabel] = v;
    } else {
      out[k] = v;
    }
  }
  return out;
}

}  // namespace tgs::controller
