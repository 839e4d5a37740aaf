// CDI container edits applied to an OCI runtime config (config.json), with
// the semantics of the CDI reference library (tags.cncf.io/container-device-
// interface, pkg/cdi/container-edits.go), so that a container started by
// tgs-oci-runtime gets what Docker, containerd or podman would give it for
// the same `--device tgs.io/gpu=...`:
//  - env "K=V" replaces an existing K in process.env, else is appended;
//  - a device node replaces the linux.devices entry with its path; its type,
//    major and minor come from the host node (hostPath, else path) when the
//    spec leaves them out; its uid/gid default to process.user's when
//    non-zero; a char or block node also gets a linux.resources.devices
//    allow rule with its permissions (default "rwm");
//  - a mount replaces every mount with its containerPath; after the edits
//    all mounts are ordered by depth of their destination, then by name, so
//    a parent is mounted before what is mounted inside it;
//  - hooks are appended to their hook list; additionalGids (non-zero) to
//    process.user.additionalGids.
// Spec-level edits are applied once, before the first device of that spec.
//
// Pure apart from the host's device nodes, which come through a callback.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "container/runtime/cdi_registry.h"

namespace tgs::oci {

struct DeviceNodeInfo {
  std::string type;  // "c", "b" or "p"
  int64_t major = 0;
  int64_t minor = 0;
};

// What the host node at `host_path` is; nullopt with `*error` when it is
// missing or not a device node.
using StatDeviceNode = std::function<std::optional<DeviceNodeInfo>(const std::string& host_path, std::string* error)>;

// stat(2) of the real host.
std::optional<DeviceNodeInfo> StatHostDeviceNode(const std::string& host_path, std::string* error);

// Applies one `containerEdits` object to `config`. Malformed edits change
// nothing and return false with `*error` naming the field. Does not order
// the mounts (InjectCdiDevices does, once).
bool ApplyContainerEdits(nlohmann::json& config, const nlohmann::json& edits, const StatDeviceNode& stat,
                         std::string* error);

// Orders config.mounts as CDI does after mount edits.
void SortMounts(nlohmann::json& config);

// Injects `devices` in order: each spec's edits before its first device,
// then the device's; mounts ordered at the end. On failure `config` may be
// partly edited (the caller discards it) and `*error` names the spec file
// and device.
bool InjectCdiDevices(nlohmann::json& config, const std::vector<const CdiDevice*>& devices, const StatDeviceNode& stat,
                      std::string* error);

// Two requested devices whose edits disagree on one env variable or one
// container mount path (e.g. production-0 with opportunistic-1: a container
// has one class and one grant socket). "" when they agree.
std::string FindConflictingDevices(const std::vector<const CdiDevice*>& devices);

}  // namespace tgs::oci
