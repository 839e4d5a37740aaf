// tgsctl's side of the admin protocol (controller/admin/admin_server.h): one
// JSON request line to the controller's admin socket, one JSON reply line.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace tgs::tgsctl {

enum class Failure { kNone, kUnreachable, kDenied, kProtocol };

struct Reply {
  Failure failure = Failure::kNone;
  std::string error;   // why, when failure != kNone
  nlohmann::json body;  // the controller's reply ({"ok": ...}) otherwise
};

// Waits at most `timeout_ms` for the reply.
Reply Request(const std::string& socket_path, const nlohmann::json& request, int timeout_ms = 5000);

}  // namespace tgs::tgsctl
