// A container run by runc on the simulated GPU, given TGS by CDI, under a
// real tgs-controller: the acceptance test of TGS on plain runtimes.
//
// The rootfs is the host's own binaries (rootfs.h). `tgsctl cdi generate`
// writes the spec against the simulated GPU (its libraries as the driver,
// its shared-memory segment mounted where the simulator looks by default).
// The container's workload starts under `env -i`, so nothing but the
// mounted /etc/ld.so.preload and /run/tgs can give it TGS. Two ways in:
//  - kWrapper: runc through tgs-oci-runtime, the container asking with
//    TGS_DEVICES=opportunistic-0;
//  - kEngine: the edits applied to config.json as a CDI-aware engine
//    (Docker 25+, containerd, podman) does for `--device tgs.io/gpu=...`,
//    then plain runc.
// Checked: the workload's memory limit is the class's (an allocation over it
// gets CUDA_ERROR_OUT_OF_MEMORY, one within it succeeds, it sees the limit
// as the GPU's size), and the controller lists the container under its
// cgroup with that class and limit and the memory it holds.
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <csignal>
#include <cstring>
#include <nlohmann/json.hpp>
#include <thread>

#include "container/runtime/apply_edits.h"
#include "container/runtime/cdi_registry.h"
#include "tests/container/runtime/rootfs.h"
#include "tests/container/runtime/runtime_test_env.h"
#include "tests/integration/process_runner.h"

namespace tgs::rt {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kLimit = 1024 * kMiB;  // the opportunistic class's memory_limit below

enum class Path { kWrapper, kEngine };
void PrintTo(Path p, std::ostream* os) { *os << (p == Path::kWrapper ? "tgs-oci-runtime" : "CDI-injecting engine"); }

std::string PathName(const ::testing::TestParamInfo<Path>& info) {
  return info.param == Path::kWrapper ? "TgsOciRuntime" : "CdiInjectingEngine";
}

class RuncTest : public ::testing::TestWithParam<Path> {
 protected:
  void SetUp() override {
    if (geteuid() != 0) {
      GTEST_SKIP() << "runc needs root to create namespaces and cgroups; running as uid " << geteuid();
    }
    runc_ = FindInPath("runc");
    if (runc_.empty())
      GTEST_SKIP() << "runc is not installed (apt-get install runc; tools/setup/install-deps.sh has it)";
    ASSERT_FALSE(Built::Controller().empty()) << "tgs-controller was not built";
    ASSERT_FALSE(dir_.path().empty());
    tag_ = "tgs-rt-runc-" + std::to_string(getpid()) + (GetParam() == Path::kWrapper ? "-w" : "-e");
    shm_ = tag_;
    cgroup_ = "/" + tag_;
    grant_dir_ = dir_ / "grants";
    admin_ = dir_ / "admin/admin.sock";
    WriteText(dir_ / "policy.yaml",
              "version: 1\n"
              "controller:\n"
              "  grant_dir: " +
                  grant_dir_ +
                  "\n"
                  "control: { interval_ms: 50 }\n"
                  // Anything that does not come through the
                  // class's grant socket is production, without limit.
                  "defaults: { class: production }\n"
                  "classes:\n"
                  "  opportunistic: { memory_limit: 1GiB }\n");
  }

  void TearDown() override {
    if (started_) {
      it::RunProcess({runc_, "--root", dir_ / "runc-root", "delete", "--force", tag_}, {{"PATH", "/usr/bin:/bin"}},
                     10s);
    }
    if (controller_.pid() > 0) {
      controller_.Signal(SIGTERM);
      controller_.Wait(5s);
    }
    if (!shm_.empty()) shm_unlink(("/" + shm_).c_str());
  }

  void StartController() {
    std::string error;
    ASSERT_TRUE(controller_.Start({Built::Controller(), "--config", dir_ / "policy.yaml", "--socket",
                                   dir_ / "ctl/tgs.sock", "--state-dir", dir_ / "state", "--admin-socket", admin_,
                                   "--grant-dir", grant_dir_, "--metrics-listen", "127.0.0.1:0", "--node-watch", "off"},
                                  {{"PATH", "/usr/bin:/bin"}, {"TGS_LOG", "info"}}, &error))
        << error;
    std::string socket = grant_dir_ + "/class/opportunistic/tgs.sock";
    for (int i = 0; i < 500; ++i) {
      struct stat st;
      if (stat(socket.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) return;
      std::this_thread::sleep_for(10ms);
    }
    controller_.Signal(SIGTERM);
    FAIL() << "tgs-controller did not create the class grant socket " << socket
           << " (container/INTERFACES.md, Grants)\n"
           << controller_.Wait(5s).Describe();
  }

  // The node's spec, against the simulated GPU; its first use creates the
  // simulator's segment on the host, so that it exists to be mounted.
  void GenerateSpec() {
    std::filesystem::create_directories(dir_ / "dev");
    // Stand-ins for the driver's nodes (the simulated GPU 0 has minor 0),
    // which runc must create in the container with access allowed.
    ASSERT_EQ(mknod((dir_ / "dev/nvidiactl").c_str(), S_IFCHR | 0666, makedev(1, 3)), 0) << strerror(errno);
    ASSERT_EQ(mknod((dir_ / "dev/nvidia0").c_str(), S_IFCHR | 0666, makedev(1, 5)), 0) << strerror(errno);
    std::filesystem::create_directories(dir_ / "cdi");
    it::RunResult r = it::RunProcess({Built::Tgsctl(),
                                      "cdi",
                                      "generate",
                                      "--config",
                                      dir_ / "policy.yaml",
                                      "--class",
                                      "opportunistic",
                                      "--shim-dir",
                                      Built::ShimDir(),
                                      "--nvml",
                                      Built::SimDir() + "/libnvidia-ml.so.1",
                                      "--driver-lib",
                                      Built::SimDir() + "/libcuda.so.1",
                                      "--driver-lib",
                                      Built::SimDir() + "/libnvidia-ml.so.1",
                                      "--dev-root",
                                      dir_ / "dev",
                                      "--mount",
                                      "/dev/shm/" + shm_ + ":/dev/shm/tgs-simgpu",
                                      "--output",
                                      dir_ / "cdi/tgs.json"},
                                     {{"PATH", "/usr/bin:/bin"},
                                      {"TGS_SIM_SHM", shm_},
                                      {"TGS_SIM_DEVICES", "1"},
                                      {"TGS_SIM_MEMORY", std::to_string(16 * kLimit)}},
                                     30s);
    ASSERT_EQ(r.exit_code, 0) << r.Describe();
    struct stat st;
    ASSERT_EQ(stat(("/dev/shm/" + shm_).c_str(), &st), 0) << "the simulator's segment was not created";
  }

  // config.json and a rootfs with /bin/sh, env and the workload.
  void WriteBundle(const std::vector<std::string>& env) {
    std::string error;
    ASSERT_TRUE(AssembleRootfs(dir_ / "bundle/rootfs",
                               {{"/bin/sh", "/bin/sh"},
                                {"/usr/bin/env", "/usr/bin/env"},
                                {Built::Client(), "/usr/bin/tgs-test-client-linked"}},
                               {Built::ShimDir() + "/libtgs.so", Built::ShimDir() + "/libtgs-nvml.so",
                                Built::SimDir() + "/libcuda.so.1", Built::SimDir() + "/libnvidia-ml.so.1"},
                               &error))
        << error;
    std::string over = std::to_string(kLimit + 512 * kMiB), within = std::to_string(512 * kMiB);
    std::string script =
        "test -c /dev/nvidiactl && echo 'NODE nvidiactl'; "
        "test -c /dev/nvidia0 && : < /dev/nvidia0 && echo 'NODE nvidia0'; "
        "exec /usr/bin/env -i /usr/bin/tgs-test-client-linked meminfo alloc alloc " +
        over + " alloc alloc " + within + " hold 5";
    json config = {
        {"ociVersion", "1.0.2"},
        {"process",
         {{"terminal", false},
          {"user", {{"uid", 0}, {"gid", 0}}},
          {"args", {"/bin/sh", "-c", script}},
          {"env", env},
          {"cwd", "/"},
          {"noNewPrivileges", true}}},
        {"root", {{"path", "rootfs"}, {"readonly", false}}},
        {"hostname", "tgs-runc-test"},
        {"mounts", json::parse(R"([
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]}])")},
        {"linux",
         {{"cgroupsPath", cgroup_},
          {"namespaces", json::parse(R"([{"type": "pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"}])")},
          // Deny every device but what runc and the CDI edits allow.
          {"resources", {{"devices", json::parse(R"([{"allow": false, "access": "rwm"}])")}}}}}};
    WriteText(dir_ / "bundle/config.json", config.dump(2));
  }

  // What a CDI-aware engine does for `--device tgs.io/gpu=opportunistic-0`.
  void InjectAsAnEngine() {
    oci::CdiRegistry registry("tgs.io/gpu");
    registry.LoadDirectories({dir_ / "cdi"});
    std::string error;
    const oci::CdiDevice* device = registry.Find("opportunistic-0", &error);
    ASSERT_NE(device, nullptr) << error;
    json config = json::parse(ReadText(dir_ / "bundle/config.json"));
    ASSERT_TRUE(oci::InjectCdiDevices(config, {device}, oci::StatHostDeviceNode, &error)) << error;
    WriteText(dir_ / "bundle/config.json", config.dump(2));
  }

  void StartContainer(it::Process* p) {
    std::vector<std::string> argv = {"--root", dir_ / "runc-root", "run", "--bundle", dir_ / "bundle", tag_};
    argv.insert(argv.begin(), GetParam() == Path::kWrapper ? Built::OciRuntime() : runc_);
    std::string error;
    ASSERT_TRUE(p->Start(
        argv,
        {{"PATH", "/usr/sbin:/usr/bin:/sbin:/bin"}, {"TGS_OCI_RUNTIME", runc_}, {"TGS_CDI_SPEC_DIRS", dir_ / "cdi"}},
        &error))
        << error;
    started_ = true;
  }

  // What the controller logged so far, for failure messages.
  std::string ControllerLog() {
    controller_.WaitForError("\x01never", 200ms);
    return controller_.err();
  }

  // The controller's view of the container (tgsctl status --json), once it
  // shows `bytes` in use; null when it never does.
  json ContainerStatus(uint64_t bytes, std::string* last) {
    for (int i = 0; i < 40; ++i) {
      it::RunResult r =
          it::RunProcess({Built::Tgsctl(), "--socket", admin_, "status", "--json"}, {{"PATH", "/usr/bin:/bin"}}, 10s);
      *last = r.Describe();
      if (r.exit_code == 0) {
        json status = json::parse(r.out, nullptr, false);
        json container, usage;
        for (const json& c : status.value("containers", json::array())) {
          if (c.value("container", "") == "cgroup:" + cgroup_) container = c;
        }
        for (const json& g : status.value("gpus", json::array())) {
          for (const json& c : g.value("containers", json::array())) {
            if (c.value("container", "") == "cgroup:" + cgroup_) usage = c;
          }
        }
        if (!container.is_null() && usage.contains("memory") &&
            usage["memory"].value("used_bytes", uint64_t{0}) == bytes) {
          container["usage"] = usage;
          return container;
        }
      }
      std::this_thread::sleep_for(100ms);
    }
    return nullptr;
  }

  TempDir dir_{"tgs-rt-runc"};
  std::string runc_, tag_, shm_, cgroup_, grant_dir_, admin_;
  it::Process controller_;
  bool started_ = false;
};

TEST_P(RuncTest, ContainerGetsItsClassesLimitAndRegistersUnderItsCgroup) {
  ASSERT_NO_FATAL_FAILURE(StartController());
  ASSERT_NO_FATAL_FAILURE(GenerateSpec());
  std::vector<std::string> env = {"PATH=/usr/bin:/bin"};
  if (GetParam() == Path::kWrapper) env.push_back("TGS_DEVICES=opportunistic-0");
  ASSERT_NO_FATAL_FAILURE(WriteBundle(env));
  if (GetParam() == Path::kEngine) {
    ASSERT_NO_FATAL_FAILURE(InjectAsAnEngine());
  }

  it::Process container;
  ASSERT_NO_FATAL_FAILURE(StartContainer(&container));
  bool holding = container.WaitForOutput("RESULT hold", 60s);
  std::string status_error;
  json seen = holding ? ContainerStatus(512 * kMiB, &status_error) : json();
  it::RunResult r = container.Wait(60s);
  ASSERT_TRUE(holding) << "the workload did not get to hold its memory\n"
                       << r.Describe() << "\ncontroller: " << ControllerLog();
  EXPECT_EQ(r.exit_code, 0) << r.Describe();

  EXPECT_NE(r.out.find("NODE nvidiactl"), std::string::npos) << "device node not in the container\n" << r.out;
  EXPECT_NE(r.out.find("NODE nvidia0"), std::string::npos) << "GPU node missing or not allowed\n" << r.out;
  std::vector<it::ResultLine> results = it::ParseResults(r.out);
  const it::ResultLine* info = it::FindResult(results, "meminfo");
  const it::ResultLine* over = it::FindResult(results, "alloc", 0);
  const it::ResultLine* within = it::FindResult(results, "alloc", 1);
  ASSERT_TRUE(info && over && within) << r.Describe();
  EXPECT_EQ(info->Num("total"), kLimit) << "the container sees its limit as the GPU's size\n" << r.Describe();
  EXPECT_EQ(over->Get("status"), "CUDA_ERROR_OUT_OF_MEMORY") << r.Describe();
  EXPECT_EQ(within->Get("status"), "CUDA_SUCCESS") << r.Describe();

  ASSERT_FALSE(seen.is_null()) << "tgsctl status never showed cgroup:" << cgroup_ << " holding 512 MiB\n"
                               << status_error << "\ncontroller: " << ControllerLog();
  EXPECT_EQ(seen["class"], "opportunistic") << seen.dump(2);
  EXPECT_NE(seen.value("matched_by", "").find("class:opportunistic"), std::string::npos)
      << "the class must come from the grant socket\n"
      << seen.dump(2);
  EXPECT_EQ(seen["memory_limit_bytes"], kLimit) << seen.dump(2);
  EXPECT_EQ(seen["usage"]["memory"]["limit_bytes"], kLimit) << seen.dump(2);
}

INSTANTIATE_TEST_SUITE_P(Paths, RuncTest, ::testing::Values(Path::kWrapper, Path::kEngine), PathName);

}  // namespace
}  // namespace tgs::rt
