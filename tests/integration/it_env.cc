#include "tests/integration/it_env.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

namespace tgs::it {

namespace fs = std::filesystem;

std::string Paths::ShimLib() { return TGS_IT_SHIM_LIB; }
std::string Paths::ShimNvmlLib() { return TGS_IT_SHIM_NVML_LIB; }
std::string Paths::SimDir() { return TGS_IT_SIM_DIR; }
std::string Paths::BinDir() { return TGS_IT_BIN_DIR; }
std::string Paths::ClientLinked() { return TGS_IT_CLIENT_LINKED; }
std::string Paths::ClientProcaddr() { return TGS_IT_CLIENT_PROCADDR; }
std::string Paths::CudartShared() { return TGS_IT_CUDART_SHARED; }
std::string Paths::CudartStatic() { return TGS_IT_CUDART_STATIC; }
std::string Paths::TrainSim() { return TGS_IT_TRAIN_SIM; }
std::string Paths::InferSim() { return TGS_IT_INFER_SIM; }

const char* ClientName(Client c) { return c == Client::kLinked ? "linked" : "procaddr"; }
std::string ClientPath(Client c) { return c == Client::kLinked ? Paths::ClientLinked() : Paths::ClientProcaddr(); }

std::string Bytes(uint64_t n) { return std::to_string(n); }

::testing::AssertionResult BuiltArtifactsPresent() {
  const std::string required[] = {
      Paths::ShimLib(),
      Paths::ShimNvmlLib(),
      Paths::SimDir() + "/libcuda.so.1",
      Paths::SimDir() + "/libnvidia-ml.so.1",
      Paths::ClientLinked(),
      Paths::ClientProcaddr(),
  };
  std::string missing;
  for (const auto& p : required) {
    if (!fs::exists(p)) missing += " " + p;
  }
  if (missing.empty()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "not built:" << missing;
}

namespace {

// Only [A-Za-z0-9_-], so the name is a valid shm and file name.
std::string Sanitize(std::string s) {
  for (char& ch : s) {
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-';
    if (!ok) ch = '_';
  }
  if (s.size() > 120) s = s.substr(s.size() - 120);
  return s;
}

}  // namespace

void IntegrationTest::SetUp() {
  ASSERT_TRUE(BuiltArtifactsPresent());
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = std::string(info->test_suite_name()) + "-" + info->name();
  shm_name_ = "tgs-it-" + Sanitize(name) + "-" + std::to_string(getpid());
  char dir[] = "/tmp/tgs-it-state-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  state_dir_ = dir;
}

void IntegrationTest::TearDown() {
  if (!shm_name_.empty()) {
    shm_unlink(("/" + shm_name_).c_str());
    // Anything else the simulator derived from the name.
    std::error_code ec;
    for (const auto& e : fs::directory_iterator("/dev/shm", ec)) {
      if (e.path().filename().string().rfind(shm_name_, 0) == 0) fs::remove(e.path(), ec);
    }
  }
  if (!state_dir_.empty()) {
    std::error_code ec;
    fs::remove_all(state_dir_, ec);
  }
}

Env IntegrationTest::ContainerEnv(const Container& c, bool preload) const {
  Env env;
  env["PATH"] = "/usr/local/bin:/usr/bin:/bin";
  env["LD_LIBRARY_PATH"] = Paths::SimDir();
  env["TGS_SIM_SHM"] = shm_name_;
  env["TGS_SIM_DEVICES"] = "1";
  env["TGS_SIM_MEMORY"] = std::to_string(kSimMemory);
  env["TGS_STATE_DIR"] = state_dir_;
  // Local accounting unless a test starts its own controller: a tgs-controller
  // running on this host at the default socket must not join the tests.
  env["TGS_CONTROLLER_SOCKET"] = state_dir_ + "/no-controller.sock";
  if (preload) env["LD_PRELOAD"] = Paths::ShimLib() + " " + Paths::ShimNvmlLib();
  if (!c.id.empty()) env["TGS_CONTAINER_ID"] = c.id;
  if (!c.limit.empty()) env["TGS_MEMORY_LIMIT"] = c.limit;
  return env;
}

RunResult IntegrationTest::RunClient(Client client, const Env& env, const std::vector<std::string>& args,
                                     std::chrono::milliseconds timeout) {
  std::vector<std::string> argv{ClientPath(client)};
  argv.insert(argv.end(), args.begin(), args.end());
  RunResult r = RunProcess(argv, env, timeout);
  EXPECT_FALSE(r.timed_out) << ClientName(client) << " client: " << r.Describe();
  EXPECT_EQ(r.term_signal, 0) << ClientName(client) << " client: " << r.Describe();
  return r;
}

std::string WritableCgroupRoot(bool v2_only) {
  std::vector<std::string> candidates{"/sys/fs/cgroup/unified"};
  if (!v2_only) candidates.push_back("/sys/fs/cgroup/memory");
  candidates.push_back("/sys/fs/cgroup");
  for (const std::string& candidate : candidates) {
    if (::access((candidate + "/cgroup.procs").c_str(), W_OK) == 0) return candidate;
  }
  return "";
}

}  // namespace tgs::it
