// `tgsctl cdi generate` as a program, against the simulated GPU's NVML: what
// it writes, and how it refuses bad flags (no root needed).
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <nlohmann/json.hpp>

#include "tests/container/runtime/runtime_test_env.h"
#include "tests/integration/process_runner.h"

namespace tgs::rt {
namespace {

using nlohmann::json;

class TgsctlCdiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    shm_ = "tgs-rt-cdi-" + std::to_string(getpid());
    // An explicit policy, so that a node's /etc/tgs/config.yaml stays out.
    WriteText(dir_ / "policy.yaml", "version: 1\n");
  }
  void TearDown() override { shm_unlink(("/" + shm_).c_str()); }

  it::RunResult Generate(std::vector<std::string> flags) {
    std::vector<std::string> argv = {Built::Tgsctl(), "cdi", "generate", "--nvml",
                                     Built::SimDir() + "/libnvidia-ml.so.1"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    return it::RunProcess(argv, {{"PATH", "/usr/bin:/bin"}, {"TGS_SIM_SHM", shm_}, {"TGS_SIM_DEVICES", "2"}},
                          std::chrono::seconds(30));
  }
  std::vector<std::string> Usual() {
    return {"--shim-dir",   Built::ShimDir(),
            "--driver-lib", Built::SimDir() + "/libcuda.so.1",
            "--driver-lib", Built::SimDir() + "/libnvidia-ml.so.1",
            "--grant-dir",  dir_ / "grants",
            "--dev-root",   dir_ / "dev",
            "--config",     dir_ / "policy.yaml"};
  }

  TempDir dir_{"tgs-rt-cdi"};
  std::string shm_;
};

TEST_F(TgsctlCdiTest, WritesTheSpecForEveryClassAndSimulatedGpu) {
  std::vector<std::string> flags = Usual();
  for (const std::string& f : {std::string("--output"), dir_ / "cdi/tgs.json", std::string("--mount"),
                               "/dev/shm/" + shm_ + ":/dev/shm/tgs-simgpu"}) {
    flags.push_back(f);
  }
  std::filesystem::create_directories(dir_ / "cdi");
  it::RunResult r = Generate(flags);
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_EQ(r.out, "") << "the spec goes to --output only";
  EXPECT_NE(r.err.find("10 devices (CDI 0.3.0) for 2 GPU(s) written to"), std::string::npos) << r.err;
  json spec = json::parse(ReadText(dir_ / "cdi/tgs.json"));
  EXPECT_EQ(spec["kind"], "tgs.io/gpu");
  EXPECT_EQ(spec["cdiVersion"], "0.3.0") << "no device node exists under the empty --dev-root";
  std::vector<std::string> names;
  for (const json& d : spec["devices"]) names.push_back(d["name"]);
  ASSERT_EQ(names.size(), 10u) << spec.dump(2);
  EXPECT_EQ(names[0], "production-0");
  EXPECT_EQ(names[1].rfind("production-GPU-", 0), 0u) << names[1];
  EXPECT_EQ(names[4], "production-all");
  EXPECT_EQ(names[9], "opportunistic-all");
  EXPECT_NE(names[1], names[3]) << "two GPUs, two UUIDs";
  std::map<std::string, std::string> mounts;
  for (const json& m : spec["containerEdits"]["mounts"]) mounts[m["containerPath"]] = m["hostPath"];
  EXPECT_EQ(mounts["/usr/lib/tgs"], Built::ShimDir());
  EXPECT_EQ(mounts["/etc/ld.so.preload"], Built::ShimDir() + "/ld.so.preload");
  EXPECT_EQ(mounts["/usr/local/nvidia/lib64/libcuda.so.1"], Built::SimDir() + "/libcuda.so.1");
  EXPECT_EQ(mounts["/dev/shm/tgs-simgpu"], "/dev/shm/" + shm_);
  EXPECT_EQ(spec["devices"][5]["containerEdits"]["mounts"][0]["hostPath"], dir_ / "grants/class/opportunistic");
  struct stat st;
  ASSERT_EQ(stat((dir_ / "cdi/tgs.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u) << "runtimes read the spec as any user";
  // Nothing but the spec is left in the directory (the temporary file is renamed).
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_ / "cdi"), {}), 1);
}

TEST_F(TgsctlCdiTest, DeviceNodesUnderDevRootAreListedWithHostPaths) {
  if (geteuid() != 0) GTEST_SKIP() << "making device nodes (mknod) needs root; running as uid " << geteuid();
  std::filesystem::create_directories(dir_ / "dev");
  ASSERT_EQ(mknod((dir_ / "dev/nvidiactl").c_str(), S_IFCHR | 0666, makedev(1, 3)), 0);
  ASSERT_EQ(mknod((dir_ / "dev/nvidia1").c_str(), S_IFCHR | 0666, makedev(1, 5)), 0);
  WriteText(dir_ / "dev/nvidia-uvm", "a regular file is no device node");
  it::RunResult r = Generate(Usual());
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  json spec = json::parse(r.out);
  EXPECT_EQ(spec["cdiVersion"], "0.5.0") << "hostPath needs CDI 0.5.0";
  EXPECT_EQ(spec["containerEdits"]["deviceNodes"],
            json::parse(R"([{"path": "/dev/nvidiactl", "hostPath": ")" + (dir_ / "dev/nvidiactl") + R"("}])"));
  // The simulated GPU i has minor number i.
  EXPECT_FALSE(spec["devices"][0]["containerEdits"].contains("deviceNodes")) << spec["devices"][0].dump();
  EXPECT_EQ(spec["devices"][2]["name"], "production-1");
  EXPECT_EQ(spec["devices"][2]["containerEdits"]["deviceNodes"][0]["path"], "/dev/nvidia1");
}

TEST_F(TgsctlCdiTest, GrantDirectoryAndClassesComeFromThePolicy) {
  WriteText(dir_ / "policy-batch.yaml", "version: 1\ncontroller:\n  grant_dir: " + (dir_ / "policy-grants") +
                                            "\nclasses:\n  batch: { kind: opportunistic, weight: 2 }\n");
  std::vector<std::string> flags = Usual();
  flags.erase(flags.begin() + 6, flags.begin() + 8);  // no --grant-dir
  flags.back() = dir_ / "policy-batch.yaml";
  flags.insert(flags.end(), {"--class", "batch"});
  it::RunResult r = Generate(flags);
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  json spec = json::parse(r.out);
  ASSERT_EQ(spec["devices"].size(), 5u);
  EXPECT_EQ(spec["devices"][0]["name"], "batch-0");
  EXPECT_EQ(spec["devices"][0]["containerEdits"]["env"][0], "TGS_CLASS=batch");
  EXPECT_EQ(spec["devices"][0]["containerEdits"]["mounts"][0]["hostPath"], dir_ / "policy-grants/class/batch");

  flags.back() = "gold";
  r = Generate(flags);
  EXPECT_EQ(r.exit_code, 2) << r.Describe();
  EXPECT_NE(r.err.find("--class gold: not a class of the policy"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("batch, opportunistic, production"), std::string::npos) << r.err;
}

// With the shim preloaded into tgsctl, the loader's answer for libcuda.so.1
// is the shim itself; the driver the spec mounts must still be the real one.
TEST_F(TgsctlCdiTest, DefaultDriverLibrariesAreTheRealOnesNotTheShim) {
  it::RunResult r = it::RunProcess(
      {Built::Tgsctl(), "cdi", "generate", "--shim-dir", Built::ShimDir(), "--config", dir_ / "policy.yaml"},
      {{"PATH", "/usr/bin:/bin"},
       {"TGS_SIM_SHM", shm_},
       {"LD_LIBRARY_PATH", Built::SimDir()},
       {"LD_PRELOAD", Built::ShimDir() + "/libtgs.so " + Built::ShimDir() + "/libtgs-nvml.so"},
       {"TGS_CONTROLLER_SOCKET", dir_ / "no-controller.sock"}},
      std::chrono::seconds(30));
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  json spec = json::parse(r.out);
  std::map<std::string, std::string> mounts;
  for (const json& m : spec["containerEdits"]["mounts"]) mounts[m["containerPath"]] = m["hostPath"];
  EXPECT_EQ(mounts["/usr/local/nvidia/lib64/libcuda.so.1"], Built::SimDir() + "/libcuda.so.1") << spec.dump(2);
  EXPECT_EQ(mounts["/usr/local/nvidia/lib64/libnvidia-ml.so.1"], Built::SimDir() + "/libnvidia-ml.so.1");
  EXPECT_EQ(spec["devices"].size(), 6u) << "one simulated GPU, two classes";
}

// Without --nvml the GPUs are those of the NVML the containers get.
TEST_F(TgsctlCdiTest, GpusComeFromTheNvmlAmongTheDriverLibraries) {
  std::vector<std::string> argv = {Built::Tgsctl(), "cdi", "generate"};
  std::vector<std::string> flags = Usual();
  argv.insert(argv.end(), flags.begin(), flags.end());
  it::RunResult r = it::RunProcess(argv, {{"PATH", "/usr/bin:/bin"}, {"TGS_SIM_SHM", shm_}, {"TGS_SIM_DEVICES", "3"}},
                                   std::chrono::seconds(30));
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_EQ(json::parse(r.out)["devices"].size(), 14u) << "3 simulated GPUs, 2 classes";
}

TEST_F(TgsctlCdiTest, RefusesBadFlagsNamingThem) {
  std::filesystem::create_directories(dir_ / "half-shim");
  WriteText(dir_ / "half-shim/libtgs.so", "");
  WriteText(dir_ / "policy-bad.yaml", "version: 1\ncontrol: { intervl_ms: 5 }\n");
  struct Case {
    std::vector<std::string> flags;
    int exit;
    std::string message;
  } cases[] = {
      {{"--shim-dir", dir_ / "half-shim"},
       2,
       "--shim-dir " + (dir_ / "half-shim") + " lacks libtgs-nvml.so, ld.so.preload"},
      {{"--driver-lib", dir_ / "nope.so"}, 2, "--driver-lib " + (dir_ / "nope.so") + ": no such file"},
      {{"--driver-lib", Built::ShimDir() + "/libtgs.so"}, 2, "is TGS's shim, not the driver"},
      {{"--driver-lib", "none", "--driver-lib", Built::SimDir() + "/libcuda.so.1"}, 2, "exclude each other"},
      {{"--mount", "/dev/shm/x"}, 2, "--mount /dev/shm/x: expected HOST:CONTAINER"},
      {{"--mount", "/a:/run/tgs"}, 2, "both go to /run/tgs"},
      {{"--class", "Bad/Class"}, 2, "--class Bad/Class: not a class of the policy"},
      {{"--config", dir_ / "policy-bad.yaml"}, 2, "the policy " + (dir_ / "policy-bad.yaml") + " does not load"},
      {{"--nvml", dir_ / "no-nvml.so"}, 1, "cannot load NVML from " + (dir_ / "no-nvml.so")},
      {{"--nvml", Built::SimDir() + "/libcuda.so.1"}, 1, "is not NVML: it has no nvml"},
      {{"--output"}, 2, "--output needs a value"},
      {{"--output", dir_ / "missing-dir/tgs.json"}, 1, "cannot create a file in " + (dir_ / "missing-dir")},
      {{"--frobnicate"}, 2, "unknown argument '--frobnicate'"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> flags = Usual();
    flags.insert(flags.end(), c.flags.begin(), c.flags.end());
    it::RunResult r = Generate(flags);
    EXPECT_EQ(r.exit_code, c.exit) << c.flags[0] << ": " << r.Describe();
    EXPECT_NE(r.err.find(c.message), std::string::npos) << c.flags[0] << ": " << r.err;
    EXPECT_EQ(r.out, "") << c.flags[0];
  }
}

}  // namespace
}  // namespace tgs::rt
