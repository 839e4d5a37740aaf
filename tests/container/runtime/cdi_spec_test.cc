// The CDI spec `tgsctl cdi generate` builds (tools/tgsctl/cdi_spec.h), from
// a made-up inventory and made-up device nodes.
#include "tools/tgsctl/cdi_spec.h"

#include <gtest/gtest.h>

#include <set>

namespace tgs::tgsctl {
namespace {

using nlohmann::ordered_json;

const char* kUuid0 = "GPU-00000000-1111-2222-3333-444444444444";
const char* kUuid1 = "GPU-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";

std::vector<GpuInfo> TwoGpus() { return {{0, kUuid0, 0u}, {1, kUuid1, 3u}}; }

CdiSpecOptions Options() {
  CdiSpecOptions o;
  o.classes = {"production", "opportunistic"};
  o.shim_dir = "/var/lib/tgs/0.1.0";
  o.grant_dir = "/run/tgs-grants";
  o.driver_libraries = {"/usr/lib/x86_64-linux-gnu/libcuda.so.1", "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1"};
  return o;
}

PathExists Only(std::set<std::string> paths) {
  return [paths = std::move(paths)](const std::string& p) { return paths.count(p) != 0; };
}

const ordered_json* Device(const ordered_json& spec, const std::string& name) {
  for (const ordered_json& d : spec["devices"]) {
    if (d["name"] == name) return &d;
  }
  return nullptr;
}

// The mount whose containerPath is `target` in an edits object, or null.
ordered_json MountAt(const ordered_json& edits, const std::string& target) {
  for (const ordered_json& m : edits.value("mounts", ordered_json::array())) {
    if (m["containerPath"] == target) return m;
  }
  return nullptr;
}

std::vector<std::string> NodePaths(const ordered_json& edits) {
  std::vector<std::string> paths;
  for (const ordered_json& n : edits.value("deviceNodes", ordered_json::array())) paths.push_back(n["path"]);
  return paths;
}

TEST(CdiSpec, NamesEveryGpuByIndexAndUuidAndAllOfThemPerClass) {
  ordered_json spec = BuildCdiSpec(TwoGpus(), Options(), Only({}));
  EXPECT_EQ(spec["kind"], "tgs.io/gpu");
  std::vector<std::string> names;
  for (const ordered_json& d : spec["devices"]) names.push_back(d["name"]);
  std::vector<std::string> expected = {"production-0",
                                       "production-" + std::string(kUuid0),
                                       "production-1",
                                       "production-" + std::string(kUuid1),
                                       "production-all",
                                       "opportunistic-0",
                                       "opportunistic-" + std::string(kUuid0),
                                       "opportunistic-1",
                                       "opportunistic-" + std::string(kUuid1),
                                       "opportunistic-all"};
  EXPECT_EQ(names, expected);
}

TEST(CdiSpec, EachDeviceCarriesItsClassAndItsClassesGrantDirectory) {
  ordered_json spec = BuildCdiSpec(TwoGpus(), Options(), Only({}));
  for (const char* klass : {"production", "opportunistic"}) {
    for (const std::string suffix : {"0", "1", "all"}) {
      const ordered_json* d = Device(spec, std::string(klass) + "-" + suffix);
      ASSERT_NE(d, nullptr) << klass << "-" << suffix;
      const ordered_json& edits = (*d)["containerEdits"];
      EXPECT_EQ(edits["env"], ordered_json::array({std::string("TGS_CLASS=") + klass}));
      ordered_json grant = MountAt(edits, "/run/tgs");
      ASSERT_FALSE(grant.is_null()) << edits.dump();
      // The directory (a restarted controller's new socket is seen), read-only.
      EXPECT_EQ(grant["hostPath"], std::string("/run/tgs-grants/class/") + klass);
      EXPECT_EQ(grant["options"][0], "ro");
      EXPECT_NE(std::find(grant["options"].begin(), grant["options"].end(), "bind"), grant["options"].end());
    }
  }
}

TEST(CdiSpec, SpecLevelEditsGiveTheShimThePreloadListAndTheDriver) {
  CdiSpecOptions o = Options();
  o.mounts = {{"/dev/shm/sim-a", "/dev/shm/tgs-simgpu", false}, {"/etc/tgs/extra", "/etc/extra", true}};
  ordered_json spec = BuildCdiSpec(TwoGpus(), o, Only({}));
  const ordered_json& edits = spec["containerEdits"];
  EXPECT_FALSE(edits.contains("env")) << "the class is a device's, not the spec's";
  ordered_json shim = MountAt(edits, "/usr/lib/tgs");
  ASSERT_FALSE(shim.is_null());
  EXPECT_EQ(shim["hostPath"], "/var/lib/tgs/0.1.0");
  EXPECT_EQ(shim["options"][0], "ro");
  ordered_json preload = MountAt(edits, "/etc/ld.so.preload");
  ASSERT_FALSE(preload.is_null());
  EXPECT_EQ(preload["hostPath"], "/var/lib/tgs/0.1.0/ld.so.preload");
  EXPECT_EQ(preload["options"][0], "ro");
  EXPECT_EQ(MountAt(edits, "/usr/local/nvidia/lib64/libcuda.so.1")["hostPath"],
            "/usr/lib/x86_64-linux-gnu/libcuda.so.1");
  EXPECT_EQ(MountAt(edits, "/usr/local/nvidia/lib64/libnvidia-ml.so.1")["hostPath"],
            "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1");
  ordered_json sim = MountAt(edits, "/dev/shm/tgs-simgpu");
  EXPECT_EQ(sim["hostPath"], "/dev/shm/sim-a");
  EXPECT_NE(sim["options"][0], "ro") << "the simulated GPU's segment is written";
  EXPECT_EQ(MountAt(edits, "/etc/extra")["options"][0], "ro");
}

TEST(CdiSpec, NoDriverLibrariesWhenNoneAreGiven) {
  CdiSpecOptions o = Options();
  o.driver_libraries.clear();
  ordered_json spec = BuildCdiSpec(TwoGpus(), o, Only({}));
  for (const ordered_json& m : spec["containerEdits"]["mounts"]) {
    EXPECT_EQ(m["containerPath"].get<std::string>().rfind("/usr/local/nvidia", 0), std::string::npos) << m.dump();
  }
}

TEST(CdiSpec, ListsOnlyDeviceNodesThatExistAndEachGpusOwnNode) {
  // nvidia-uvm-tools and GPU 1's /dev/nvidia3 are missing.
  ordered_json spec = BuildCdiSpec(TwoGpus(), Options(), Only({"/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia0"}));
  EXPECT_EQ(NodePaths(spec["containerEdits"]), (std::vector<std::string>{"/dev/nvidiactl", "/dev/nvidia-uvm"}));
  EXPECT_EQ(NodePaths((*Device(spec, "opportunistic-0"))["containerEdits"]), std::vector<std::string>{"/dev/nvidia0"});
  EXPECT_EQ(NodePaths((*Device(spec, "opportunistic-" + std::string(kUuid0)))["containerEdits"]),
            std::vector<std::string>{"/dev/nvidia0"});
  EXPECT_FALSE((*Device(spec, "opportunistic-1"))["containerEdits"].contains("deviceNodes"));
  EXPECT_EQ(NodePaths((*Device(spec, "production-all"))["containerEdits"]), std::vector<std::string>{"/dev/nvidia0"});

  spec = BuildCdiSpec(TwoGpus(), Options(), Only({"/dev/nvidia0", "/dev/nvidia3"}));
  EXPECT_EQ(NodePaths((*Device(spec, "production-1"))["containerEdits"]), std::vector<std::string>{"/dev/nvidia3"});
  EXPECT_EQ(NodePaths((*Device(spec, "production-all"))["containerEdits"]),
            (std::vector<std::string>{"/dev/nvidia0", "/dev/nvidia3"}));
  EXPECT_FALSE(spec["containerEdits"].contains("deviceNodes"));
}

TEST(CdiSpec, AGpuWithoutMinorNumberGetsNoNode) {
  std::vector<GpuInfo> gpus = {{0, kUuid0, std::nullopt}};
  ordered_json spec = BuildCdiSpec(gpus, Options(), Only({"/dev/nvidia0"}));
  EXPECT_FALSE((*Device(spec, "production-0"))["containerEdits"].contains("deviceNodes"));
}

TEST(CdiSpec, DeviceRootElsewhereGivesHostPathsAndNeedsCdi050) {
  CdiSpecOptions o = Options();
  o.dev_root = "/tmp/fake-dev/";
  ordered_json spec = BuildCdiSpec(TwoGpus(), o, Only({"/tmp/fake-dev/nvidiactl", "/tmp/fake-dev/nvidia0"}));
  ASSERT_EQ(NodePaths(spec["containerEdits"]), std::vector<std::string>{"/dev/nvidiactl"});
  EXPECT_EQ(spec["containerEdits"]["deviceNodes"][0]["hostPath"], "/tmp/fake-dev/nvidiactl");
  EXPECT_EQ((*Device(spec, "production-0"))["containerEdits"]["deviceNodes"][0]["hostPath"], "/tmp/fake-dev/nvidia0");
  EXPECT_EQ(spec["cdiVersion"], "0.5.0");
}

TEST(CdiSpec, UsesTheLowestCdiVersionThatHasItsFields) {
  // The usual spec: env, bind mounts without type, device nodes by path.
  EXPECT_EQ(BuildCdiSpec(TwoGpus(), Options(), Only({"/dev/nvidiactl", "/dev/nvidia0"}))["cdiVersion"], "0.3.0");
  // A class starting with a digit makes device names that need 0.5.0.
  CdiSpecOptions o = Options();
  o.classes = {"9lives"};
  EXPECT_EQ(BuildCdiSpec(TwoGpus(), o, Only({}))["cdiVersion"], "0.5.0");
  // Written first, then the kind, as people read specs.
  ordered_json spec = BuildCdiSpec(TwoGpus(), Options(), Only({}));
  EXPECT_EQ(spec.begin().key(), "cdiVersion");
  EXPECT_EQ(std::next(spec.begin()).key(), "kind");
}

TEST(CdiSpec, MinimumVersionFollowsTheCdiProjectsRules) {
  auto spec = [](const std::string& text) { return ordered_json::parse(text); };
  EXPECT_EQ(MinimumCdiVersion(spec(R"({"kind":"tgs.io/gpu","devices":[{"name":"a"}]})")), "0.3.0");
  EXPECT_EQ(MinimumCdiVersion(spec(R"({"kind":"tgs.io/gpu","devices":[{"name":"a","containerEdits":
      {"mounts":[{"hostPath":"/a","containerPath":"/b","type":"bind"}]}}]})")),
            "0.4.0");
  EXPECT_EQ(MinimumCdiVersion(spec(R"({"kind":"tgs.io/gpu","containerEdits":
      {"deviceNodes":[{"path":"/dev/a","hostPath":"/x/a"}]},"devices":[{"name":"a"}]})")),
            "0.5.0");
  EXPECT_EQ(MinimumCdiVersion(spec(R"({"kind":"tgs.io/gpu","devices":[{"name":"0a"}]})")), "0.5.0");
  EXPECT_EQ(MinimumCdiVersion(spec(R"({"kind":"tgs.io/gpu","devices":[{"name":"a","annotations":{"k":"v"}}]})")),
            "0.6.0");
  EXPECT_EQ(MinimumCdiVersion(spec(R"({"kind":"tgs.io/gpu.x","devices":[{"name":"a"}]})")), "0.6.0");
  EXPECT_EQ(MinimumCdiVersion(spec(R"({"kind":"tgs.io/gpu","devices":[{"name":"a","containerEdits":
      {"additionalGids":[5]}}]})")),
            "0.7.0");
}

TEST(CdiSpecOptionsCheck, AcceptsTheDefaults) { EXPECT_TRUE(CheckCdiSpecOptions(Options()).empty()); }

TEST(CdiSpecOptionsCheck, NamesEveryProblem) {
  CdiSpecOptions o = Options();
  o.classes = {"opportunistic", "bad/class", "-dash", "opportunistic"};
  o.shim_dir = "build/lib/tgs";
  o.driver_libraries = {"/a/libcuda.so.1", "/b/libcuda.so.1"};
  o.mounts = {{"/x", "/run/tgs", false}};
  std::vector<std::string> problems = CheckCdiSpecOptions(o);
  std::string all;
  for (const std::string& p : problems) all += p + "\n";
  EXPECT_NE(all.find("class 'bad/class'"), std::string::npos) << all;
  EXPECT_NE(all.find("class '-dash'"), std::string::npos) << all;
  EXPECT_NE(all.find("class 'opportunistic' given twice"), std::string::npos) << all;
  EXPECT_NE(all.find("shim directory 'build/lib/tgs' is not an absolute path"), std::string::npos) << all;
  EXPECT_NE(all.find("/usr/local/nvidia/lib64/libcuda.so.1"), std::string::npos) << all;
  EXPECT_NE(all.find("both go to /run/tgs"), std::string::npos) << all;
  EXPECT_EQ(problems.size(), 6u) << all;
  o = Options();
  o.classes.clear();
  EXPECT_EQ(CheckCdiSpecOptions(o), std::vector<std::string>{"no class given"});
}

TEST(CdiDeviceName, FollowsTheCdiNameRule) {
  EXPECT_EQ(CheckCdiDeviceName("opportunistic"), "");
  EXPECT_EQ(CheckCdiDeviceName("batch_2.x-y"), "");
  EXPECT_NE(CheckCdiDeviceName(""), "");
  EXPECT_NE(CheckCdiDeviceName("a-"), "");
  EXPECT_NE(CheckCdiDeviceName("a b"), "");
  EXPECT_NE(CheckCdiDeviceName("a=b"), "");
}

TEST(MountFlag, ParsesHostContainerAndReadOnly) {
  std::string error;
  std::optional<ExtraMount> m = ParseMountFlag("/dev/shm/a:/dev/shm/tgs-simgpu", &error);
  ASSERT_TRUE(m) << error;
  EXPECT_EQ(m->host_path, "/dev/shm/a");
  EXPECT_EQ(m->container_path, "/dev/shm/tgs-simgpu");
  EXPECT_FALSE(m->read_only);
  m = ParseMountFlag("/etc/a:/etc/b:ro", &error);
  ASSERT_TRUE(m) << error;
  EXPECT_TRUE(m->read_only);
  EXPECT_EQ(m->container_path, "/etc/b");
  for (const char* bad : {"/only", "rel:/b", "/a:rel", "/a:/b:/c", "/a:", ":/b", "/a:/b:rw"}) {
    error.clear();
    EXPECT_FALSE(ParseMountFlag(bad, &error)) << bad;
    EXPECT_FALSE(error.empty()) << bad;
  }
}

TEST(ShimDirectory, NamesTheMissingFiles) {
  EXPECT_TRUE(MissingShimFiles("/s", Only({"/s/libtgs.so", "/s/libtgs-nvml.so", "/s/ld.so.preload"})).empty());
  EXPECT_EQ(MissingShimFiles("/s/", Only({"/s/libtgs.so"})),
            (std::vector<std::string>{"libtgs-nvml.so", "ld.so.preload"}));
}

}  // namespace
}  // namespace tgs::tgsctl
