#include "container/runtime/cdi_names.h"

#include <algorithm>

namespace tgs::oci {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Calls `each` with every non-empty trimmed entry of a comma-separated list.
template <typename Fn>
void ForEachListEntry(std::string_view list, Fn each) {
  size_t pos = 0;
  while (pos <= list.size()) {
    size_t comma = list.find(',', pos);
    if (comma == std::string_view::npos) comma = list.size();
    std::string_view entry = Trim(list.substr(pos, comma - pos));
    if (!entry.empty()) each(entry);
    pos = comma + 1;
  }
}

void AddOnce(std::vector<std::string>& names, std::string name) {
  if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(std::move(name));
}

}  // namespace

std::optional<QualifiedName> ParseQualifiedName(std::string_view text) {
  size_t slash = text.find('/');
  size_t eq = text.find('=');
  if (slash == std::string_view::npos || eq == std::string_view::npos || slash == 0 || eq < slash + 2 ||
      eq + 1 >= text.size() || text.find('/', slash + 1) < eq) {
    return std::nullopt;
  }
  return QualifiedName{std::string(text.substr(0, eq)), std::string(text.substr(eq + 1))};
}

RequestedDevices FindRequestedDevices(const nlohmann::json& config) {
  RequestedDevices result;
  auto fail = [&](std::string why) {
    if (result.error.empty()) result.error = std::move(why);
  };
  const nlohmann::json* env = nullptr;
  if (config.contains("process") && config["process"].is_object() && config["process"].contains("env")) {
    env = &config["process"]["env"];
  }
  if (env != nullptr && env->is_array()) {
    const std::string prefix = std::string(kDevicesVariable) + "=";
    for (const nlohmann::json& entry : *env) {
      if (!entry.is_string()) continue;
      const std::string& text = entry.get_ref<const std::string&>();
      if (text.rfind(prefix, 0) != 0) continue;
      ForEachListEntry(std::string_view(text).substr(prefix.size()), [&](std::string_view item) {
        if (item.find('=') == std::string_view::npos) {
          AddOnce(result.names, std::string(item));
          return;
        }
        std::optional<QualifiedName> q = ParseQualifiedName(item);
        if (!q) {
          fail(std::string(kDevicesVariable) + ": '" + std::string(item) + "' is not a CDI device name");
        } else if (q->kind != kTgsKind) {
          fail(std::string(kDevicesVariable) + ": '" + std::string(item) + "' is not a " + std::string(kTgsKind) +
               " device");
        } else {
          AddOnce(result.names, q->name);
        }
      });
    }
  }
  if (config.contains("annotations") && config["annotations"].is_object()) {
    for (const auto& [key, value] : config["annotations"].items()) {
      if (key.rfind(kCdiAnnotationPrefix, 0) != 0 || !value.is_string()) continue;
      ForEachListEntry(value.get_ref<const std::string&>(), [&](std::string_view item) {
        std::optional<QualifiedName> q = ParseQualifiedName(item);
        if (!q) {
          fail("annotation " + key + ": '" + std::string(item) + "' is not a CDI device name (vendor/class=name)");
        } else if (q->kind == kTgsKind) {
          AddOnce(result.names, q->name);
        }
      });
    }
  }
  return result;
}

}  // namespace tgs::oci
