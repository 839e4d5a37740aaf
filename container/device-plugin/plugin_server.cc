#include "container/device-plugin/plugin_server.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "shim/util/log.h"

namespace tgs::device_plugin {

v1beta1::ListAndWatchResponse DeviceList(const ResourceModel& model, const HealthBoard& board) {
  v1beta1::ListAndWatchResponse list;
  for (size_t g = 0; g < model.gpus().size(); ++g) {
    const char* health = board.Healthy(g) ? kHealthy : kUnhealthy;
    for (const std::string& id : model.DeviceIdsOf(g)) {
      v1beta1::Device* d = list.add_devices();
      d->set_id(id);
      d->set_health(health);
    }
  }
  return list;
}

bool PluginServer::Start(std::string* error) {
  // A socket left by an earlier run (or a kubelet that kept it) is ours to replace.
  if (unlink(socket_path_.c_str()) != 0 && errno != ENOENT) {
    *error = "cannot remove old " + socket_path_ + ": " + std::strerror(errno);
    return false;
  }
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("unix://" + socket_path_, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(this);
  server_ = builder.BuildAndStart();
  struct stat st;
  if (server_ == nullptr || stat(socket_path_.c_str(), &st) != 0) {
    *error = "cannot serve " + class_.ResourceName() + " on " + socket_path_ +
             (server_ == nullptr ? " (gRPC could not bind it)" : std::string(" (") + std::strerror(errno) + ")");
    server_.reset();
    return false;
  }
  socket_dev_ = st.st_dev;
  socket_ino_ = st.st_ino;
  TGS_LOG_INFO("%s: serving on %s", class_.ResourceName().c_str(), socket_path_.c_str());
  return true;
}

bool PluginServer::SocketPresent() const {
  struct stat st;
  return server_ != nullptr && stat(socket_path_.c_str(), &st) == 0 && st.st_dev == socket_dev_ &&
         st.st_ino == socket_ino_;
}

void PluginServer::Stop() {
  if (server_ == nullptr) return;
  stopping_ = true;
  board_->Wake();  // ListAndWatch streams see stopping_ and return
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  server_->Wait();
  // Only our own socket: the kubelet (or a newer plugin) may have put
  // another one there since.
  struct stat st;
  if (stat(socket_path_.c_str(), &st) == 0 && st.st_dev == socket_dev_ && st.st_ino == socket_ino_) {
    unlink(socket_path_.c_str());
  }
  server_.reset();
}

grpc::Status PluginServer::GetDevicePluginOptions(grpc::ServerContext*, const v1beta1::Empty*,
                                                  v1beta1::DevicePluginOptions* response) {
  response->set_pre_start_required(false);
  response->set_get_preferred_allocation_available(true);
  return grpc::Status::OK;
}

grpc::Status PluginServer::ListAndWatch(grpc::ServerContext* context, const v1beta1::Empty*,
                                        grpc::ServerWriter<v1beta1::ListAndWatchResponse>* writer) {
  uint64_t sent = board_->generation();
  if (!writer->Write(DeviceList(*model_, *board_))) return grpc::Status::OK;
  TGS_LOG_INFO("%s: ListAndWatch stream opened", class_.ResourceName().c_str());
  while (!stopping_ && !context->IsCancelled()) {
    // The timeout only bounds how late a cancelled stream notices.
    uint64_t now = board_->WaitForChange(sent, std::chrono::milliseconds(500));
    if (now == sent) continue;
    sent = now;
    if (!writer->Write(DeviceList(*model_, *board_))) break;
    TGS_LOG_INFO("%s: sent the device list again (health changed)", class_.ResourceName().c_str());
  }
  return grpc::Status::OK;
}

grpc::Status PluginServer::GetPreferredAllocation(grpc::ServerContext*,
                                                  const v1beta1::PreferredAllocationRequest* request,
                                                  v1beta1::PreferredAllocationResponse* response) {
  for (const v1beta1::ContainerPreferredAllocationRequest& c : request->container_requests()) {
    std::vector<std::string> available(c.available_deviceids().begin(), c.available_deviceids().end());
    std::vector<std::string> must(c.must_include_deviceids().begin(), c.must_include_deviceids().end());
    std::string error;
    std::optional<std::vector<std::string>> chosen = model_->Prefer(available, must, c.allocation_size(), &error);
    if (!chosen) {
      error = class_.ResourceName() + ": " + error;
      TGS_LOG_WARN("GetPreferredAllocation refused: %s", error.c_str());
      return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, error);
    }
    v1beta1::ContainerPreferredAllocationResponse* out = response->add_container_responses();
    for (const std::string& id : *chosen) out->add_deviceids(id);
  }
  return grpc::Status::OK;
}

grpc::Status PluginServer::Allocate(grpc::ServerContext*, const v1beta1::AllocateRequest* request,
                                    v1beta1::AllocateResponse* response) {
  std::string error;
  if (!allocator_->Allocate(*request, response, &error)) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, error);
  }
  return grpc::Status::OK;
}

grpc::Status PluginServer::PreStartContainer(grpc::ServerContext*, const v1beta1::PreStartContainerRequest*,
                                             v1beta1::PreStartContainerResponse*) {
  return grpc::Status::OK;  // pre_start_required is false: nothing to prepare
}

}  // namespace tgs::device_plugin
