// What tgs-oci-runtime does to a bundle's config.json before `create` or
// `run`: find the TGS devices it requests (cdi_names.h), resolve them in the
// CDI specs (cdi_registry.h) and apply their edits (apply_edits.h).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "container/runtime/apply_edits.h"
#include "container/runtime/cdi_registry.h"

namespace tgs::oci {

// Set on a config once its devices are injected, listing them, so that a
// second `create` on the same bundle does not add hooks and rules twice.
inline constexpr const char* kInjectedAnnotation = "tgs.io/cdi-injected";

struct InjectionResult {
  bool changed = false;              // config was edited (write it back)
  std::vector<std::string> devices;  // the TGS devices the config requests
  std::string error;                 // non-empty: nothing may start; config is unusable
};

InjectionResult InjectRequestedDevices(nlohmann::json& config, const CdiRegistry& registry, const StatDeviceNode& stat);

}  // namespace tgs::oci
