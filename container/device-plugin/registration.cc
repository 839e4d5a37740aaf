#include "container/device-plugin/registration.h"

#include <sys/stat.h>

#include <algorithm>

#include <grpcpp/grpcpp.h>

#include "deviceplugin/v1beta1/api.grpc.pb.h"
#include "shim/util/log.h"

namespace tgs::device_plugin {

bool RegisterWithKubelet(const std::string& kubelet_socket, const std::string& endpoint,
                         const std::string& resource_name, std::chrono::milliseconds timeout, std::string* error) {
  auto channel = grpc::CreateChannel("unix://" + kubelet_socket, grpc::InsecureChannelCredentials());
  auto stub = v1beta1::Registration::NewStub(channel);
  v1beta1::RegisterRequest request;
  request.set_version(kDevicePluginApiVersion);
  request.set_endpoint(endpoint);
  request.set_resource_name(resource_name);
  request.mutable_options()->set_pre_start_required(false);
  request.mutable_options()->set_get_preferred_allocation_available(true);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + timeout);
  context.set_wait_for_ready(true);  // the socket may be fresh; wait for it within the deadline
  v1beta1::Empty reply;
  grpc::Status status = stub->Register(&context, request, &reply);
  if (!status.ok()) {
    *error = "Register " + resource_name + " with the kubelet at " + kubelet_socket + ": " + status.error_message() +
             " (gRPC code " + std::to_string(static_cast<int>(status.error_code())) + ")";
    return false;
  }
  return true;
}

std::optional<PluginLifecycle::SocketIdentity> PluginLifecycle::KubeletSocket() const {
  struct stat st;
  if (stat(kubelet_socket_.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) return std::nullopt;
  return SocketIdentity{st.st_dev, st.st_ino, st.st_ctim.tv_sec, st.st_ctim.tv_nsec};
}

void PluginLifecycle::Restart(Plugin& p, const char* why) {
  if (p.server) {
    TGS_LOG_INFO("%s: %s; restarting its server", p.cls.ResourceName().c_str(), why);
    p.server->Stop();
    p.server.reset();
  }
  p.registered_with.reset();
}

void PluginLifecycle::Failed(Plugin& p, const std::string& error) {
  if (error != p.last_error) TGS_LOG_WARN("%s (retrying)", error.c_str());
  p.last_error = error;
  // 250 ms, doubling to 8 s: a kubelet that is starting answers soon, one
  // that refuses should not be hammered.
  p.backoff = std::clamp(p.backoff * 2, std::chrono::milliseconds(250), std::chrono::milliseconds(8000));
  p.next_attempt = std::chrono::steady_clock::now() + p.backoff;
}

void PluginLifecycle::Tick() {
  std::optional<SocketIdentity> kubelet = KubeletSocket();
  if (!kubelet && kubelet_seen_) TGS_LOG_WARN("waiting for the kubelet's %s", kubelet_socket_.c_str());
  kubelet_seen_ = kubelet.has_value();
  auto now = std::chrono::steady_clock::now();
  for (Plugin& p : plugins_) {
    if (p.server && !p.server->SocketPresent()) Restart(p, "its socket was removed");
    if (p.registered_with && !kubelet) Restart(p, "the kubelet's socket went away");
    if (p.registered_with && kubelet && *p.registered_with != *kubelet) Restart(p, "the kubelet restarted");
    if (now < p.next_attempt) continue;
    if (!p.server) {
      auto server = factory_(p.cls);
      std::string error;
      if (!server || !server->Start(&error)) {
        if (!server) error = "no server for this class";
        Failed(p, p.cls.ResourceName() + ": " + error);
        continue;
      }
      p.server = std::move(server);
    }
    if (!kubelet || p.registered_with) continue;
    std::string error;
    if (!RegisterWithKubelet(kubelet_socket_, p.cls.SocketName(), p.cls.ResourceName(),
                             std::chrono::milliseconds(3000), &error)) {
      Failed(p, error);
      continue;
    }
    p.registered_with = kubelet;
    p.backoff = std::chrono::milliseconds(0);
    p.last_error.clear();
    TGS_LOG_INFO("%s: registered with the kubelet (endpoint %s)", p.cls.ResourceName().c_str(),
                 p.cls.SocketName().c_str());
  }
}

void PluginLifecycle::StopAll() {
  for (Plugin& p : plugins_) {
    if (p.server) p.server->Stop();
    p.server.reset();
    p.registered_with.reset();
  }
}

int PluginLifecycle::Registered() const {
  return static_cast<int>(std::count_if(plugins_.begin(), plugins_.end(),
                                        [](const Plugin& p) { return p.registered_with.has_value(); }));
}

}  // namespace tgs::device_plugin
