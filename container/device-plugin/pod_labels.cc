#include "container/device-plugin/pod_labels.h"

#include <grpcpp/grpcpp.h>

#include "podresources/v1/api.grpc.pb.h"
#include "shim/util/log.h"

namespace tgs::device_plugin {

std::map<std::pair<std::string, std::string>, Holder> HoldersOf(const v1::ListPodResourcesResponse& pods,
                                                                  const std::set<std::string>& resources) {
  std::map<std::pair<std::string, std::string>, Holder> holders;
  for (const v1::PodResources& pod : pods.pod_resources()) {
    for (const v1::ContainerResources& container : pod.containers()) {
      for (const v1::ContainerDevices& devices : container.devices()) {
        if (!resources.contains(devices.resource_name())) continue;
        for (const std::string& id : devices.device_ids()) {
          holders[{devices.resource_name(), id}] = Holder{pod.namespace_(), pod.name(), container.name()};
        }
      }
    }
  }
  return holders;
}

bool GrantKeeper::ListPods(v1::ListPodResourcesResponse* pods, std::string* error) const {
  auto channel = grpc::CreateChannel("unix://" + socket_, grpc::InsecureChannelCredentials());
  auto stub = v1::PodResourcesLister::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  grpc::Status status = stub->List(&context, v1::ListPodResourcesRequest(), pods);
  if (!status.ok()) {
    *error = "cannot read the kubelet's pod resources at " + socket_ + ": " + status.error_message();
    return false;
  }
  return true;
}

void GrantKeeper::Unreadable(const std::string& error) {
  if (error != last_error_) TGS_LOG_WARN("%s; grants are neither labelled nor revoked until it answers", error.c_str());
  last_error_ = error;
  // The grace restarts once both answer again: time nobody could look is
  // not time a grant was seen unused.
  unheld_since_.clear();
}

void GrantKeeper::RunOnce(Clock::time_point now) {
  v1::ListPodResourcesResponse pods;
  std::string error;
  if (!ListPods(&pods, &error)) return Unreadable(error);
  std::optional<std::vector<Grant>> all = controller_->ListGrants(&error);
  if (!all) return Unreadable(error);
  if (!last_error_.empty()) TGS_LOG_INFO("pod resources and tgs-controller answer again");
  last_error_.clear();

  std::vector<const Grant*> ours;
  for (const Grant& g : *all) {
    if (g.owner == kGrantOwner && resources_.contains(g.resource)) ours.push_back(&g);
  }
  // A device the kubelet handed out again belongs to the newest grant that
  // names it; older ones are leftovers that Allocate could not revoke.
  std::map<std::pair<std::string, std::string>, const Grant*> newest;
  for (const Grant* g : ours) {
    for (const std::string& d : g->devices) {
      const Grant*& slot = newest[{g->resource, d}];
      if (slot == nullptr || g->created_unix > slot->created_unix ||
          (g->created_unix == slot->created_unix && g->id > slot->id)) {
        slot = g;
      }
    }
  }
  auto holders = HoldersOf(pods, resources_);

  std::set<std::string> present;
  for (const Grant* g : ours) {
    present.insert(g->id);
    // The holder of most of the grant's devices (a container holds all of
    // them; anything else is a kubelet in flux).
    std::map<Holder, int> votes;
    for (const std::string& d : g->devices) {
      std::pair<std::string, std::string> key{g->resource, d};
      auto h = holders.find(key);
      if (h != holders.end() && newest[key] == g) ++votes[h->second];
    }
    if (votes.empty()) {
      auto [since, fresh] = unheld_since_.try_emplace(g->id, now);
      if (fresh || now - since->second < grace_) continue;
      if (controller_->Revoke(g->id, &error)) {
        TGS_LOG_INFO("%s: revoked grant %s: no pod has held its devices for %lld ms", g->resource.c_str(),
                     g->id.c_str(),
                     static_cast<long long>(
                         std::chrono::duration_cast<std::chrono::milliseconds>(now - since->second).count()));
        unheld_since_.erase(since);
      } else {
        TGS_LOG_WARN("%s: cannot revoke grant %s: %s", g->resource.c_str(), g->id.c_str(), error.c_str());
      }
      continue;
    }
    unheld_since_.erase(g->id);
    const Holder& holder =
        std::max_element(votes.begin(), votes.end(), [](auto& a, auto& b) { return a.second < b.second; })->first;
    std::map<std::string, std::string> labels = {
        {"namespace", holder.namespace_name}, {"pod", holder.pod}, {"container", holder.container}};
    if (g->labels == labels) continue;
    if (controller_->Label(g->id, labels, &error)) {
      TGS_LOG_INFO("%s: grant %s is %s/%s/%s", g->resource.c_str(), g->id.c_str(), holder.namespace_name.c_str(),
                   holder.pod.c_str(), holder.container.c_str());
    } else {
      TGS_LOG_WARN("%s: cannot label grant %s: %s", g->resource.c_str(), g->id.c_str(), error.c_str());
    }
  }
  std::erase_if(unheld_since_, [&](const auto& entry) { return !present.contains(entry.first); });
}

void GrantKeeper::Start(std::chrono::milliseconds interval) {
  thread_ = std::thread([this, interval] {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      lock.unlock();
      RunOnce(Clock::now());
      lock.lock();
      wake_.wait_for(lock, interval, [&] { return stop_; });
    }
  });
}

void GrantKeeper::Stop() {
  {
    std::lock_guard<std::mutex> guard(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace tgs::device_plugin
