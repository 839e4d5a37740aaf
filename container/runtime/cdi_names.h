// Which TGS devices an OCI bundle asks for: CDI device names from the
// container's `TGS_DEVICES` environment variable and from `cdi.k8s.io/*`
// annotations (the CDI annotation convention containerd and CRI-O use).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tgs::oci {

inline constexpr std::string_view kTgsKind = "tgs.io/gpu";
inline constexpr std::string_view kDevicesVariable = "TGS_DEVICES";
inline constexpr std::string_view kCdiAnnotationPrefix = "cdi.k8s.io/";

// A fully qualified CDI device name, "vendor.com/class=name".
struct QualifiedName {
  std::string kind;  // "vendor.com/class"
  std::string name;
  std::string Full() const { return kind + "=" + name; }
};

// Splits "vendor/class=name"; nullopt when `text` is not of that form.
std::optional<QualifiedName> ParseQualifiedName(std::string_view text);

struct RequestedDevices {
  std::vector<std::string> names;  // device names of kind tgs.io/gpu, in request order, each once
  std::string error;               // set when the request is malformed
};

// The tgs.io/gpu devices `config` (an OCI config.json) requests:
//  - `TGS_DEVICES=<list>` in process.env, comma-separated, each either a full
//    name ("tgs.io/gpu=opportunistic-0") or a short one ("opportunistic-0");
//    a full name of another kind is an error (the variable is TGS's);
//  - annotations "cdi.k8s.io/<anything>" whose value is a comma-separated
//    list of full names; names of other kinds are left for whoever handles
//    them, an entry that is no full name is an error.
RequestedDevices FindRequestedDevices(const nlohmann::json& config);

}  // namespace tgs::oci
