// Grants after Allocate. Allocate never learns the pod (the kubelet sends
// only device ids), so the plugin polls the kubelet's pod-resources API:
// - a grant whose devices a container holds is labelled with that
//   container's namespace, pod and name (its metrics and policy rules use
//   them);
// - a grant of this plugin whose devices no container has held for the grace
//   period is revoked (the pod is gone; the kubelet never says so).
// Nothing is revoked on a round where pod-resources (or the controller)
// could not be read: not knowing is not "nobody holds it".
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "container/device-plugin/controller_client.h"
#include "podresources/v1/api.pb.h"

namespace tgs::device_plugin {

// Who holds a device, as the kubelet reports it.
struct Holder {
  std::string namespace_name;
  std::string pod;
  std::string container;
  bool operator==(const Holder&) const = default;
  auto operator<=>(const Holder&) const = default;
};

// (resource, device id) -> holder, for the resources in `resources`.
std::map<std::pair<std::string, std::string>, Holder> HoldersOf(const v1::ListPodResourcesResponse& pods,
                                                                  const std::set<std::string>& resources);

class GrantKeeper {
 public:
  using Clock = std::chrono::steady_clock;
  GrantKeeper(std::string pod_resources_socket, std::set<std::string> resources, const ControllerClient* controller,
              std::chrono::milliseconds grace)
      : socket_(std::move(pod_resources_socket)),
        resources_(std::move(resources)),
        controller_(controller),
        grace_(grace) {}
  ~GrantKeeper() { Stop(); }

  // Rounds every `interval` on a thread of its own.
  void Start(std::chrono::milliseconds interval);
  void Stop();

  // One round at `now`: list pods, list grants, label, revoke.
  void RunOnce(Clock::time_point now);

 private:
  // The kubelet's List; false with *error.
  bool ListPods(v1::ListPodResourcesResponse* pods, std::string* error) const;
  void Unreadable(const std::string& error);

  std::string socket_;
  std::set<std::string> resources_;
  const ControllerClient* controller_;
  std::chrono::milliseconds grace_;
  std::map<std::string, Clock::time_point> unheld_since_;  // grant id -> first round nobody held it
  std::string last_error_;                                 // logged once until it changes

  std::thread thread_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;
};

}  // namespace tgs::device_plugin
