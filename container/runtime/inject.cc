#include "container/runtime/inject.h"

#include "container/runtime/cdi_names.h"

namespace tgs::oci {

InjectionResult InjectRequestedDevices(nlohmann::json& config, const CdiRegistry& registry,
                                       const StatDeviceNode& stat) {
  InjectionResult result;
  if (!config.is_object()) {
    result.error = "config.json is not a JSON object";
    return result;
  }
  if (config.contains("annotations") && config["annotations"].is_object() &&
      config["annotations"].contains(kInjectedAnnotation)) {
    return result;  // injected by an earlier create of this bundle
  }
  RequestedDevices requested = FindRequestedDevices(config);
  if (!requested.error.empty()) {
    result.error = requested.error;
    return result;
  }
  result.devices = requested.names;
  if (requested.names.empty()) return result;

  std::vector<const CdiDevice*> devices;
  for (const std::string& name : requested.names) {
    std::string error;
    const CdiDevice* device = registry.Find(name, &error);
    if (device == nullptr) {
      result.error = error;
      return result;
    }
    devices.push_back(device);
  }
  if (std::string conflict = FindConflictingDevices(devices); !conflict.empty()) {
    result.error = conflict + "; a container gets devices of one class";
    return result;
  }
  std::string error;
  if (!InjectCdiDevices(config, devices, stat, &error)) {
    result.error = error;
    return result;
  }
  std::string list;
  for (const std::string& name : requested.names)
    list += (list.empty() ? "" : ",") + std::string(kTgsKind) + "=" + name;
  if (!config.contains("annotations") || !config["annotations"].is_object())
    config["annotations"] = nlohmann::json::object();
  config["annotations"][kInjectedAnnotation] = list;
  result.changed = true;
  return result;
}

}  // namespace tgs::oci
