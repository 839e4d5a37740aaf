// Which container a process belongs to. The controller (a later stage) will
// verify this from the kernel's view; for now it comes from TGS_CONTAINER_ID
// or, when that is unset, from the process's cgroup, which every process of a
// container shares and which survives `env -i`.
#pragma once

#include <string>
#include <string_view>

namespace tgs {

// Empty string if `id` is acceptable, otherwise why not.
std::string ValidateContainerId(std::string_view id);

// "cgroup:<path>" from /proc/self/cgroup (the v2 unified entry "0::<path>",
// else the first v1 hierarchy). Empty with `*error` set on failure.
std::string ContainerIdFromCgroup(std::string* error);

// Same, from the text of a /proc/<pid>/cgroup file (exposed for tests).
std::string ContainerIdFromCgroupText(std::string_view text);

}  // namespace tgs
