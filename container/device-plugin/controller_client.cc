#include "container/device-plugin/controller_client.h"

#include "tools/tgsctl/admin_client.h"

namespace tgs::device_plugin {
namespace {

bool IsGrantId(const std::string& id) {
  if (id.size() != 32) return false;
  for (char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool ReadString(const nlohmann::json& j, const char* field, std::string* out, std::string* error) {
  auto it = j.find(field);
  if (it == j.end() || !it->is_string()) {
    *error = std::string("grant field '") + field + "' is missing or not a string";
    return false;
  }
  *out = it->get<std::string>();
  return true;
}

bool ReadStrings(const nlohmann::json& j, const char* field, std::vector<std::string>* out, std::string* error) {
  auto it = j.find(field);
  if (it == j.end() || !it->is_array()) {
    *error = std::string("grant field '") + field + "' is missing or not a list";
    return false;
  }
  for (const nlohmann::json& e : *it) {
    if (!e.is_string()) {
      *error = std::string("grant field '") + field + "' holds a non-string";
      return false;
    }
    out->push_back(e.get<std::string>());
  }
  return true;
}

}  // namespace

std::optional<Grant> GrantFromJson(const nlohmann::json& j, std::string* error) {
  if (!j.is_object()) {
    *error = "grant is not a JSON object";
    return std::nullopt;
  }
  Grant g;
  if (!ReadString(j, "id", &g.id, error)) return std::nullopt;
  if (!IsGrantId(g.id)) {
    *error = "grant id '" + g.id + "' is not 32 lowercase hex digits";
    return std::nullopt;
  }
  auto fail = [&](const std::string& what) {
    *error = "grant " + g.id + ": " + what;
    return std::nullopt;
  };
  std::string why;
  if (!ReadString(j, "class", &g.class_name, &why) || !ReadStrings(j, "gpus", &g.gpus, &why) ||
      !ReadStrings(j, "devices", &g.devices, &why) || !ReadString(j, "resource", &g.resource, &why) ||
      !ReadString(j, "owner", &g.owner, &why) || !ReadString(j, "socket_dir", &g.socket_dir, &why)) {
    return fail(why);
  }
  if (g.class_name.empty()) return fail("empty class");
  if (g.socket_dir.empty() || g.socket_dir[0] != '/') {
    return fail("socket_dir '" + g.socket_dir + "' is not an absolute path");
  }
  auto limit = j.find("memory_limit_bytes");
  if (limit == j.end() || !limit->is_number_unsigned()) {
    return fail("memory_limit_bytes is missing or not a non-negative integer");
  }
  g.memory_limit_bytes = limit->get<uint64_t>();
  auto created = j.find("created_unix");
  if (created == j.end() || !created->is_number()) return fail("created_unix is missing or not a number");
  g.created_unix = created->get<double>();
  auto labels = j.find("labels");
  if (labels == j.end() || !labels->is_object()) return fail("labels is missing or not an object");
  for (const auto& [key, value] : labels->items()) {
    if (!value.is_string()) return fail("label '" + key + "' is not a string");
    g.labels[key] = value.get<std::string>();
  }
  return g;
}

std::optional<nlohmann::json> ControllerClient::Call(const nlohmann::json& request, std::string* error) const {
  const std::string command = request.value("command", "");
  tgsctl::Reply reply = tgsctl::Request(socket_, request, timeout_ms_);
  if (reply.failure != tgsctl::Failure::kNone) {
    *error = "tgs-controller at " + socket_ + " (" + command + "): " + reply.error;
    return std::nullopt;
  }
  const nlohmann::json& body = reply.body;
  if (!body.is_object() || !body.contains("ok") || !body["ok"].is_boolean()) {
    *error = "tgs-controller at " + socket_ + " answered " + command + " without an \"ok\" field";
    return std::nullopt;
  }
  if (!body["ok"].get<bool>()) {
    std::string why = body.contains("error") && body["error"].is_string() ? body["error"].get<std::string>()
                                                                          : "(no error text)";
    *error = "tgs-controller refused " + command + ": " + why;
    return std::nullopt;
  }
  return body;
}

std::optional<Grant> ControllerClient::CreateGrant(const GrantRequest& request, std::string* error) const {
  nlohmann::json j = {{"command", "grant"},
                      {"class", request.class_name},
                      {"memory_limit_bytes", request.memory_limit_bytes},
                      {"gpus", nlohmann::json::array({request.gpu})},
                      {"devices", request.devices},
                      {"resource", request.resource},
                      {"owner", kGrantOwner}};
  std::optional<nlohmann::json> body = Call(j, error);
  if (!body) return std::nullopt;
  if (!body->contains("grant")) {
    *error = "tgs-controller answered grant without a \"grant\" object";
    return std::nullopt;
  }
  std::string why;
  std::optional<Grant> g = GrantFromJson((*body)["grant"], &why);
  if (!g) {
    *error = "tgs-controller's grant reply: " + why;
    return std::nullopt;
  }
  return g;
}

std::optional<std::vector<Grant>> ControllerClient::ListGrants(std::string* error) const {
  std::optional<nlohmann::json> body = Call({{"command", "grants"}}, error);
  if (!body) return std::nullopt;
  auto list = body->find("grants");
  if (list == body->end() || !list->is_array()) {
    *error = "tgs-controller answered grants without a \"grants\" list";
    return std::nullopt;
  }
  std::vector<Grant> grants;
  for (const nlohmann::json& j : *list) {
    std::string why;
    std::optional<Grant> g = GrantFromJson(j, &why);
    if (!g) {
      *error = "tgs-controller's grants reply: " + why;
      return std::nullopt;
    }
    grants.push_back(std::move(*g));
  }
  return grants;
}

bool ControllerClient::Label(const std::string& id, const std::map<std::string, std::string>& labels,
                             std::string* error) const {
  return Call({{"command", "label"}, {"id", id}, {"labels", labels}}, error).has_value();
}

bool ControllerClient::Revoke(const std::string& id, std::string* error) const {
  return Call({{"command", "revoke"}, {"id", id}}, error).has_value();
}

}  // namespace tgs::device_plugin
