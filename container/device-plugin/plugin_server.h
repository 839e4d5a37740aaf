// One resource's DevicePlugin service (tgs.io/<class>-gib) on its own Unix
// socket in the kubelet directory. A PluginServer serves once: to restart it
// (the kubelet came back, the socket was removed) make a new one.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "container/device-plugin/allocate.h"
#include "container/device-plugin/health_monitor.h"
#include "container/device-plugin/options.h"
#include "container/device-plugin/resource_model.h"
#include "deviceplugin/v1beta1/api.grpc.pb.h"

namespace tgs::device_plugin {

inline constexpr const char* kHealthy = "Healthy";
inline constexpr const char* kUnhealthy = "Unhealthy";

// The device list ListAndWatch sends: every device of every GPU, with its
// GPU's health from `board`.
v1beta1::ListAndWatchResponse DeviceList(const ResourceModel& model, const HealthBoard& board);

class PluginServer final : public v1beta1::DevicePlugin::Service {
 public:
  PluginServer(ClassOption cls, std::string socket_path, const ResourceModel* model, HealthBoard* board,
               const Allocator* allocator)
      : class_(std::move(cls)),
        socket_path_(std::move(socket_path)),
        model_(model),
        board_(board),
        allocator_(allocator) {}
  ~PluginServer() override { Stop(); }

  // Replaces whatever is at the socket path and serves. False with *error.
  bool Start(std::string* error);
  // Ends the ListAndWatch streams, stops serving and removes the socket if
  // it is still the one this server made.
  void Stop();
  // Whether the socket this server made is still at its path (the kubelet
  // removes plugin sockets when it restarts).
  bool SocketPresent() const;

  const ClassOption& class_option() const { return class_; }
  const std::string& socket_path() const { return socket_path_; }

  grpc::Status GetDevicePluginOptions(grpc::ServerContext* context, const v1beta1::Empty* request,
                                      v1beta1::DevicePluginOptions* response) override;
  grpc::Status ListAndWatch(grpc::ServerContext* context, const v1beta1::Empty* request,
                            grpc::ServerWriter<v1beta1::ListAndWatchResponse>* writer) override;
  grpc::Status GetPreferredAllocation(grpc::ServerContext* context, const v1beta1::PreferredAllocationRequest* request,
                                      v1beta1::PreferredAllocationResponse* response) override;
  grpc::Status Allocate(grpc::ServerContext* context, const v1beta1::AllocateRequest* request,
                        v1beta1::AllocateResponse* response) override;
  grpc::Status PreStartContainer(grpc::ServerContext* context, const v1beta1::PreStartContainerRequest* request,
                                 v1beta1::PreStartContainerResponse* response) override;

 private:
  ClassOption class_;
  std::string socket_path_;
  const ResourceModel* model_;
  HealthBoard* board_;
  const Allocator* allocator_;
  std::unique_ptr<grpc::Server> server_;
  std::atomic<bool> stopping_{false};
  dev_t socket_dev_ = 0;
  ino_t socket_ino_ = 0;
};

}  // namespace tgs::device_plugin
