// The acceptance tests' node: a fake kubelet (Registration and
// PodResourcesLister on sockets in a temp directory), a real tgs-controller
// with its admin socket and grant directory there, and the real
// tgs-device-plugin on a simulated machine of two 16 GiB GPUs, started as a
// child process the way a DaemonSet would run it.
//
// The plugin's loader path starts with a decoy directory whose libcuda.so.1
// is TGS's shim: the plugin must skip it and hand containers the (simulated)
// driver found after it.
#pragma once

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/container/device_plugin/child_process.h"
#include "tests/container/device_plugin/fake_kubelet.h"
#include "tools/tgsctl/admin_client.h"

namespace tgs::device_plugin_test {

constexpr const char* kProduction = "tgs.io/production-gib";
constexpr const char* kOpportunistic = "tgs.io/opportunistic-gib";
constexpr uint64_t kGiB = 1ULL << 30;
constexpr int kGpus = 2;
constexpr int kProductionPerGpu = 16;     // 16 GiB, overcommit 1
constexpr int kOpportunisticPerGpu = 24;  // 16 GiB, overcommit 1.5
constexpr int kGraceMs = 1500;

inline bool WaitUntil(const std::function<bool()>& done, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

class DevicePluginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tgs-dp-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    kubelet_dir_ = dir_ + "/device-plugins";
    pod_resources_socket_ = dir_ + "/pod-resources/kubelet.sock";
    admin_socket_ = dir_ + "/admin/admin.sock";
    grant_dir_ = dir_ + "/grants";
    dev_root_ = dir_ + "/dev";
    sim_shm_ = "tgs-dp-test-" + std::to_string(getpid()) + "-" + std::to_string(++instance_);
    for (const std::string& d : {kubelet_dir_, dir_ + "/pod-resources", dir_ + "/admin", dir_ + "/controller",
                                 dev_root_, dir_ + "/decoy"}) {
      std::filesystem::create_directories(d);
    }
    // Device nodes of a node whose nvidia-uvm-tools is absent: only what
    // exists may be handed out.
    for (const char* node : {"nvidiactl", "nvidia-uvm", "nvidia0", "nvidia1"}) {
      std::ofstream(dev_root_ + "/" + node) << "";
    }
    std::filesystem::create_symlink(std::string(TGS_SHIM_DIR) + "/libtgs.so", dir_ + "/decoy/libcuda.so.1");

    kubelet_ = std::make_unique<FakeKubelet>(kubelet_dir_);
    std::string error;
    ASSERT_TRUE(kubelet_->Start(&error)) << error;
    pod_resources_ = std::make_unique<FakePodResources>(pod_resources_socket_);
    ASSERT_TRUE(pod_resources_->Start(&error)) << error;
    StartController();
  }

  void TearDown() override {
    if (HasFailure()) {
      std::cerr << "---- tgs-device-plugin log ----\n" << plugin_.Log() << "---- tgs-controller log ----\n"
                << controller_.Log();
    }
    plugin_.Stop();
    controller_.Stop();
    kubelet_.reset();
    pod_resources_.reset();
    shm_unlink(("/" + sim_shm_).c_str());
    std::filesystem::remove_all(dir_);
  }

  Env SimEnv() const {
    return {{"TGS_SIM_SHM", sim_shm_},
            {"TGS_SIM_DEVICES", std::to_string(kGpus)},
            {"TGS_SIM_MEMORY", "16GiB"},
            {"TGS_LOG", "info"},
            {"PATH", "/usr/bin:/bin"}};
  }

  void StartController() {
    std::string config = dir_ + "/controller/config.yaml";
    std::ofstream(config) << "version: 1\n"
                             "controller:\n"
                             "  metrics_listen: \"\"\n"
                             "  grant_dir: " << grant_dir_ << "\n"
                             "defaults:\n"
                             "  class: opportunistic\n"
                             "  memory_limit: 1GiB\n";
    std::string error;
    ASSERT_TRUE(controller_.Start({TGS_CONTROLLER_BIN, "--config", config, "--socket", dir_ + "/controller/tgs.sock",
                                   "--state-dir", dir_ + "/controller/state", "--admin-socket", admin_socket_},
                                  SimEnv(), dir_ + "/controller.log", &error))
        << error;
    bool up = WaitUntil(
        [&] {
          struct stat st;
          return stat(admin_socket_.c_str(), &st) == 0 || !controller_.Running();
        },
        std::chrono::seconds(10));
    ASSERT_TRUE(up && controller_.Running()) << "tgs-controller did not come up:\n" << controller_.Log();
  }

  // The plugin's command line; tests add flags.
  std::vector<std::string> PluginArgs() const {
    return {TGS_DEVICE_PLUGIN_BIN,
            "--kubelet-dir", kubelet_dir_,
            "--pod-resources-socket", pod_resources_socket_,
            "--admin-socket", admin_socket_,
            "--shim-dir", TGS_SHIM_DIR,
            "--dev-root", dev_root_,
            "--nvml", std::string(TGS_SIM_DIR) + "/libnvidia-ml.so.1",
            "--class", "production",
            "--class", "opportunistic=1.5",
            "--health-interval", "200",
            "--label-interval", "200",
            "--grant-grace", std::to_string(kGraceMs)};
  }

  // Starts the plugin and waits until both resources registered and the
  // fake kubelet has their first device lists.
  void StartPlugin(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = PluginArgs();
    args.insert(args.end(), extra.begin(), extra.end());
    Env env = SimEnv();
    env["LD_LIBRARY_PATH"] = dir_ + "/decoy:" + TGS_SIM_DIR;
    std::string error;
    ASSERT_TRUE(plugin_.Start(args, env, dir_ + "/plugin.log", &error)) << error;
    ASSERT_TRUE(kubelet_->WaitForRegistrations(2, std::chrono::seconds(15)))
        << "the plugin did not register both resources:\n" << plugin_.Log();
    for (const char* resource : {kProduction, kOpportunistic}) {
      PluginConnection* c = kubelet_->Connection(resource);
      ASSERT_NE(c, nullptr) << resource;
      ASSERT_TRUE(c->WaitForList([](const auto&) { return true; }, std::chrono::seconds(5)))
          << resource << ": no ListAndWatch list";
    }
    LoadUuids();
  }

  // The simulated GPUs' UUIDs, from the simulator's own tool (not from the
  // plugin under test).
  void LoadUuids() {
    CommandResult r = RunCommand({TGS_SIMGPU_CTL_BIN, "--shm", sim_shm_, "status"}, SimEnv());
    ASSERT_EQ(r.exit_code, 0) << r.output;
    uuids_.clear();
    std::istringstream in(r.output);
    int index;
    std::string uuid, state;
    while (in >> index >> uuid >> state) uuids_.push_back(uuid);
    ASSERT_EQ(uuids_.size(), static_cast<size_t>(kGpus)) << r.output;
  }

  CommandResult SimCtl(const std::string& command, int index) {
    return RunCommand({TGS_SIMGPU_CTL_BIN, "--shm", sim_shm_, command, std::to_string(index)}, SimEnv());
  }

  static std::string Id(const std::string& uuid, int unit) { return uuid + "::" + std::to_string(unit); }

  nlohmann::json Admin(const nlohmann::json& request) {
    tgsctl::Reply reply = tgsctl::Request(admin_socket_, request, 5000);
    EXPECT_EQ(reply.failure, tgsctl::Failure::kNone) << reply.error;
    return reply.body;
  }
  // Every grant the controller holds.
  nlohmann::json Grants() {
    nlohmann::json reply = Admin({{"command", "grants"}});
    EXPECT_TRUE(reply.value("ok", false)) << reply.dump();
    return reply.contains("grants") ? reply["grants"] : nlohmann::json::array();
  }
  nlohmann::json GrantById(const std::string& id) {
    for (const nlohmann::json& g : Grants()) {
      if (g.value("id", "") == id) return g;
    }
    return nullptr;
  }

  grpc::Status Allocate(const std::string& resource, const std::vector<std::vector<std::string>>& containers,
                        v1beta1::AllocateResponse* response) {
    PluginConnection* c = kubelet_->Connection(resource);
    if (c == nullptr) return grpc::Status(grpc::StatusCode::NOT_FOUND, "no connection for " + resource);
    v1beta1::AllocateRequest request;
    for (const auto& ids : containers) {
      v1beta1::ContainerAllocateRequest* r = request.add_container_requests();
      for (const std::string& id : ids) r->add_devices_ids(id);
    }
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return c->stub().Allocate(&context, request, response);
  }

  // Allocates one container and returns its grant id (the annotation).
  std::string AllocateOne(const std::string& resource, const std::vector<std::string>& ids) {
    v1beta1::AllocateResponse response;
    grpc::Status status = Allocate(resource, {ids}, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    if (!status.ok() || response.container_responses_size() != 1) return "";
    return response.container_responses(0).annotations().at("tgs.io/allocation");
  }

  std::string dir_, kubelet_dir_, pod_resources_socket_, admin_socket_, grant_dir_, dev_root_, sim_shm_;
  std::vector<std::string> uuids_;
  std::unique_ptr<FakeKubelet> kubelet_;
  std::unique_ptr<FakePodResources> pod_resources_;
  ChildProcess controller_;
  ChildProcess plugin_;
  static inline int instance_ = 0;
};

}  // namespace tgs::device_plugin_test
