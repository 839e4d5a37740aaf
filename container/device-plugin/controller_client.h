// The plugin's side of tgs-controller's grant commands (container/
// INTERFACES.md, "Admin commands"), over the admin socket. Every reply is
// checked field by field: a controller answering something else is an error
// that names the field, never a crash or a half-built container.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tgs::device_plugin {

// The owner the plugin writes on its grants, to find them again.
inline constexpr const char* kGrantOwner = "tgs-device-plugin";

struct Grant {
  std::string id;  // 32 lowercase hex digits
  std::string class_name;
  uint64_t memory_limit_bytes = 0;
  std::vector<std::string> gpus;
  std::vector<std::string> devices;
  std::string resource;
  std::string owner;
  std::map<std::string, std::string> labels;
  double created_unix = 0;
  std::string socket_dir;  // host directory holding the grant's tgs.sock
};

// A GRANT object of a reply; nullopt with *error naming the field.
std::optional<Grant> GrantFromJson(const nlohmann::json& j, std::string* error);

struct GrantRequest {
  std::string class_name;
  uint64_t memory_limit_bytes = 0;
  std::string gpu;
  std::vector<std::string> devices;
  std::string resource;
};

class ControllerClient {
 public:
  explicit ControllerClient(std::string admin_socket, int timeout_ms = 5000)
      : socket_(std::move(admin_socket)), timeout_ms_(timeout_ms) {}

  std::optional<Grant> CreateGrant(const GrantRequest& request, std::string* error) const;
  // Every grant of the node (callers filter by owner and resource).
  std::optional<std::vector<Grant>> ListGrants(std::string* error) const;
  bool Label(const std::string& id, const std::map<std::string, std::string>& labels, std::string* error) const;
  bool Revoke(const std::string& id, std::string* error) const;

  const std::string& socket() const { return socket_; }

 private:
  // One request; the reply's body when it says ok, else nullopt with *error.
  std::optional<nlohmann::json> Call(const nlohmann::json& request, std::string* error) const;

  std::string socket_;
  int timeout_ms_;
};

}  // namespace tgs::device_plugin
