// The shim under tgs-controller, end to end: real shimmed processes on the
// simulated GPU register with the real daemon, which decides their container
// and limit from the kernel's view of them (not from their environment),
// hands them its state file, and keeps the accounting across its own restart.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "tests/integration/it_env.h"

namespace tgs::it {
namespace {

class ControllerTest : public IntegrationTest {
 protected:
  void SetUp() override {
    IntegrationTest::SetUp();
    if (std::string(TGS_IT_CONTROLLER).empty()) GTEST_FAIL() << "tgs-controller was not built";
    dir_ = state_dir_ + "/controller";
    std::filesystem::create_directories(dir_);
    socket_ = dir_ + "/tgs.sock";
    config_ = dir_ + "/config.yaml";
    std::ofstream(config_) << "version: 1\n"
                              "defaults:\n"
                              "  class: opportunistic\n"
                              "  memory_limit: 1GiB\n"
                              "containers:\n"
                              "  - match: { cgroup: \"*tgs-it-prod-*\" }\n"
                              "    class: production\n"
                              "    memory_limit: 2GiB\n";
  }

  void StartController() {
    std::string error;
    ::unlink(socket_.c_str());
    Env env{{"PATH", "/usr/bin:/bin"}, {"TGS_LOG", "info"}};
    ASSERT_TRUE(controller_.Start({TGS_IT_CONTROLLER, "--config", config_, "--socket", socket_, "--state-dir",
                                   dir_ + "/state"},
                                  env, &error))
        << error;
    for (int i = 0; i < 200; ++i) {
      struct stat st;
      if (::stat(socket_.c_str(), &st) == 0) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    FAIL() << "tgs-controller did not create " << socket_ << "\n" << controller_.Wait(std::chrono::seconds(1)).Describe();
  }

  // A process of a container that claims to be "liar" with an 8 GiB limit:
  // under the controller neither claim counts.
  Env ShimEnv() const {
    Env env = ContainerEnv({"liar", "8GiB"});
    env["TGS_CONTROLLER_SOCKET"] = socket_;
    return env;
  }

  std::string dir_, socket_, config_;
  Process controller_;
};

TEST_F(ControllerTest, PolicyLimitAppliesAndClaimsAreIgnored) {
  StartController();
  for (Client client : {Client::kLinked, Client::kProcaddr}) {
    Env env = ShimEnv();
    env["TGS_LOG"] = "debug";
    RunResult r = RunClient(client, env, {"meminfo", "alloc-until-oom", "alloc", Bytes(64 * kMiB), "nvml-meminfo"});
    auto lines = ParseResults(r.out);
    const ResultLine* mem = FindResult(lines, "meminfo");
    const ResultLine* oom = FindResult(lines, "alloc-until-oom");
    const ResultLine* nvml = FindResult(lines, "nvml-meminfo");
    ASSERT_TRUE(mem && oom && nvml) << r.Describe();
    EXPECT_EQ(mem->Num("total"), 1 * kGiB) << "the policy's default limit, not TGS_MEMORY_LIMIT\n" << r.Describe();
    EXPECT_LE(oom->Num("bytes"), 1 * kGiB) << r.Describe();
    EXPECT_GT(oom->Num("bytes"), 1 * kGiB - 64 * kMiB) << r.Describe();
    EXPECT_EQ(oom->Get("status"), "CUDA_ERROR_OUT_OF_MEMORY") << r.Describe();
    EXPECT_EQ(nvml->Num("total"), 1 * kGiB) << r.Describe();
    EXPECT_NE(r.err.find("registered with tgs-controller"), std::string::npos) << r.Describe();
    EXPECT_NE(r.err.find("TGS_MEMORY_LIMIT is ignored"), std::string::npos) << r.Describe();
  }
}

TEST_F(ControllerTest, ProductionPolicyFollowsTheRealCgroup) {
  if (geteuid() != 0) GTEST_SKIP() << "creating cgroups needs root";
  std::string base = WritableCgroupRoot();
  if (base.empty()) GTEST_SKIP() << "no writable cgroup hierarchy";
  std::string cgroup = base + "/tgs-it-prod-" + std::to_string(getpid());
  if (::mkdir(cgroup.c_str(), 0755) != 0) GTEST_SKIP() << "cannot create " << cgroup << ": " << strerror(errno);
  StartController();
  // The client enters the cgroup before it execs, as a container's process would be.
  std::vector<std::string> argv{"/bin/sh", "-c",
                                "echo $$ > " + cgroup + "/cgroup.procs && exec \"$0\" meminfo",
                                ClientPath(Client::kLinked)};
  RunResult r = RunProcess(argv, ShimEnv(), std::chrono::seconds(30));
  ::rmdir(cgroup.c_str());
  const ResultLine* mem = FindResult(ParseResults(r.out), "meminfo");
  ASSERT_NE(mem, nullptr) << r.Describe();
  EXPECT_EQ(mem->Num("total"), 2 * kGiB) << "production policy of the cgroup\n" << r.Describe();
}

TEST_F(ControllerTest, AccountingSurvivesAControllerRestart) {
  StartController();
  Process holder;
  std::string error;
  ASSERT_TRUE(holder.Start({ClientPath(Client::kLinked), "alloc", "alloc", Bytes(600 * kMiB), "hold", "30"},
                           ShimEnv(), &error))
      << error;
  ASSERT_TRUE(holder.WaitForOutput("RESULT hold", std::chrono::seconds(20))) << holder.out() << holder.err();

  controller_.Signal(SIGKILL);
  controller_.Wait(std::chrono::seconds(5));
  StartController();

  // Another process of the same container sees the holder's 600 MiB: nothing
  // was lost, and the limit still holds.
  RunResult r = RunClient(Client::kLinked, ShimEnv(), {"meminfo", "alloc", "alloc", Bytes(512 * kMiB)});
  auto lines = ParseResults(r.out);
  const ResultLine* mem = FindResult(lines, "meminfo");
  const ResultLine* alloc = FindResult(lines, "alloc");
  ASSERT_TRUE(mem && alloc) << r.Describe();
  EXPECT_EQ(mem->Num("used"), 600 * kMiB) << r.Describe();
  EXPECT_EQ(alloc->Get("status"), "CUDA_ERROR_OUT_OF_MEMORY") << r.Describe();

  // The holder re-registered with the new controller: its exit is noticed.
  holder.Signal(SIGKILL);
  holder.Wait(std::chrono::seconds(5));
  RunResult after = RunClient(Client::kLinked, ShimEnv(), {"meminfo"});
  const ResultLine* m2 = FindResult(ParseResults(after.out), "meminfo");
  ASSERT_NE(m2, nullptr) << after.Describe();
  EXPECT_EQ(m2->Num("used"), 0u) << after.Describe();
}

// Two containers whose processes run in PID namespaces of their own, where
// both are PID 1: the controller tells them apart (their host PIDs and
// cgroups from the kernel, never the PIDs they report) and accounts each
// container's memory separately; the exit of one releases only its own.
TEST_F(ControllerTest, CollidingPidsInTheirOwnPidNamespacesAreToldApart) {
  if (geteuid() != 0) GTEST_SKIP() << "creating cgroups and PID namespaces needs root";
  std::string base = WritableCgroupRoot();
  if (base.empty()) GTEST_SKIP() << "no writable cgroup hierarchy";
  std::vector<std::string> cgroups;
  for (const char* name : {"a", "b"}) {
    cgroups.push_back(base + "/tgs-it-pidns-" + name + "-" + std::to_string(getpid()));
    if (::mkdir(cgroups.back().c_str(), 0755) != 0) GTEST_SKIP() << "cannot create " << cgroups.back();
  }
  StartController();
  Process a, b;
  auto start = [&](Process* p, const std::string& cgroup, const char* size) {
    std::string error;
    // Into the cgroup, then a new PID namespace in which the client is PID 1.
    ASSERT_TRUE(p->Start({"/bin/sh", "-c",
                          "echo $$ > " + cgroup + "/cgroup.procs && exec unshare --pid --fork --kill-child --mount-proc \"$0\" "
                          "alloc alloc " + std::string(size) + " hold 20",
                          ClientPath(Client::kLinked)},
                         ShimEnv(), &error))
        << error;
    ASSERT_TRUE(p->WaitForOutput("RESULT hold", std::chrono::seconds(10))) << p->out() << p->err();
  };
  start(&a, cgroups[0], "64MiB");
  start(&b, cgroups[1], "128MiB");
  EXPECT_NE(a.out().find("pid=1"), std::string::npos) << "the client is PID 1 in its namespace\n" << a.out();
  EXPECT_NE(b.out().find("pid=1"), std::string::npos) << b.out();
  // The controller's view, through tgsctl.
  auto status = [&] {
    RunResult r = RunProcess({Paths::BinDir() + "/tgsctl", "--socket", dir_ + "/admin.sock", "status", "--json"},
                             {{"PATH", "/usr/bin:/bin"}}, std::chrono::seconds(10));
    return r.out;
  };
  auto used = [&](const std::string& json, const std::string& cgroup) -> long long {
    std::string key = "\"container\": \"cgroup:" + cgroup.substr(cgroup.find("/tgs-it-pidns-")) + "\"";
    size_t at = json.rfind(key);  // the GPU's entry, after the container list
    size_t u = at == std::string::npos ? at : json.find("\"used_bytes\": ", at);
    return u == std::string::npos ? -1 : std::stoll(json.substr(u + 14));
  };
  std::string s;
  for (int i = 0; i < 50 && (used(s, cgroups[0]) < 0 || used(s, cgroups[1]) < 0); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    s = status();
  }
  EXPECT_EQ(used(s, cgroups[0]), static_cast<long long>(64 * kMiB)) << s;
  EXPECT_EQ(used(s, cgroups[1]), static_cast<long long>(128 * kMiB)) << s;
  // One exits: its container's memory is returned, the other's is not.
  a.Signal(SIGKILL);
  a.Wait(std::chrono::seconds(5));
  for (int i = 0; i < 50 && used(s, cgroups[0]) > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    s = status();
  }
  EXPECT_LE(used(s, cgroups[0]), 0) << s;
  EXPECT_EQ(used(s, cgroups[1]), static_cast<long long>(128 * kMiB)) << s;
  b.Signal(SIGKILL);
  b.Wait(std::chrono::seconds(5));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  for (const std::string& c : cgroups) ::rmdir(c.c_str());
}

TEST_F(ControllerTest, WithoutControllerTheShimAccountsLocally) {
  Env env = ShimEnv();  // the socket does not exist: no controller
  RunResult r = RunClient(Client::kLinked, env, {"meminfo"});
  const ResultLine* mem = FindResult(ParseResults(r.out), "meminfo");
  ASSERT_NE(mem, nullptr) << r.Describe();
  EXPECT_EQ(mem->Num("total"), 8 * kGiB) << "TGS_MEMORY_LIMIT applies without a controller\n" << r.Describe();
}

}  // namespace
}  // namespace tgs::it
