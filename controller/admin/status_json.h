// `tgsctl status --json`: the NodeStatus as a JSON document. The format is an
// interface for scripts: within "format": 1 fields are only ever added, never
// renamed or removed (documented in tools/tgsctl/README.md).
#pragma once

#include <nlohmann/json.hpp>

#include "controller/status/node_status.h"

namespace tgs::controller {

inline constexpr int kStatusFormat = 1;

nlohmann::json StatusToJson(const NodeStatus& status);

}  // namespace tgs::controller
