// `tgsctl status` for people: the controller's JSON status (tools/tgsctl/README.md)
// as a table per GPU.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace tgs::tgsctl {

std::string StatusTable(const nlohmann::json& status);

}  // namespace tgs::tgsctl
