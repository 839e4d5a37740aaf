// A stand-in for the kubelet's side of the device plugin exchange, on Unix
// sockets in a temp directory:
// - Registration on <dir>/kubelet.sock. Like the kubelet, after a Register
//   it dials the plugin's endpoint, asks GetDevicePluginOptions and keeps a
//   ListAndWatch stream open, recording every device list it receives.
// - PodResourcesLister on its own socket, answering List with whatever the
//   test sets (or failing, as a kubelet that cannot be read).
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "deviceplugin/v1beta1/api.grpc.pb.h"
#include "podresources/v1/api.grpc.pb.h"

namespace tgs::device_plugin_test {

using namespace std::chrono_literals;

// One plugin endpoint as the kubelet sees it after Register.
class PluginConnection {
 public:
  PluginConnection(std::string socket_path, v1beta1::RegisterRequest registration);
  ~PluginConnection();
  PluginConnection(const PluginConnection&) = delete;
  PluginConnection& operator=(const PluginConnection&) = delete;

  const v1beta1::RegisterRequest& registration() const { return registration_; }
  // What GetDevicePluginOptions returned (nullopt-like: ok=false if it failed).
  bool options_ok() const { return options_ok_; }
  const v1beta1::DevicePluginOptions& options() const { return options_; }

  // Every ListAndWatch message so far.
  std::vector<v1beta1::ListAndWatchResponse> Updates() const;
  // Waits until a list received as message `from` or later satisfies
  // `want`; that list, or nullopt.
  std::optional<v1beta1::ListAndWatchResponse> WaitForList(
      const std::function<bool(const v1beta1::ListAndWatchResponse&)>& want, std::chrono::milliseconds timeout,
      size_t from = 0) const;
  size_t UpdateCount() const;

  v1beta1::DevicePlugin::Stub& stub() { return *stub_; }

 private:
  std::string socket_path_;
  v1beta1::RegisterRequest registration_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1beta1::DevicePlugin::Stub> stub_;
  bool options_ok_ = false;
  v1beta1::DevicePluginOptions options_;
  grpc::ClientContext stream_context_;
  std::thread reader_;
  mutable std::mutex mu_;
  mutable std::condition_variable updated_;
  std::vector<v1beta1::ListAndWatchResponse> updates_;
};

class FakeKubelet final : public v1beta1::Registration::Service {
 public:
  explicit FakeKubelet(std::string dir) : dir_(std::move(dir)) {}
  ~FakeKubelet() override { Stop(); }

  // Serves <dir>/kubelet.sock (a fresh socket each time).
  bool Start(std::string* error);
  // Stops serving, drops the plugin connections and removes kubelet.sock,
  // as a kubelet going down does.
  void Stop();

  grpc::Status Register(grpc::ServerContext* context, const v1beta1::RegisterRequest* request,
                        v1beta1::Empty* response) override;

  // Registrations received since Start, in order.
  std::vector<v1beta1::RegisterRequest> Registrations() const;
  bool WaitForRegistrations(size_t count, std::chrono::milliseconds timeout) const;
  // The latest connection for a resource (after its Register), or nullptr.
  PluginConnection* Connection(const std::string& resource) const;

  std::string socket_path() const { return dir_ + "/kubelet.sock"; }

 private:
  std::string dir_;
  std::unique_ptr<grpc::Server> server_;
  mutable std::mutex mu_;
  mutable std::condition_variable registered_;
  std::vector<v1beta1::RegisterRequest> registrations_;
  std::map<std::string, std::unique_ptr<PluginConnection>> connections_;
  std::vector<std::unique_ptr<PluginConnection>> replaced_;  // kept until Stop: a stream may still be reading
};

class FakePodResources final : public v1::PodResourcesLister::Service {
 public:
  explicit FakePodResources(std::string socket_path) : socket_path_(std::move(socket_path)) {}
  ~FakePodResources() override { Stop(); }

  bool Start(std::string* error);
  void Stop();

  void SetPods(const v1::ListPodResourcesResponse& pods);
  // While failing, List answers UNAVAILABLE.
  void SetFailing(bool failing);
  int ListCalls() const;

  grpc::Status List(grpc::ServerContext* context, const v1::ListPodResourcesRequest* request,
                    v1::ListPodResourcesResponse* response) override;

 private:
  std::string socket_path_;
  std::unique_ptr<grpc::Server> server_;
  mutable std::mutex mu_;
  v1::ListPodResourcesResponse pods_;
  bool failing_ = false;
  int calls_ = 0;
};

// A pod with one container holding `device_ids` of `resource`.
v1::PodResources PodHolding(const std::string& ns, const std::string& pod, const std::string& container,
                            const std::string& resource, const std::vector<std::string>& device_ids);

}  // namespace tgs::device_plugin_test
