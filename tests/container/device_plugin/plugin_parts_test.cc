// Parts of tgs-device-plugin that need no kubelet: telling a TGS shim from
// a driver by its symbols, reading the controller's grant replies (and
// refusing malformed ones), who holds which device in a pod-resources
// answer, the health board's edges, and the Allocate response itself.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "container/device-plugin/allocate.h"
#include "container/device-plugin/controller_client.h"
#include "container/device-plugin/health_monitor.h"
#include "container/device-plugin/host_files.h"
#include "container/device-plugin/pod_labels.h"

namespace tgs::device_plugin {
namespace {

TEST(DevicePluginHostFiles, TellsTheShimFromTheDriverWithoutLoadingIt) {
  std::string error;
  auto shim = DefinesDynamicSymbol(std::string(TGS_SHIM_DIR) + "/libtgs.so", "tgs_shim_identity", &error);
  ASSERT_TRUE(shim) << error;
  EXPECT_TRUE(*shim);
  auto nvml_shim = DefinesDynamicSymbol(std::string(TGS_SHIM_DIR) + "/libtgs-nvml.so", "tgs_shim_identity", &error);
  ASSERT_TRUE(nvml_shim) << error;
  EXPECT_TRUE(*nvml_shim);
  auto driver = DefinesDynamicSymbol(std::string(TGS_SIM_DIR) + "/libcuda.so.1", "tgs_shim_identity", &error);
  ASSERT_TRUE(driver) << error;
  EXPECT_FALSE(*driver);
  auto has_init = DefinesDynamicSymbol(std::string(TGS_SIM_DIR) + "/libcuda.so.1", "cuInit", &error);
  ASSERT_TRUE(has_init) << error;
  EXPECT_TRUE(*has_init);
  EXPECT_FALSE(DefinesDynamicSymbol(std::string(TGS_SHIM_DIR) + "/ld.so.preload", "x", &error));
  EXPECT_NE(error.find("too small to be an ELF object"), std::string::npos) << error;
  std::string text = std::filesystem::temp_directory_path() / ("tgs-dp-text-" + std::to_string(getpid()));
  std::ofstream(text) << std::string(4096, 'x');
  EXPECT_FALSE(DefinesDynamicSymbol(text, "x", &error));
  EXPECT_NE(error.find("not a 64-bit ELF"), std::string::npos) << error;
  std::filesystem::remove(text);
  EXPECT_FALSE(DefinesDynamicSymbol("/nonexistent/libcuda.so.1", "x", &error));
  EXPECT_NE(error.find("/nonexistent/libcuda.so.1"), std::string::npos) << error;

  EXPECT_TRUE(CheckDriverLibraries({std::string(TGS_SIM_DIR) + "/libcuda.so.1"}, &error)) << error;
  EXPECT_FALSE(CheckDriverLibraries({std::string(TGS_SHIM_DIR) + "/libtgs.so"}, &error));
  EXPECT_NE(error.find("is a TGS shim"), std::string::npos) << error;
  EXPECT_TRUE(CheckShimDir(TGS_SHIM_DIR, &error)) << error;
  EXPECT_FALSE(CheckShimDir(TGS_SIM_DIR, &error));
  EXPECT_NE(error.find("libtgs.so"), std::string::npos) << error;
}

TEST(DevicePluginHostFiles, DeviceNodesAreThoseThatExist) {
  std::string dir = std::filesystem::temp_directory_path() / ("tgs-dp-dev-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  for (const char* n : {"nvidiactl", "nvidia-uvm-tools", "nvidia3", "nvidia1"}) std::ofstream(dir + "/" + n) << "";
  std::vector<DeviceNode> nodes = GpuDeviceNodes(dir, 3);
  std::vector<std::string> paths;
  for (const DeviceNode& n : nodes) {
    paths.push_back(n.container_path);
    EXPECT_EQ(n.host_path, dir + n.container_path.substr(4));
  }
  EXPECT_EQ(paths, (std::vector<std::string>{"/dev/nvidiactl", "/dev/nvidia-uvm-tools", "/dev/nvidia3"}));
  std::filesystem::remove_all(dir);
}

nlohmann::json GoodGrant() {
  return {{"id", "0123456789abcdef0123456789abcdef"},
          {"class", "production"},
          {"memory_limit_bytes", 4294967296ULL},
          {"gpus", {"GPU-11111111-1111-4111-8111-111111111111"}},
          {"devices", {"GPU-11111111-1111-4111-8111-111111111111::0"}},
          {"resource", "tgs.io/production-gib"},
          {"owner", "tgs-device-plugin"},
          {"labels", nlohmann::json::object()},
          {"created_unix", 1700000000.5},
          {"socket_dir", "/run/tgs-grants/alloc/0123456789abcdef0123456789abcdef"},
          {"socket", "/run/tgs-grants/alloc/0123456789abcdef0123456789abcdef/tgs.sock"}};
}

TEST(DevicePluginControllerReplies, ReadsAGrant) {
  std::string error;
  auto g = GrantFromJson(GoodGrant(), &error);
  ASSERT_TRUE(g) << error;
  EXPECT_EQ(g->id, "0123456789abcdef0123456789abcdef");
  EXPECT_EQ(g->class_name, "production");
  EXPECT_EQ(g->memory_limit_bytes, 4294967296ULL);
  EXPECT_EQ(g->devices.size(), 1u);
  EXPECT_DOUBLE_EQ(g->created_unix, 1700000000.5);
  EXPECT_EQ(g->socket_dir, "/run/tgs-grants/alloc/0123456789abcdef0123456789abcdef");
}

TEST(DevicePluginControllerReplies, RefusesMalformedGrantsNamingTheField) {
  struct Case {
    const char* field;
    nlohmann::json value;  // null: remove the field
    const char* expected;
  };
  const std::vector<Case> cases = {
      {"id", "ABC", "grant id 'ABC'"},
      {"id", nullptr, "'id' is missing"},
      {"class", 3, "'class'"},
      {"class", "", "empty class"},
      {"memory_limit_bytes", -1, "memory_limit_bytes"},
      {"memory_limit_bytes", "4GiB", "memory_limit_bytes"},
      {"gpus", "GPU-x", "'gpus'"},
      {"devices", {1, 2}, "'devices' holds a non-string"},
      {"socket_dir", "relative/dir", "socket_dir 'relative/dir'"},
      {"socket_dir", nullptr, "'socket_dir'"},
      {"labels", {{"pod", 1}}, "label 'pod'"},
      {"created_unix", "yesterday", "created_unix"},
  };
  for (const Case& c : cases) {
    nlohmann::json j = GoodGrant();
    if (c.value.is_null()) {
      j.erase(c.field);
    } else {
      j[c.field] = c.value;
    }
    std::string error;
    EXPECT_FALSE(GrantFromJson(j, &error)) << c.field;
    EXPECT_NE(error.find(c.expected), std::string::npos) << c.field << ": " << error;
  }
  std::string error;
  EXPECT_FALSE(GrantFromJson("a string", &error));
}

TEST(DevicePluginControllerReplies, AnUnreachableControllerIsAnErrorNotACrash) {
  ControllerClient client("/nonexistent/admin.sock", 500);
  std::string error;
  EXPECT_FALSE(client.ListGrants(&error));
  EXPECT_NE(error.find("/nonexistent/admin.sock"), std::string::npos) << error;
  EXPECT_FALSE(client.CreateGrant({"production", 1 << 30, "GPU-x", {"GPU-x::0"}, "tgs.io/production-gib"}, &error));
  EXPECT_FALSE(client.Revoke("0123456789abcdef0123456789abcdef", &error));
}

TEST(DevicePluginPodResources, MapsEachDeviceOfOurResourcesToItsContainer) {
  v1::ListPodResourcesResponse pods;
  v1::PodResources* p = pods.add_pod_resources();
  p->set_name("web-0");
  p->set_namespace_("shop");
  v1::ContainerResources* c = p->add_containers();
  c->set_name("server");
  v1::ContainerDevices* d = c->add_devices();
  d->set_resource_name("tgs.io/production-gib");
  d->add_device_ids("GPU-a::0");
  d->add_device_ids("GPU-a::1");
  v1::ContainerDevices* other = c->add_devices();
  other->set_resource_name("nvidia.com/gpu");
  other->add_device_ids("GPU-a::0");
  auto holders = HoldersOf(pods, {"tgs.io/production-gib", "tgs.io/opportunistic-gib"});
  ASSERT_EQ(holders.size(), 2u);
  Holder expected{"shop", "web-0", "server"};
  EXPECT_EQ((holders[{"tgs.io/production-gib", "GPU-a::0"}]), expected);
  EXPECT_EQ((holders[{"tgs.io/production-gib", "GPU-a::1"}]), expected);
  EXPECT_FALSE(holders.contains({"nvidia.com/gpu", "GPU-a::0"}));
}

TEST(DevicePluginHealth, OnlyTheHealthyUnhealthyEdgeIsNews) {
  HealthBoard board(2);
  uint64_t g0 = board.generation();
  EXPECT_FALSE(board.Set(0, ""));
  EXPECT_TRUE(board.Set(1, "nvmlDeviceGetMemoryInfo: GPU is lost (15)"));
  EXPECT_FALSE(board.Healthy(1));
  EXPECT_EQ(board.Reason(1), "nvmlDeviceGetMemoryInfo: GPU is lost (15)");
  uint64_t g1 = board.generation();
  EXPECT_NE(g1, g0);
  EXPECT_FALSE(board.Set(1, "nvmlDeviceGetHandleByUUID: GPU is lost (15)")) << "still unhealthy";
  EXPECT_EQ(board.generation(), g1);
  EXPECT_EQ(board.WaitForChange(g0, std::chrono::milliseconds(0)), g1);
  EXPECT_TRUE(board.Set(1, ""));
  EXPECT_TRUE(board.Healthy(1));
}

TEST(DevicePluginAllocate, ResponseCarriesGrantShimDriverAndTheGpusNodes) {
  std::string dev = std::filesystem::temp_directory_path() / ("tgs-dp-resp-" + std::to_string(getpid()));
  std::filesystem::create_directories(dev);
  for (const char* n : {"nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia0", "nvidia2"}) {
    std::ofstream(dev + "/" + n) << "";
  }
  std::string error;
  auto grant = GrantFromJson(GoodGrant(), &error);
  ASSERT_TRUE(grant) << error;
  Gpu gpu{"GPU-11111111-1111-4111-8111-111111111111", 16ULL << 30, 2, 1};
  HostFiles files{"/var/lib/tgs/0.1.0", {"/usr/lib/x86_64-linux-gnu/libcuda.so.1"}, dev};
  v1beta1::ContainerAllocateResponse r;
  FillContainerResponse(*grant, gpu, files, &r);
  EXPECT_EQ(r.envs().at("TGS_ALLOCATION"), grant->id);
  EXPECT_EQ(r.envs().at("NVIDIA_VISIBLE_DEVICES"), gpu.uuid);
  ASSERT_EQ(r.mounts_size(), 4);
  EXPECT_EQ(r.mounts(3).container_path(), "/usr/local/nvidia/lib64/libcuda.so.1");
  EXPECT_EQ(r.mounts(3).host_path(), "/usr/lib/x86_64-linux-gnu/libcuda.so.1");
  std::vector<std::string> nodes;
  for (const auto& d : r.devices()) nodes.push_back(d.container_path());
  EXPECT_EQ(nodes, (std::vector<std::string>{"/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools",
                                             "/dev/nvidia2"}))
      << "the GPU's own node by minor number, not its index, and no other GPU's";
  EXPECT_EQ(r.annotations().at("tgs.io/memory-limit"), "4294967296");
  std::filesystem::remove_all(dev);
}

}  // namespace
}  // namespace tgs::device_plugin
