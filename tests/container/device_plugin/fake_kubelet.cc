#include "tests/container/device_plugin/fake_kubelet.h"

#include <unistd.h>

namespace tgs::device_plugin_test {

PluginConnection::PluginConnection(std::string socket_path, v1beta1::RegisterRequest registration)
    : socket_path_(std::move(socket_path)), registration_(std::move(registration)) {
  channel_ = grpc::CreateChannel("unix://" + socket_path_, grpc::InsecureChannelCredentials());
  stub_ = v1beta1::DevicePlugin::NewStub(channel_);
  {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 5s);
    options_ok_ = stub_->GetDevicePluginOptions(&context, v1beta1::Empty(), &options_).ok();
  }
  reader_ = std::thread([this] {
    auto stream = stub_->ListAndWatch(&stream_context_, v1beta1::Empty());
    v1beta1::ListAndWatchResponse list;
    while (stream->Read(&list)) {
      {
        std::lock_guard<std::mutex> guard(mu_);
        updates_.push_back(list);
      }
      updated_.notify_all();
    }
    stream->Finish();
  });
}

PluginConnection::~PluginConnection() {
  stream_context_.TryCancel();
  if (reader_.joinable()) reader_.join();
}

size_t PluginConnection::UpdateCount() const {
  std::lock_guard<std::mutex> guard(mu_);
  return updates_.size();
}

std::vector<v1beta1::ListAndWatchResponse> PluginConnection::Updates() const {
  std::lock_guard<std::mutex> guard(mu_);
  return updates_;
}

std::optional<v1beta1::ListAndWatchResponse> PluginConnection::WaitForList(
    const std::function<bool(const v1beta1::ListAndWatchResponse&)>& want, std::chrono::milliseconds timeout,
    size_t from) const {
  std::unique_lock<std::mutex> lock(mu_);
  std::optional<v1beta1::ListAndWatchResponse> found;
  size_t checked = from;
  updated_.wait_for(lock, timeout, [&] {
    for (; checked < updates_.size(); ++checked) {
      if (want(updates_[checked])) {
        found = updates_[checked];
        return true;
      }
    }
    return false;
  });
  return found;
}

bool FakeKubelet::Start(std::string* error) {
  unlink(socket_path().c_str());
  {
    std::lock_guard<std::mutex> guard(mu_);
    registrations_.clear();
  }
  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix://" + socket_path(), grpc::InsecureServerCredentials());
  builder.RegisterService(this);
  server_ = builder.BuildAndStart();
  if (server_ == nullptr) {
    *error = "fake kubelet cannot serve " + socket_path();
    return false;
  }
  return true;
}

void FakeKubelet::Stop() {
  if (server_ != nullptr) {
    server_->Shutdown(std::chrono::system_clock::now() + 1s);
    server_->Wait();
    server_.reset();
  }
  std::map<std::string, std::unique_ptr<PluginConnection>> connections;
  std::vector<std::unique_ptr<PluginConnection>> replaced;
  {
    std::lock_guard<std::mutex> guard(mu_);
    connections.swap(connections_);
    replaced.swap(replaced_);
  }
  unlink(socket_path().c_str());
}

grpc::Status FakeKubelet::Register(grpc::ServerContext*, const v1beta1::RegisterRequest* request, v1beta1::Empty*) {
  // The kubelet's own checks: the version it speaks and a socket in its directory.
  if (request->version() != "v1beta1") {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "unsupported version " + request->version());
  }
  if (request->endpoint().empty() || request->endpoint().find('/') != std::string::npos) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "endpoint must be a file name in the plugin directory");
  }
  // Dial back as the kubelet does (it does so on its own goroutine; here the
  // reply waits, which only makes the test's view of the order simpler).
  auto connection = std::make_unique<PluginConnection>(dir_ + "/" + request->endpoint(), *request);
  {
    std::lock_guard<std::mutex> guard(mu_);
    registrations_.push_back(*request);
    auto& slot = connections_[request->resource_name()];
    if (slot) replaced_.push_back(std::move(slot));
    slot = std::move(connection);
  }
  registered_.notify_all();
  return grpc::Status::OK;
}

std::vector<v1beta1::RegisterRequest> FakeKubelet::Registrations() const {
  std::lock_guard<std::mutex> guard(mu_);
  return registrations_;
}

bool FakeKubelet::WaitForRegistrations(size_t count, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  return registered_.wait_for(lock, timeout, [&] { return registrations_.size() >= count; });
}

PluginConnection* FakeKubelet::Connection(const std::string& resource) const {
  std::lock_guard<std::mutex> guard(mu_);
  auto it = connections_.find(resource);
  return it == connections_.end() ? nullptr : it->second.get();
}

bool FakePodResources::Start(std::string* error) {
  unlink(socket_path_.c_str());
  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix://" + socket_path_, grpc::InsecureServerCredentials());
  builder.RegisterService(this);
  server_ = builder.BuildAndStart();
  if (server_ == nullptr) {
    *error = "fake pod-resources cannot serve " + socket_path_;
    return false;
  }
  return true;
}

void FakePodResources::Stop() {
  if (server_ == nullptr) return;
  server_->Shutdown(std::chrono::system_clock::now() + 1s);
  server_->Wait();
  server_.reset();
  unlink(socket_path_.c_str());
}

void FakePodResources::SetPods(const v1::ListPodResourcesResponse& pods) {
  std::lock_guard<std::mutex> guard(mu_);
  pods_ = pods;
}

void FakePodResources::SetFailing(bool failing) {
  std::lock_guard<std::mutex> guard(mu_);
  failing_ = failing;
}

int FakePodResources::ListCalls() const {
  std::lock_guard<std::mutex> guard(mu_);
  return calls_;
}

grpc::Status FakePodResources::List(grpc::ServerContext*, const v1::ListPodResourcesRequest*,
                                    v1::ListPodResourcesResponse* response) {
  std::lock_guard<std::mutex> guard(mu_);
  ++calls_;
  if (failing_) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "fake kubelet: pod resources unavailable");
  *response = pods_;
  return grpc::Status::OK;
}

v1::PodResources PodHolding(const std::string& ns, const std::string& pod, const std::string& container,
                            const std::string& resource, const std::vector<std::string>& device_ids) {
  v1::PodResources p;
  p.set_name(pod);
  p.set_namespace_(ns);
  v1::ContainerResources* c = p.add_containers();
  c->set_name(container);
  v1::ContainerDevices* d = c->add_devices();
  d->set_resource_name(resource);
  for (const std::string& id : device_ids) d->add_device_ids(id);
  return p;
}

}  // namespace tgs::device_plugin_test
