// The daemon's grants (controller/grants/grant.h): a socket per policy class
// and per Kubernetes allocation, whose connections get their policy from the
// socket itself; and the admin commands that manage allocations
// (container/INTERFACES.md).
#include <algorithm>

#include "controller/daemon/daemon.h"
#include "controller/daemon/peer.h"
#include "shim/util/gpu_uuid.h"
#include "shim/util/log.h"

namespace tgs::controller {
namespace {

nlohmann::json Error(const std::string& text) { return {{"ok", false}, {"error", text}}; }

std::string AllocationIdOf(const nlohmann::json& request, std::string* error) {
  auto it = request.find("id");
  if (it == request.end() || !it->is_string() || !IsAllocationId(it->get<std::string>())) {
    *error = "id must be an allocation id (32 lowercase hex digits; `grants` lists them)";
    return "";
  }
  return it->get<std::string>();
}

}  // namespace

void Daemon::LoadGrants() {
  std::string error;
  if (!grants_.Load(policy_.controller.state_dir + "/" + kGrantsFileName, &error)) {
    TGS_LOG_ERROR("%s; starting without the allocations it held: their pods' shims cannot reconnect until "
                  "tgs-device-plugin allocates again",
                  error.c_str());
  }
}

void Daemon::SaveGrants() {
  std::string error;
  if (!grants_.Save(&error)) TGS_LOG_ERROR("grants not saved: %s", error.c_str());
}

bool Daemon::OpenGrantSockets() {
  std::string error;
  if (!grant_sockets_.Open(policy_.controller.grant_dir, epoll_fd_, &error)) {
    TGS_LOG_ERROR("grant directory: %s", error.c_str());
    return false;
  }
  SyncClassGrants();
  std::vector<std::string> failed;
  for (const auto& [id, a] : grants_.allocations()) {
    if (!grant_sockets_.Add(a.GrantName(), &error)) {
      TGS_LOG_ERROR("allocation %s: %s", id.c_str(), error.c_str());
      failed.push_back(id);
    }
  }
  for (const std::string& id : failed) grants_.RemoveAllocation(id);
  if (!failed.empty()) SaveGrants();
  grant_sockets_.RemoveStale(grant_sockets_.Grants());
  TGS_LOG_INFO("grant sockets in %s: %zu class(es), %zu allocation(s)", policy_.controller.grant_dir.c_str(),
               policy_.classes.size(), grants_.allocations().size());
  return true;
}

void Daemon::SyncClassGrants() {
  std::string error;
  for (const auto& [name, spec] : policy_.classes) {
    if (!grant_sockets_.Add(kClassGrantPrefix + name, &error)) TGS_LOG_ERROR("class %s: %s", name.c_str(), error.c_str());
  }
  for (const std::string& grant : grant_sockets_.Grants()) {
    if (grant.starts_with(kClassGrantPrefix) && !policy_.classes.contains(grant.substr(sizeof kClassGrantPrefix - 1))) {
      TGS_LOG_INFO("class %s is gone from the policy; closing its socket", grant.c_str());
      grant_sockets_.Remove(grant);
    }
  }
}

std::string Daemon::CheckGrant(const Connection& conn, const std::string& key, const protocol::Hello& hello) {
  if (conn.grant.starts_with(kAllocGrantPrefix)) {
    const Allocation* a = grants_.FindAllocation(conn.grant.substr(sizeof kAllocGrantPrefix - 1));
    if (a == nullptr) return "allocation " + conn.grant + " was revoked";
    if (!a->gpus.empty()) {
      for (uint32_t i = 0; i < hello.gpu_count && i < std::size(hello.gpu_uuids); ++i) {
        std::string uuid = FormatGpuUuid(hello.gpu_uuids[i]);
        if (std::find(a->gpus.begin(), a->gpus.end(), uuid) == a->gpus.end()) {
          std::string given;
          for (const std::string& g : a->gpus) given += (given.empty() ? "" : ", ") + g;
          return "the container sees " + uuid + ", which its allocation does not include (" + given +
                 "); a container may use only the GPUs it was allocated";
        }
      }
    }
  }
  const Container* c = registry_.FindContainer(key);
  if (c != nullptr && c->grant != conn.grant && !c->connections.empty()) {
    auto name = [](const std::string& g) { return g.empty() ? std::string("controller.socket") : "grant " + g; };
    return "its container registered through " + name(c->grant) + "; a process of it connecting through " +
           name(conn.grant) + " is refused (mount one TGS socket per container)";
  }
  return "";
}

void Daemon::BindGrant(Container& c, const std::string& grant) {
  TGS_LOG_INFO("%s: now through %s (was %s)", c.key.c_str(), grant.empty() ? "controller.socket" : grant.c_str(),
               c.grant.empty() ? "controller.socket" : c.grant.c_str());
  std::string cgroup = c.identity.cgroup;
  c.grant = grant;
  c.identity = IdentityFor(c.key, grant);
  if (c.identity.cgroup.empty()) c.identity.cgroup = cgroup;
  c.policy = PolicyFor(c);
  ApplyLimits(c);
}

void Daemon::RememberClassGrant(const Container& c) {
  if (c.key.starts_with(kAllocGrantPrefix)) return;  // the key names the grant
  std::string cls = c.grant.starts_with(kClassGrantPrefix) ? c.grant.substr(sizeof kClassGrantPrefix - 1) : "";
  if (grants_.ClassBinding(c.key) == cls) return;
  if (cls.empty()) {
    grants_.UnbindClass(c.key);
  } else {
    grants_.BindClass(c.key, cls);
  }
  SaveGrants();
}

nlohmann::json Daemon::GrantJson(const Allocation& a) const {
  nlohmann::json j = AllocationToJson(a);
  std::string dir = grant_sockets_.DirectoryOf(a.GrantName());
  j["socket_dir"] = dir;
  j["socket"] = dir + "/tgs.sock";
  const Container* c = registry_.FindContainer(a.GrantName());
  j["processes"] = c == nullptr ? 0 : c->connections.size();
  return j;
}

nlohmann::json Daemon::AdminGrant(const nlohmann::json& request) {
  std::string error;
  std::optional<Allocation> a = AllocationFromRequest(request, policy_, &error);
  if (!a) return Error(error);
  std::string grant = a->GrantName();
  if (!grant_sockets_.Add(grant, &error)) return Error(error);
  grants_.AddAllocation(*a);
  if (!grants_.Save(&error)) {
    grants_.RemoveAllocation(a->id);
    grant_sockets_.Remove(grant);
    return Error("allocation not kept: " + error);
  }
  std::string limit = a->memory_limit_bytes ? std::to_string(a->memory_limit_bytes) + " bytes" : "the class's limit";
  TGS_LOG_INFO("allocation %s: class %s, memory limit %s, %zu GPU(s), for %s", a->id.c_str(), a->class_name.c_str(),
               limit.c_str(), a->gpus.size(), a->owner.empty() ? "?" : a->owner.c_str());
  return {{"ok", true}, {"grant", GrantJson(*a)}};
}

nlohmann::json Daemon::AdminGrants() const {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& [id, a] : grants_.allocations()) list.push_back(GrantJson(a));
  return {{"ok", true}, {"grant_dir", policy_.controller.grant_dir}, {"grants", list}};
}

nlohmann::json Daemon::AdminLabel(const nlohmann::json& request) {
  std::string error;
  std::string id = AllocationIdOf(request, &error);
  if (id.empty()) return Error(error);
  Allocation* a = grants_.FindAllocation(id);
  if (a == nullptr) return Error("no allocation " + id + " (revoked, or never made; `grants` lists them)");
  auto labels = LabelsFromRequest(request, &error);
  if (!labels) return Error(error);
  if (*labels == a->labels) return {{"ok", true}, {"grant", GrantJson(*a)}};
  a->labels = std::move(*labels);
  SaveGrants();
  if (Container* c = registry_.FindContainer(a->GrantName())) {
    c->identity.labels = IdentityLabels(*a);
  }
  std::string text;
  for (const auto& [k, v] : a->labels) text += (text.empty() ? "" : ", ") + k + "=" + v;
  TGS_LOG_INFO("allocation %s: labels %s", id.c_str(), text.c_str());
  return {{"ok", true}, {"grant", GrantJson(*a)}};
}

nlohmann::json Daemon::AdminRevoke(const nlohmann::json& request) {
  std::string error;
  std::string id = AllocationIdOf(request, &error);
  if (id.empty()) return Error(error);
  const Allocation* a = grants_.FindAllocation(id);
  if (a == nullptr) return Error("no allocation " + id + " (revoked, or never made; `grants` lists them)");
  std::string grant = a->GrantName();
  grant_sockets_.Remove(grant);
  grants_.RemoveAllocation(id);
  SaveGrants();
  // Processes still connected keep running under the policy they have;
  // nothing new can connect.
  const Container* c = registry_.FindContainer(grant);
  TGS_LOG_INFO("allocation %s revoked%s", id.c_str(),
               c != nullptr && !c->connections.empty() ? "; its running processes keep their policy" : "");
  return {{"ok", true}};
}

}  // namespace tgs::controller
