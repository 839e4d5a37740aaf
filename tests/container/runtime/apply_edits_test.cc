// CDI container edits on an OCI config (container/runtime/apply_edits.h),
// with made-up host device nodes.
#include "container/runtime/apply_edits.h"

#include <gtest/gtest.h>

#include <map>

#include "container/runtime/cdi_registry.h"
#include "tools/tgsctl/cdi_spec.h"

namespace tgs::oci {
namespace {

using nlohmann::json;

// Host nodes: /dev/nvidiactl c 195:255, /dev/nvidia0 c 195:0, /x/blk b 8:1.
StatDeviceNode FakeNodes() {
  return [](const std::string& path, std::string* error) -> std::optional<DeviceNodeInfo> {
    static const std::map<std::string, DeviceNodeInfo> nodes = {
        {"/dev/nvidiactl", {"c", 195, 255}}, {"/dev/nvidia0", {"c", 195, 0}}, {"/x/blk", {"b", 8, 1}}};
    auto it = nodes.find(path);
    if (it == nodes.end()) {
      *error = "CDI device node " + path + ": No such file or directory";
      return std::nullopt;
    }
    return it->second;
  };
}

json BaseConfig() {
  return json::parse(R"({
    "ociVersion": "1.0.2",
    "process": {"args": ["/bin/sh"], "env": ["PATH=/bin", "TGS_CLASS=forged"], "user": {"uid": 0, "gid": 0}},
    "mounts": [
      {"destination": "/proc", "type": "proc", "source": "proc"},
      {"destination": "/dev", "type": "tmpfs", "source": "tmpfs"},
      {"destination": "/run/tgs", "type": "tmpfs", "source": "tmpfs"},
      {"destination": "/dev/shm", "type": "tmpfs", "source": "shm"}
    ],
    "linux": {"resources": {"devices": [{"allow": false, "access": "rwm"}]}}
  })");
}

bool Apply(json& config, const std::string& edits, std::string* error) {
  return ApplyContainerEdits(config, json::parse(edits), FakeNodes(), error);
}

TEST(ApplyEdits, EnvReplacesTheSameNameAndAppendsNewOnes) {
  json config = BaseConfig();
  std::string error;
  ASSERT_TRUE(Apply(config, R"({"env": ["TGS_CLASS=opportunistic", "A=1=2"]})", &error)) << error;
  EXPECT_EQ(config["process"]["env"], json::parse(R"(["PATH=/bin", "TGS_CLASS=opportunistic", "A=1=2"])"));
}

TEST(ApplyEdits, DeviceNodeTakesTheHostsNumbersAndGetsAnAllowRule) {
  json config = BaseConfig();
  config["linux"]["devices"] = json::parse(R"([{"path": "/dev/nvidia0", "type": "c", "major": 1, "minor": 1}])");
  std::string error;
  ASSERT_TRUE(Apply(config, R"({"deviceNodes": [{"path": "/dev/nvidia0"},
                                                 {"path": "/dev/blk", "hostPath": "/x/blk", "permissions": "r"}]})",
                    &error))
      << error;
  EXPECT_EQ(config["linux"]["devices"], json::parse(R"([
      {"path": "/dev/nvidia0", "type": "c", "major": 195, "minor": 0},
      {"path": "/dev/blk", "type": "b", "major": 8, "minor": 1}])"));
  EXPECT_EQ(config["linux"]["resources"]["devices"], json::parse(R"([
      {"allow": false, "access": "rwm"},
      {"allow": true, "type": "c", "major": 195, "minor": 0, "access": "rwm"},
      {"allow": true, "type": "b", "major": 8, "minor": 1, "access": "r"}])"));
}

TEST(ApplyEdits, DeviceNodeOwnerDefaultsToTheProcessUser) {
  json config = BaseConfig();
  config["process"]["user"] = {{"uid", 1000}, {"gid", 100}};
  std::string error;
  ASSERT_TRUE(
      Apply(config, R"({"deviceNodes": [{"path": "/dev/nvidiactl"}, {"path": "/dev/nvidia0", "uid": 7}]})", &error))
      << error;
  EXPECT_EQ(config["linux"]["devices"][0]["uid"], 1000);
  EXPECT_EQ(config["linux"]["devices"][0]["gid"], 100);
  EXPECT_EQ(config["linux"]["devices"][1]["uid"], 7);
}

TEST(ApplyEdits, SpecNumbersAreKeptAndAWrongTypeIsRefused) {
  json config = BaseConfig();
  std::string error;
  ASSERT_TRUE(Apply(config, R"({"deviceNodes": [{"path": "/dev/made-up", "type": "c", "major": 10, "minor": 2,
                                                  "fileMode": 438}]})",
                    &error))
      << error << ": a node with type and major needs no host node";
  EXPECT_EQ(config["linux"]["devices"][0], json::parse(R"({"path": "/dev/made-up", "type": "c", "major": 10,
                                                            "minor": 2, "fileMode": 438})"));
  EXPECT_FALSE(Apply(config, R"({"deviceNodes": [{"path": "/dev/nvidia0", "type": "b"}]})", &error));
  EXPECT_NE(error.find("type b in the spec"), std::string::npos) << error;
}

TEST(ApplyEdits, AMissingHostNodeChangesNothing) {
  json config = BaseConfig();
  json before = config;
  std::string error;
  EXPECT_FALSE(Apply(config, R"({"env": ["X=1"], "deviceNodes": [{"path": "/dev/nvidia0"}, {"path": "/dev/nvidia9"}]})",
                     &error));
  EXPECT_NE(error.find("/dev/nvidia9"), std::string::npos) << error;
  EXPECT_EQ(config, before);
}

TEST(ApplyEdits, MountReplacesTheSameDestinationAndMountsAreOrderedByDepth) {
  json config = BaseConfig();
  std::string error;
  ASSERT_TRUE(Apply(config, R"({"mounts": [
      {"hostPath": "/grants/class/opportunistic", "containerPath": "/run/tgs", "options": ["ro", "bind"]},
      {"hostPath": "/dev/shm/sim", "containerPath": "/dev/shm/tgs-simgpu", "options": ["bind"]},
      {"hostPath": "/shim", "containerPath": "/usr/lib/tgs", "type": "none", "options": ["ro", "bind"]}]})",
                    &error))
      << error;
  SortMounts(config);
  std::vector<std::string> order;
  for (const json& m : config["mounts"]) order.push_back(m["destination"]);
  // By depth, then by name.
  EXPECT_EQ(order,
            (std::vector<std::string>{"/dev", "/proc", "/dev/shm", "/run/tgs", "/dev/shm/tgs-simgpu", "/usr/lib/tgs"}));
  EXPECT_EQ(config["mounts"][3], json::parse(R"({"destination": "/run/tgs", "source": "/grants/class/opportunistic",
                                                 "options": ["ro", "bind"]})"));
  EXPECT_EQ(config["mounts"][5]["type"], "none");
}

TEST(ApplyEdits, HooksJoinTheirListAndGroupsAreAddedOnce) {
  json config = BaseConfig();
  config["hooks"] = {{"prestart", json::array({{{"path", "/old"}}})}};
  std::string error;
  ASSERT_TRUE(Apply(config, R"({"hooks": [
      {"hookName": "createContainer", "path": "/bin/hook", "args": ["hook", "x"], "env": ["A=1"], "timeout": 5},
      {"hookName": "prestart", "path": "/bin/p"}],
      "additionalGids": [0, 44, 44, 45]})",
                    &error))
      << error;
  EXPECT_EQ(config["hooks"]["createContainer"],
            json::parse(R"([{"path": "/bin/hook", "args": ["hook", "x"], "env": ["A=1"], "timeout": 5}])"));
  EXPECT_EQ(config["hooks"]["prestart"], json::parse(R"([{"path": "/old"}, {"path": "/bin/p"}])"));
  EXPECT_EQ(config["process"]["user"]["additionalGids"], json::parse("[44, 45]"));
}

TEST(ApplyEdits, MalformedEditsAreRefusedNamingTheField) {
  struct Case {
    const char* edits;
    const char* error;
  } cases[] = {
      {R"({"envs": []})", "unknown containerEdits field 'envs'"},
      {R"({"intelRdt": {"closID": "x"}})", "intelRdt edits are not supported"},
      {R"({"env": ["NOVALUE"]})", "is not NAME=VALUE"},
      {R"({"env": "A=1"})", "env is not a list"},
      {R"({"mounts": [{"hostPath": "/a"}]})", "mounts[0].containerPath is missing"},
      {R"({"mounts": [{"hostPath": "/a", "containerPath": "rel"}]})",
       "mounts[0].containerPath 'rel' is not an absolute"},
      {R"({"mounts": [{"hostPath": "/a", "containerPath": "/b", "options": "ro"}]})",
       "mounts[0].options is not a list"},
      {R"({"deviceNodes": [{"path": "/dev/a", "type": "x"}]})", "deviceNodes[0].type 'x'"},
      {R"({"deviceNodes": [{"path": "/dev/a", "permissions": "rx"}]})", "deviceNodes[0].permissions 'rx'"},
      {R"({"deviceNodes": [{"path": "/dev/a", "major": -1}]})", "deviceNodes[0].major -1 is out of range"},
      {R"({"hooks": [{"hookName": "prestop", "path": "/x"}]})", "hooks[0].hookName 'prestop' is not an OCI hook"},
      {R"({"hooks": [{"hookName": "poststop", "path": "/x", "timeout": 0}]})", "hooks[0].timeout 0 is out of range"},
      {R"({"additionalGids": [-3]})", "is not a group id"},
  };
  for (const Case& c : cases) {
    json config = BaseConfig();
    json before = config;
    std::string error;
    EXPECT_FALSE(Apply(config, c.edits, &error)) << c.edits;
    EXPECT_NE(error.find(c.error), std::string::npos) << c.edits << " -> " << error;
    EXPECT_EQ(config, before) << c.edits;
  }
}

// What an engine does with the spec tgsctl writes: the spec's edits once,
// then each device's.
TEST(InjectCdiDevices, GeneratedSpecGivesAContainerWhatTheContractLists) {
  tgsctl::CdiSpecOptions options;
  options.classes = {"opportunistic"};
  options.shim_dir = "/var/lib/tgs/0.1.0";
  options.grant_dir = "/run/tgs-grants";
  options.driver_libraries = {"/usr/lib/libcuda.so.1"};
  std::vector<tgsctl::GpuInfo> gpus = {{0, "GPU-00000000-1111-2222-3333-444444444444", 0u},
                                       {1, "GPU-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", 1u}};
  nlohmann::ordered_json spec = tgsctl::BuildCdiSpec(
      gpus, options, [](const std::string& p) { return p == "/dev/nvidiactl" || p == "/dev/nvidia0"; });
  CdiRegistry registry("tgs.io/gpu");
  registry.AddSpec(json::parse(spec.dump()), "/etc/cdi/tgs.json", 0);
  ASSERT_TRUE(registry.problems().empty()) << registry.problems()[0];
  std::string error;
  const CdiDevice* d0 = registry.Find("opportunistic-0", &error);
  const CdiDevice* d1 = registry.Find("opportunistic-GPU-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", &error);
  ASSERT_NE(d0, nullptr) << error;
  ASSERT_NE(d1, nullptr) << error;
  EXPECT_EQ(FindConflictingDevices({d0, d1}), "");

  json config = BaseConfig();
  // GPU 1's node (/dev/nvidia1) is not on this host: its device has none.
  ASSERT_TRUE(InjectCdiDevices(config, {d0, d1}, FakeNodes(), &error)) << error;
  std::map<std::string, std::string> mounts;
  for (const json& m : config["mounts"]) mounts[m["destination"]] = m["source"];
  EXPECT_EQ(mounts["/usr/lib/tgs"], "/var/lib/tgs/0.1.0");
  EXPECT_EQ(mounts["/etc/ld.so.preload"], "/var/lib/tgs/0.1.0/ld.so.preload");
  EXPECT_EQ(mounts["/run/tgs"], "/run/tgs-grants/class/opportunistic");
  EXPECT_EQ(mounts["/usr/local/nvidia/lib64/libcuda.so.1"], "/usr/lib/libcuda.so.1");
  EXPECT_EQ(config["mounts"].size(), 7u) << "3 of the base config (one replaced) + 4: " << config["mounts"].dump();
  EXPECT_EQ(config["process"]["env"], json::parse(R"(["PATH=/bin", "TGS_CLASS=opportunistic"])"));
  std::vector<std::string> nodes;
  for (const json& d : config["linux"]["devices"]) nodes.push_back(d["path"]);
  EXPECT_EQ(nodes, (std::vector<std::string>{"/dev/nvidiactl", "/dev/nvidia0"}));
  EXPECT_EQ(config["linux"]["resources"]["devices"].size(), 3u);
}

TEST(InjectCdiDevices, DevicesOfTwoClassesConflict) {
  auto spec = std::make_shared<CdiSpec>(CdiSpec{"/etc/cdi/tgs.json", nullptr});
  auto device = [&](const std::string& name, const std::string& klass) {
    return CdiDevice{name,
                     json{{"env", {"TGS_CLASS=" + klass}},
                          {"mounts", {{{"hostPath", "/g/class/" + klass}, {"containerPath", "/run/tgs"}}}}},
                     spec};
  };
  CdiDevice prod = device("production-0", "production"), opp = device("opportunistic-1", "opportunistic"),
            opp0 = device("opportunistic-0", "opportunistic");
  std::string conflict = FindConflictingDevices({&prod, &opp});
  EXPECT_NE(conflict.find("production-0 and opportunistic-1 set TGS_CLASS differently"), std::string::npos) << conflict;
  EXPECT_EQ(FindConflictingDevices({&opp0, &opp}), "");
}

}  // namespace
}  // namespace tgs::oci
