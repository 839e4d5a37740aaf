// tgs-device-plugin against a fake kubelet, a real tgs-controller and the
// simulated GPU (plugin_fixture.h): registration, the device lists, preferred
// allocation, every field of Allocate's answer and the grant behind it,
// re-registration after a kubelet restart, GPU health, and what the plugin
// does with pod-resources (labels, revocation, and no revocation while the
// kubelet cannot be read).
#include <sys/stat.h>

#include <map>
#include <set>

#include "tests/container/device_plugin/plugin_fixture.h"

namespace tgs::device_plugin_test {
namespace {

std::vector<std::string> Units(const std::string& uuid, int first, int count) {
  std::vector<std::string> ids;
  for (int n = first; n < first + count; ++n) ids.push_back(uuid + "::" + std::to_string(n));
  return ids;
}

// device id -> health, of one list.
std::map<std::string, std::string> HealthById(const v1beta1::ListAndWatchResponse& list) {
  std::map<std::string, std::string> out;
  for (const v1beta1::Device& d : list.devices()) out[d.id()] = d.health();
  return out;
}

// Whether every device of `uuid` in `list` has `health` (and there are some).
bool AllOfGpu(const v1beta1::ListAndWatchResponse& list, const std::string& uuid, const std::string& health) {
  int seen = 0;
  for (const v1beta1::Device& d : list.devices()) {
    if (d.id().rfind(uuid + "::", 0) != 0) continue;
    ++seen;
    if (d.health() != health) return false;
  }
  return seen > 0;
}

TEST_F(DevicePluginTest, RegistersEachResourceWithTheKubelet) {
  StartPlugin();
  std::vector<v1beta1::RegisterRequest> regs = kubelet_->Registrations();
  ASSERT_EQ(regs.size(), 2u);
  std::map<std::string, v1beta1::RegisterRequest> by_resource;
  for (const auto& r : regs) by_resource[r.resource_name()] = r;
  ASSERT_EQ(by_resource.size(), 2u) << "a resource registered twice";
  for (const auto& [resource, endpoint] : {std::pair<std::string, std::string>{kProduction, "tgs-production.sock"},
                                          {kOpportunistic, "tgs-opportunistic.sock"}}) {
    ASSERT_TRUE(by_resource.contains(resource)) << resource;
    const v1beta1::RegisterRequest& r = by_resource[resource];
    EXPECT_EQ(r.version(), "v1beta1");
    EXPECT_EQ(r.endpoint(), endpoint);
    ASSERT_TRUE(r.has_options());
    EXPECT_FALSE(r.options().pre_start_required());
    EXPECT_TRUE(r.options().get_preferred_allocation_available());
    struct stat st;
    EXPECT_EQ(stat((kubelet_dir_ + "/" + endpoint).c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    PluginConnection* c = kubelet_->Connection(resource);
    ASSERT_NE(c, nullptr);
    ASSERT_TRUE(c->options_ok());
    EXPECT_FALSE(c->options().pre_start_required());
    EXPECT_TRUE(c->options().get_preferred_allocation_available());
  }
  // SIGTERM: a clean exit that takes the plugin's sockets with it (the
  // kubelet's stays).
  EXPECT_EQ(plugin_.Stop(), 0) << plugin_.Log();
  struct stat st;
  EXPECT_NE(stat((kubelet_dir_ + "/tgs-production.sock").c_str(), &st), 0);
  EXPECT_NE(stat((kubelet_dir_ + "/tgs-opportunistic.sock").c_str(), &st), 0);
  EXPECT_EQ(stat(kubelet_->socket_path().c_str(), &st), 0);
}

TEST_F(DevicePluginTest, ListAndWatchAdvertisesOneDevicePerGibOfEachGpu) {
  StartPlugin();
  for (const auto& [resource, per_gpu] :
       {std::pair<std::string, int>{kProduction, kProductionPerGpu}, {kOpportunistic, kOpportunisticPerGpu}}) {
    std::vector<v1beta1::ListAndWatchResponse> updates = kubelet_->Connection(resource)->Updates();
    ASSERT_FALSE(updates.empty());
    std::map<std::string, std::string> health = HealthById(updates.front());
    EXPECT_EQ(updates.front().devices_size(), kGpus * per_gpu) << resource << ": ids repeat";
    std::set<std::string> expected;
    for (const std::string& uuid : uuids_) {
      for (const std::string& id : Units(uuid, 0, per_gpu)) expected.insert(id);
    }
    std::set<std::string> got;
    for (const auto& [id, h] : health) {
      got.insert(id);
      EXPECT_EQ(h, "Healthy") << id;
    }
    EXPECT_EQ(got, expected) << resource;
  }
}

TEST_F(DevicePluginTest, PreferredAllocationIsABestFitOnOneGpu) {
  StartPlugin();
  PluginConnection* c = kubelet_->Connection(kProduction);
  ASSERT_NE(c, nullptr);
  // GPU 0 has 4 free devices, GPU 1 all 16.
  std::vector<std::string> available = Units(uuids_[0], 10, 4);
  for (const std::string& id : Units(uuids_[1], 0, 16)) available.push_back(id);
  auto prefer = [&](int size, const std::vector<std::string>& must, std::vector<std::string>* out) {
    v1beta1::PreferredAllocationRequest request;
    v1beta1::ContainerPreferredAllocationRequest* r = request.add_container_requests();
    for (const std::string& id : available) r->add_available_deviceids(id);
    for (const std::string& id : must) r->add_must_include_deviceids(id);
    r->set_allocation_size(size);
    v1beta1::PreferredAllocationResponse response;
    grpc::ClientContext context;
    grpc::Status status = c->stub().GetPreferredAllocation(&context, request, &response);
    out->clear();
    if (status.ok() && response.container_responses_size() == 1) {
      for (const std::string& id : response.container_responses(0).deviceids()) out->push_back(id);
    }
    return status;
  };
  std::vector<std::string> got;
  ASSERT_TRUE(prefer(3, {}, &got).ok());
  EXPECT_EQ(got, Units(uuids_[0], 10, 3)) << "3 fit in GPU 0's 4: the tighter GPU";
  ASSERT_TRUE(prefer(5, {}, &got).ok());
  EXPECT_EQ(got, Units(uuids_[1], 0, 5)) << "5 do not fit GPU 0";
  ASSERT_TRUE(prefer(2, {uuids_[1] + "::7"}, &got).ok());
  EXPECT_EQ(got, (std::vector<std::string>{uuids_[1] + "::7", uuids_[1] + "::0"}));
  grpc::Status spans = prefer(2, {uuids_[0] + "::10", uuids_[1] + "::0"}, &got);
  EXPECT_FALSE(spans.ok());
  EXPECT_NE(spans.error_message().find(uuids_[0]), std::string::npos) << spans.error_message();
  EXPECT_NE(spans.error_message().find(uuids_[1]), std::string::npos) << spans.error_message();
  grpc::Status too_big = prefer(17, {}, &got);
  EXPECT_FALSE(too_big.ok());
  EXPECT_NE(too_big.error_message().find("no single GPU has 17 free devices"), std::string::npos)
      << too_big.error_message();
}

// Every field of one container's answer, and the grant behind it.
void ExpectContainerResponse(const v1beta1::ContainerAllocateResponse& r, const nlohmann::json& grant,
                             const std::string& cls, const std::string& resource, const std::string& uuid,
                             int minor, uint64_t limit, const std::vector<std::string>& ids,
                             const std::string& dev_root, const std::string& grant_dir) {
  ASSERT_TRUE(grant.is_object()) << "the controller has no such grant";
  const std::string id = grant["id"];
  EXPECT_EQ(grant["class"], cls);
  EXPECT_EQ(grant["memory_limit_bytes"], limit);
  EXPECT_EQ(grant["gpus"], nlohmann::json::array({uuid}));
  EXPECT_EQ(grant["devices"], nlohmann::json(ids));
  EXPECT_EQ(grant["resource"], resource);
  EXPECT_EQ(grant["owner"], "tgs-device-plugin");
  const std::string socket_dir = grant["socket_dir"];
  EXPECT_EQ(socket_dir.rfind(grant_dir + "/", 0), 0u) << socket_dir;

  std::map<std::string, std::string> envs(r.envs().begin(), r.envs().end());
  EXPECT_EQ(envs, (std::map<std::string, std::string>{{"TGS_ALLOCATION", id},
                                                       {"TGS_CLASS", cls},
                                                       {"NVIDIA_VISIBLE_DEVICES", uuid},
                                                       {"NVIDIA_DRIVER_CAPABILITIES", "compute,utility"}}));

  std::map<std::string, std::string> mounts;
  for (const v1beta1::Mount& m : r.mounts()) {
    EXPECT_TRUE(m.read_only()) << m.container_path();
    EXPECT_TRUE(mounts.emplace(m.container_path(), m.host_path()).second) << "mounted twice: " << m.container_path();
  }
  const std::string shim = TGS_SHIM_DIR, sim = TGS_SIM_DIR;
  EXPECT_EQ(mounts, (std::map<std::string, std::string>{
                        {"/usr/lib/tgs", shim},
                        {"/etc/ld.so.preload", shim + "/ld.so.preload"},
                        {"/run/tgs", socket_dir},
                        {"/usr/local/nvidia/lib64/libcuda.so.1", sim + "/libcuda.so.1"},
                        {"/usr/local/nvidia/lib64/libnvidia-ml.so.1", sim + "/libnvidia-ml.so.1"}}));
  struct stat st;
  EXPECT_EQ(stat((socket_dir + "/tgs.sock").c_str(), &st), 0) << "no grant socket in " << socket_dir;
  EXPECT_TRUE(S_ISSOCK(st.st_mode));

  std::map<std::string, std::string> devices;
  for (const v1beta1::DeviceSpec& d : r.devices()) {
    EXPECT_EQ(d.permissions(), "rw") << d.container_path();
    devices[d.container_path()] = d.host_path();
  }
  std::string own = "nvidia" + std::to_string(minor);
  EXPECT_EQ(devices, (std::map<std::string, std::string>{{"/dev/nvidiactl", dev_root + "/nvidiactl"},
                                                          {"/dev/nvidia-uvm", dev_root + "/nvidia-uvm"},
                                                          {"/dev/" + own, dev_root + "/" + own}}));

  std::map<std::string, std::string> annotations(r.annotations().begin(), r.annotations().end());
  EXPECT_EQ(annotations, (std::map<std::string, std::string>{{"tgs.io/allocation", id},
                                                              {"tgs.io/class", cls},
                                                              {"tgs.io/memory-limit", std::to_string(limit)}}));
  EXPECT_EQ(r.cdi_devices_size(), 0);
}

TEST_F(DevicePluginTest, AllocateGivesTheContainerItsGrantTheShimTheDriverAndTheDevices) {
  StartPlugin();
  std::vector<std::string> prod_ids = Units(uuids_[0], 0, 4);
  v1beta1::AllocateResponse prod;
  grpc::Status status = Allocate(kProduction, {prod_ids}, &prod);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(prod.container_responses_size(), 1);

  std::vector<std::string> opp_ids = Units(uuids_[1], 20, 3);
  v1beta1::AllocateResponse opp;
  status = Allocate(kOpportunistic, {opp_ids}, &opp);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(opp.container_responses_size(), 1);

  ASSERT_EQ(Grants().size(), 2u);
  std::string prod_id = prod.container_responses(0).envs().at("TGS_ALLOCATION");
  std::string opp_id = opp.container_responses(0).envs().at("TGS_ALLOCATION");
  EXPECT_NE(prod_id, opp_id);
  ExpectContainerResponse(prod.container_responses(0), GrantById(prod_id), "production", kProduction, uuids_[0], 0,
                          4 * kGiB, prod_ids, dev_root_, grant_dir_);
  ExpectContainerResponse(opp.container_responses(0), GrantById(opp_id), "opportunistic", kOpportunistic, uuids_[1],
                          1, 3 * kGiB, opp_ids, dev_root_, grant_dir_);
}

TEST_F(DevicePluginTest, AllocateRefusesDevicesOnTwoGpusAndLeavesNoGrant) {
  StartPlugin();
  v1beta1::AllocateResponse response;
  std::vector<std::string> spread = Units(uuids_[0], 0, 2);
  spread.push_back(uuids_[1] + "::0");
  grpc::Status status = Allocate(kProduction, {spread}, &response);
  ASSERT_FALSE(status.ok());
  const std::string& text = status.error_message();
  EXPECT_NE(text.find(uuids_[0] + ": 2"), std::string::npos) << text;
  EXPECT_NE(text.find(uuids_[1] + ": 1"), std::string::npos) << text;
  EXPECT_NE(text.find("tgs.io/production-gib"), std::string::npos) << text;
  EXPECT_EQ(Grants().size(), 0u);

  // All containers or none: the first container's grant does not survive
  // the second's refusal.
  std::vector<std::string> second = {uuids_[0] + "::5", uuids_[1] + "::5"};
  status = Allocate(kProduction, {Units(uuids_[0], 0, 2), second}, &response);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(Grants().size(), 0u) << Grants().dump();

  status = Allocate(kProduction, {{uuids_[0] + "::99"}}, &response);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error_message().find("::99"), std::string::npos) << status.error_message();
}

TEST_F(DevicePluginTest, AllocatingDevicesAgainRevokesTheGrantThatHadThem) {
  StartPlugin();
  std::vector<std::string> ids = Units(uuids_[0], 0, 2);
  std::string first = AllocateOne(kProduction, ids);
  ASSERT_FALSE(first.empty());
  std::string second = AllocateOne(kProduction, ids);
  ASSERT_FALSE(second.empty());
  EXPECT_NE(first, second);
  nlohmann::json grants = Grants();
  ASSERT_EQ(grants.size(), 1u) << grants.dump();
  EXPECT_EQ(grants[0]["id"], second);
}

TEST_F(DevicePluginTest, RegistersAgainWhenTheKubeletRestartsOrItsSocketIsRemoved) {
  StartPlugin();
  // The kubelet goes down (its socket with it) and a new one starts.
  kubelet_->Stop();
  std::string error;
  ASSERT_TRUE(kubelet_->Start(&error)) << error;
  ASSERT_TRUE(kubelet_->WaitForRegistrations(2, std::chrono::seconds(10))) << "no re-registration:\n" << plugin_.Log();
  std::set<std::string> resources;
  for (const auto& r : kubelet_->Registrations()) resources.insert(r.resource_name());
  EXPECT_EQ(resources, (std::set<std::string>{kProduction, kOpportunistic}));
  for (const char* resource : {kProduction, kOpportunistic}) {
    PluginConnection* c = kubelet_->Connection(resource);
    ASSERT_NE(c, nullptr);
    EXPECT_TRUE(c->WaitForList([](const auto& l) { return l.devices_size() > 0; }, std::chrono::seconds(5)));
  }

  // The kubelet wipes a plugin's socket: the plugin serves and registers again.
  ASSERT_EQ(unlink((kubelet_dir_ + "/tgs-production.sock").c_str()), 0);
  ASSERT_TRUE(kubelet_->WaitForRegistrations(3, std::chrono::seconds(10))) << plugin_.Log();
  EXPECT_EQ(kubelet_->Registrations().back().resource_name(), kProduction);
  struct stat st;
  EXPECT_EQ(stat((kubelet_dir_ + "/tgs-production.sock").c_str(), &st), 0);
  std::string id = AllocateOne(kProduction, Units(uuids_[0], 0, 1));
  EXPECT_FALSE(id.empty()) << "the restarted server does not allocate";
}

TEST_F(DevicePluginTest, ALostGpuIsUnhealthyOnListAndWatchUntilItAnswersAgain) {
  StartPlugin();
  PluginConnection* prod = kubelet_->Connection(kProduction);
  PluginConnection* opp = kubelet_->Connection(kOpportunistic);
  size_t prod_seen = prod->UpdateCount(), opp_seen = opp->UpdateCount();

  CommandResult lose = SimCtl("lose", 1);
  ASSERT_EQ(lose.exit_code, 0) << lose.output;
  auto gpu1_down = [&](const v1beta1::ListAndWatchResponse& l) {
    return AllOfGpu(l, uuids_[1], "Unhealthy") && AllOfGpu(l, uuids_[0], "Healthy");
  };
  EXPECT_TRUE(prod->WaitForList(gpu1_down, std::chrono::seconds(5), prod_seen)) << plugin_.Log();
  EXPECT_TRUE(opp->WaitForList(gpu1_down, std::chrono::seconds(5), opp_seen));

  v1beta1::AllocateResponse response;
  grpc::Status status = Allocate(kProduction, {Units(uuids_[1], 0, 2)}, &response);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error_message().find("unhealthy"), std::string::npos) << status.error_message();
  EXPECT_NE(status.error_message().find(uuids_[1]), std::string::npos) << status.error_message();
  EXPECT_EQ(Grants().size(), 0u);
  EXPECT_FALSE(AllocateOne(kProduction, Units(uuids_[0], 0, 2)).empty()) << "the healthy GPU still allocates";

  prod_seen = prod->UpdateCount();
  opp_seen = opp->UpdateCount();
  CommandResult restore = SimCtl("restore", 1);
  ASSERT_EQ(restore.exit_code, 0) << restore.output;
  auto all_up = [&](const v1beta1::ListAndWatchResponse& l) {
    return AllOfGpu(l, uuids_[0], "Healthy") && AllOfGpu(l, uuids_[1], "Healthy");
  };
  EXPECT_TRUE(prod->WaitForList(all_up, std::chrono::seconds(5), prod_seen)) << plugin_.Log();
  EXPECT_TRUE(opp->WaitForList(all_up, std::chrono::seconds(5), opp_seen));
  EXPECT_FALSE(AllocateOne(kProduction, Units(uuids_[1], 0, 2)).empty());
}

TEST_F(DevicePluginTest, AGpuLostAtStartIsLeftOutAndTheOthersServe) {
  StartPlugin();  // creates the simulated machine
  ASSERT_EQ(plugin_.Stop(), 0);
  CommandResult lose = SimCtl("lose", 0);
  ASSERT_EQ(lose.exit_code, 0) << lose.output;
  std::string error;
  std::vector<std::string> args = PluginArgs();
  Env env = SimEnv();
  ASSERT_TRUE(plugin_.Start(args, env, dir_ + "/plugin.log", &error)) << error;
  ASSERT_TRUE(kubelet_->WaitForRegistrations(4, std::chrono::seconds(15))) << plugin_.Log();
  PluginConnection* c = kubelet_->Connection(kProduction);
  ASSERT_NE(c, nullptr);
  auto list = c->WaitForList([](const auto&) { return true; }, std::chrono::seconds(5));
  ASSERT_TRUE(list);
  std::set<std::string> ids;
  for (const auto& d : list->devices()) ids.insert(d.id());
  std::vector<std::string> expected = Units(uuids_[1], 0, kProductionPerGpu);
  EXPECT_EQ(ids, std::set<std::string>(expected.begin(), expected.end()));
  EXPECT_NE(plugin_.Log().find("GPU 0: nvmlDeviceGetHandleByIndex_v2: GPU is lost"), std::string::npos)
      << plugin_.Log();
}

TEST_F(DevicePluginTest, LabelsTheGrantWithThePodThatHoldsItsDevices) {
  StartPlugin();
  std::vector<std::string> ids = Units(uuids_[0], 3, 2);
  std::string id = AllocateOne(kProduction, ids);
  ASSERT_FALSE(id.empty());
  v1::ListPodResourcesResponse pods;
  *pods.add_pod_resources() = PodHolding("team-a", "trainer-0", "main", kProduction, ids);
  // Another pod's devices of another resource: not this grant's.
  *pods.add_pod_resources() = PodHolding("team-b", "other", "c", "example.com/other", ids);
  pod_resources_->SetPods(pods);
  nlohmann::json expected = {{"namespace", "team-a"}, {"pod", "trainer-0"}, {"container", "main"}};
  bool labelled = WaitUntil(
      [&] {
        nlohmann::json g = GrantById(id);
        return g.is_object() && g["labels"] == expected;
      },
      std::chrono::seconds(5));
  EXPECT_TRUE(labelled) << GrantById(id).dump() << "\n" << plugin_.Log();
  // Held: never revoked, however long.
  std::this_thread::sleep_for(std::chrono::milliseconds(2 * kGraceMs));
  EXPECT_TRUE(GrantById(id).is_object()) << "a held grant was revoked";
}

TEST_F(DevicePluginTest, RevokesAGrantNoPodHoldsAfterTheGrace) {
  StartPlugin();
  std::vector<std::string> held_ids = Units(uuids_[0], 0, 2);
  v1::ListPodResourcesResponse pods;
  *pods.add_pod_resources() = PodHolding("ns", "kept", "c", kProduction, held_ids);
  pod_resources_->SetPods(pods);
  auto t0 = std::chrono::steady_clock::now();
  std::string held = AllocateOne(kProduction, held_ids);
  std::string orphan = AllocateOne(kOpportunistic, Units(uuids_[1], 0, 4));
  ASSERT_FALSE(held.empty());
  ASSERT_FALSE(orphan.empty());

  std::this_thread::sleep_for(std::chrono::milliseconds(kGraceMs / 2));
  nlohmann::json early = GrantById(orphan);
  // Only meaningful if this look happened well inside the grace.
  if (std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(kGraceMs - 300)) {
    EXPECT_TRUE(early.is_object()) << "revoked before the grace";
  }
  bool revoked = WaitUntil([&] { return GrantById(orphan).is_null(); }, std::chrono::milliseconds(kGraceMs + 4000));
  EXPECT_TRUE(revoked) << plugin_.Log();
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(kGraceMs));
  EXPECT_TRUE(GrantById(held).is_object()) << "the held grant was revoked";
}

TEST_F(DevicePluginTest, NeverRevokesWhilePodResourcesCannotBeRead) {
  StartPlugin();
  pod_resources_->SetFailing(true);
  std::string id = AllocateOne(kProduction, Units(uuids_[0], 0, 1));
  ASSERT_FALSE(id.empty());
  int calls = pod_resources_->ListCalls();
  std::this_thread::sleep_for(std::chrono::milliseconds(3 * kGraceMs));
  EXPECT_GT(pod_resources_->ListCalls(), calls) << "the plugin stopped asking";
  EXPECT_TRUE(GrantById(id).is_object()) << "revoked while the kubelet could not be read";

  pod_resources_->SetFailing(false);  // answers: nobody holds it
  bool revoked = WaitUntil([&] { return GrantById(id).is_null(); }, std::chrono::milliseconds(kGraceMs + 4000));
  EXPECT_TRUE(revoked) << plugin_.Log();
}

TEST_F(DevicePluginTest, RefusesToStartWithoutTheShimFilesOrWithBadFlags) {
  std::string empty = dir_ + "/empty-shim";
  std::filesystem::create_directories(empty);
  std::vector<std::string> args = PluginArgs();
  for (size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == "--shim-dir") args[i + 1] = empty;
  }
  CommandResult r = RunCommand(args, SimEnv());
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("libtgs.so"), std::string::npos) << r.output;

  std::ofstream(empty + "/libtgs.so") << "";
  std::ofstream(empty + "/libtgs-nvml.so") << "";
  r = RunCommand(args, SimEnv());
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("ld.so.preload"), std::string::npos) << r.output;

  args = PluginArgs();
  args.push_back("--health-interval");
  args.push_back("soon");
  r = RunCommand(args, SimEnv());
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--health-interval"), std::string::npos) << r.output;

  args = PluginArgs();
  args.push_back("--driver-lib");
  args.push_back(std::string(TGS_SHIM_DIR) + "/libtgs.so");
  r = RunCommand(args, SimEnv());
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("TGS shim"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace tgs::device_plugin_test
