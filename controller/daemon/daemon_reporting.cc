// The daemon's reporting side: the status of each control interval (for the
// Prometheus exporter and tgsctl), the admin requests, and the start counter.
#include <chrono>
#include <fstream>

#include "controller/daemon/daemon.h"
#include "controller/status/collect_status.h"
#include "controller/admin/status_json.h"
#include "shim/util/byte_size.h"
#include "shim/util/log.h"

#ifndef TGS_VERSION
#define TGS_VERSION "unknown"
#endif

namespace tgs::controller {
namespace {

nlohmann::json Error(const std::string& text) { return {{"ok", false}, {"error", text}}; }

}  // namespace

double Daemon::UnixNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Starts are counted in the state directory, which outlives the process:
// the metric tells an operator the controller has been restarting.
void Daemon::CountStart() {
  start_time_ = UnixNow();
  std::string path = policy_.controller.state_dir + "/controller-starts";
  uint64_t before = 0;
  if (std::ifstream in(path); in) in >> before;
  restarts_ = before;
  std::ofstream(path, std::ios::trunc) << before + 1 << "\n";
}

void Daemon::PublishStatus(const RegistrySnapshot& snapshot) {
  auto status = std::make_shared<NodeStatus>();
  status->time_seconds = UnixNow();
  CollectNodeStatus(snapshot, status.get());
  control_loop_->Report(snapshot, status.get());
  ControllerReport& c = status->controller;
  c.version = TGS_VERSION;
  c.policy_source = policy_.source;
  c.start_time_seconds = start_time_;
  c.restarts = restarts_;
  c.reloads = reloads_;
  c.failed_reloads = failed_reloads_;
  c.connections = registry_.ConnectionIds().size();
  ReportWatch(status.get());
  status_ = status;
  metrics_.Publish(std::move(status));
}

nlohmann::json Daemon::OnAdmin(const nlohmann::json& request, const AdminPeer& peer) {
  std::string command = request.value("command", "");
  if (command == "status") {
    if (!status_) return Error("no status yet: the controller has not completed a control interval");
    return {{"ok", true}, {"status", StatusToJson(*status_)}};
  }
  if (command == "set") {
    nlohmann::json reply = AdminSet(request);
    TGS_LOG_INFO("tgsctl set by pid %d (uid %u): %s -> %s", static_cast<int>(peer.pid), peer.uid,
                 request.dump().c_str(), reply.dump().c_str());
    return reply;
  }
  if (command == "grants") return AdminGrants();
  if (command == "grant" || command == "label" || command == "revoke") {
    nlohmann::json reply = command == "grant"   ? AdminGrant(request)
                           : command == "label" ? AdminLabel(request)
                                                : AdminRevoke(request);
    TGS_LOG_INFO("%s by pid %d (uid %u): %s", command.c_str(), static_cast<int>(peer.pid), peer.uid,
                 reply.value("ok", false) ? "done" : reply.value("error", "").c_str());
    return reply;
  }
  return Error("unknown command '" + command + "' (status, set, grant, grants, label, revoke)");
}

nlohmann::json Daemon::AdminSet(const nlohmann::json& request) {
  auto text = [&](const char* key) -> std::optional<std::string> {
    auto it = request.find(key);
    if (it == request.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
  };
  std::optional<std::string> key = text("container");
  if (!key || key->empty()) return Error("set needs a container (tgsctl status lists them)");
  Container* c = registry_.FindContainer(*key);
  if (c == nullptr) {
    // namespace/pod/container, as tgsctl status shows Kubernetes containers
    for (auto& [k, candidate] : registry_.containers()) {
      const auto& l = candidate.identity.labels;
      auto label = [&](const char* name) { return l.contains(name) ? l.at(name) : std::string(); };
      if (l.contains(kPodLabel) &&
          label(kNamespaceLabel) + "/" + label(kPodLabel) + "/" + label(kContainerNameLabel) == *key) {
        c = &candidate;
        key = k;
        break;
      }
    }
  }
  if (c == nullptr) return Error("no container '" + *key + "' is registered (tgsctl status lists them)");

  Override change;
  change.class_name = text("class");
  if (auto limit = text("memory_limit")) {
    std::string why;
    std::optional<uint64_t> bytes = ParseByteSize(*limit, &why);
    if (!bytes) return Error("memory_limit '" + *limit + "': " + why);
    change.memory_limit_bytes = *bytes;
  }
  if (auto it = request.find("weight"); it != request.end()) {
    if (!it->is_number_integer()) return Error("weight must be an integer from 1 to 1000");
    change.weight = it->get<int>();
  }
  change.persist = request.value("persist", false);
  if (auto why = Overrides::Validate(policy_, c->policy, change)) return Error(*why);

  overrides_.Set(*key, change);
  policy::ContainerPolicy p = PolicyFor(*c);
  std::string note;
  if (p.kind != c->policy.kind) note = "; running processes keep their class kind until they restart";
  c->policy = std::move(p);
  ApplyLimits(*c);
  if (change.persist) {
    std::string error;
    if (!overrides_.Save(policy_.controller.state_dir + "/" + kOverridesFileName, &error)) {
      return Error("applied, but not saved: " + error);
    }
  }
  std::string summary = *key + ": class " + c->policy.class_name + ", memory limit " +
                        (c->policy.memory_limit_bytes ? FormatByteSize(c->policy.memory_limit_bytes) : "none") +
                        ", weight " + std::to_string(c->policy.weight) +
                        (change.persist ? " (kept across reloads and restarts)" : " (until the next reload)") + note;
  TGS_LOG_INFO("%s", summary.c_str());
  return {{"ok", true}, {"message", summary}};
}

}  // namespace tgs::controller
