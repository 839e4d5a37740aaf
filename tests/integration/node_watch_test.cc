// The eBPF node watch (issue 7), with the real controller and real processes
// on the simulated GPU: the watch is pointed at the simulated driver (its
// library for the uprobes, its shared-memory segment as the "device").
// Detection and exit reclaim need root with CAP_BPF and CAP_PERFMON; those
// tests say why they skip where the watch cannot run. The test without
// privileges drops them itself (setpriv) when it runs as root.
#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "tests/integration/controlled_jobs.h"

namespace tgs::it {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class NodeWatchTest : public ControlledJobsTest {
 protected:
  void SetUp() override {
    ControlledJobsTest::SetUp();
    WriteConfig("version: 1\ndefaults: { class: opportunistic, memory_limit: 1GiB }\n");
    // A prefix of the segment's path (the watch keeps at most 63 bytes).
    controller_args_ = {"--metrics-listen=", "--watch-device", ("/dev/shm/" + shm_name_).substr(0, 63), "--watch-driver",
                        std::string(TGS_IT_SIM_DIR) + "/libcuda.so.1"};
  }

  // Starts the controller; false (after GTEST_SKIP's reason is set) when the
  // watch cannot run here.
  bool StartWatching() {
    StartController();
    if (!controller_.WaitForError("node watch ", seconds(5))) {
      ADD_FAILURE() << "the controller said nothing about the node watch\n" << controller_.err();
      return false;
    }
    if (controller_.err().find("node watch on:") == std::string::npos) {
      size_t at = controller_.err().find("node watch is off");
      reason_ = at == std::string::npos ? controller_.err() : controller_.err().substr(at, 200);
      return false;
    }
    return true;
  }

  // A process of the simulated GPU without the shim (no LD_PRELOAD).
  Env PlainEnv() const {
    Env env = ContainerEnv({"bare", ""}, /*preload=*/false);
    env.erase("LD_PRELOAD");
    return env;
  }

  std::string reason_;
};

// Acceptance 1: a process using the driver without the shim is reported
// within 1 s, attributed to its cgroup; a shimmed process beside it is not.
TEST_F(NodeWatchTest, UnshimmedGpuUseIsReportedWithItsCgroupAndShimmedUseIsNot) {
  if (geteuid() != 0) GTEST_SKIP() << "the node watch needs root (CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN)";
  if (!StartWatching()) GTEST_SKIP() << "the node watch cannot run on this machine: " << reason_;
  std::string base = WritableCgroupRoot(/*v2_only=*/true);
  if (base.empty()) GTEST_SKIP() << "no writable cgroup v2 hierarchy to put the unshimmed process in";
  std::string name = "tgs-it-unshimmed-" + std::to_string(getpid());
  std::string cgroup = base + "/" + name;
  ASSERT_EQ(mkdir(cgroup.c_str(), 0755), 0) << cgroup << ": " << strerror(errno);

  Process shimmed, bare;
  StartJob(&shimmed, "shimmed", {"--kernels", "2", "--kernel-us", "500"}, 3.0);
  std::this_thread::sleep_for(milliseconds(500));
  size_t from = controller_.err().size();
  auto started = std::chrono::steady_clock::now();
  std::string error;
  ASSERT_TRUE(bare.Start({"/bin/sh", "-c", "echo $$ > " + cgroup + "/cgroup.procs && exec \"$0\" --duration 2",
                          Paths::TrainSim()},
                         PlainEnv(), &error))
      << error;
  pid_t bare_pid = bare.pid();  // the shell execs the job: same process
  bool reported = controller_.WaitForError("uses the GPU without the TGS shim", seconds(3), from);
  auto latency = std::chrono::steady_clock::now() - started;
  // tgsctl lists it while it runs.
  std::this_thread::sleep_for(milliseconds(200));  // the next status snapshot
  RunResult status = RunProcess({std::string(TGS_IT_BIN_DIR) + "/tgsctl", "--socket", dir_ + "/admin.sock", "status"},
                                {{"PATH", "/usr/bin:/bin"}}, seconds(10));
  RunResult b = bare.Wait(seconds(30));
  RunResult s = shimmed.Wait(seconds(30));
  rmdir(cgroup.c_str());
  std::string log = ControllerLog();
  ASSERT_TRUE(reported) << log;
  std::printf("reported %.0f ms after the unshimmed process started\n",
              std::chrono::duration<double, std::milli>(latency).count());
  EXPECT_LT(latency, seconds(1)) << log;
  std::string line = log.substr(log.find("uses the GPU without the TGS shim", from) - 200, 400);
  EXPECT_NE(line.find("pid " + std::to_string(bare_pid) + " (tgs-train-sim)"), std::string::npos) << line;
  EXPECT_NE(line.find(name), std::string::npos) << "attributed to its cgroup\n" << line;
  EXPECT_EQ(b.exit_code, 0) << b.Describe();
  EXPECT_EQ(s.exit_code, 0) << s.Describe();
  EXPECT_NE(status.out.find("GPU use WITHOUT the shim"), std::string::npos) << status.Describe();
  EXPECT_NE(status.out.find("/" + name), std::string::npos) << status.Describe();
  // Exactly one report: the shimmed job (and the controller's own work) is not one.
  size_t first = log.find("uses the GPU without the TGS shim");
  EXPECT_EQ(log.find("uses the GPU without the TGS shim", first + 1), std::string::npos) << log;
}

// controller.unshimmed: kill — the policy can also stop such a process.
TEST_F(NodeWatchTest, PolicyCanKillUnshimmedProcesses) {
  if (geteuid() != 0) GTEST_SKIP() << "the node watch needs root (CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN)";
  WriteConfig("version: 1\ncontroller: { unshimmed: kill }\n");
  if (!StartWatching()) GTEST_SKIP() << "the node watch cannot run on this machine: " << reason_;
  RunResult r = RunProcess({Paths::TrainSim(), "--duration", "10"}, PlainEnv(), seconds(30));
  EXPECT_EQ(r.term_signal, SIGKILL) << r.Describe();
  std::string log = ControllerLog();
  EXPECT_NE(log.find("(controller.unshimmed: kill)"), std::string::npos) << log;
}

// Acceptance 2: a shimmed process is SIGKILLed while the controller is kept
// from seeing its socket close (--test-ignore-connection-close): the exit
// tracepoint releases its memory. Without the watch nothing would.
TEST_F(NodeWatchTest, AnExitWhoseSocketCloseIsMissedIsStillReclaimed) {
  if (geteuid() != 0) GTEST_SKIP() << "the node watch needs root (CAP_BPF, CAP_PERFMON)";
  controller_args_.push_back("--test-ignore-connection-close");
  if (!StartWatching()) GTEST_SKIP() << "the node watch cannot run on this machine: " << reason_;
  Process holder;
  std::string error;
  ASSERT_TRUE(holder.Start({ClientPath(Client::kLinked), "alloc", "alloc", "64MiB", "hold", "30"}, JobEnv("holder"),
                           &error))
      << error;
  ASSERT_TRUE(holder.WaitForOutput("RESULT hold", seconds(10))) << holder.out();
  ASSERT_TRUE(controller_.WaitForError("pid " + std::to_string(holder.pid()) + " of id:holder registered",
                                       seconds(5)));
  size_t from = controller_.err().size();
  auto killed = std::chrono::steady_clock::now();
  holder.Signal(SIGKILL);
  holder.Wait(seconds(5));
  bool released = controller_.WaitForError("released on the node watch's exit event", seconds(3), from);
  auto latency = std::chrono::steady_clock::now() - killed;
  std::string log = ControllerLog();
  ASSERT_TRUE(released) << log;
  std::printf("released %.0f ms after SIGKILL\n", std::chrono::duration<double, std::milli>(latency).count());
  EXPECT_LT(latency, seconds(1)) << log;
  EXPECT_NE(log.find("released slot", from), std::string::npos) << "its memory is returned\n" << log;
}

// Acceptance 3: without the privileges the controller starts, serves shims,
// and says once that the watch is off and why.
TEST_F(NodeWatchTest, WithoutPrivilegesTheControllerRunsAndSaysTheWatchIsOff) {
  if (geteuid() == 0) {
    if (access("/usr/bin/setpriv", X_OK) != 0) GTEST_SKIP() << "setpriv (util-linux) is needed to drop capabilities";
    controller_prefix_ = {"/usr/bin/setpriv", "--bounding-set", "-bpf,-perfmon,-sys_admin", "--"};
  }
  StartController();
  ASSERT_TRUE(controller_.WaitForError("node watch is off", seconds(5))) << controller_.err();
  RunResult r = RunProcess({ClientPath(Client::kLinked), "alloc", "alloc", "64MiB"}, JobEnv("plain"), seconds(30));
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_NE(r.out.find("status=CUDA_SUCCESS"), std::string::npos) << r.Describe();
  std::string log = ControllerLog();
  size_t first = log.find("node watch is off");
  EXPECT_NE(log.find("needs CAP_BPF and CAP_PERFMON", first), std::string::npos) << log;
  EXPECT_EQ(log.find("node watch is off", first + 1), std::string::npos) << "said once\n" << log;
  EXPECT_NE(log.find("of id:plain registered"), std::string::npos) << log;
}

}  // namespace
}  // namespace tgs::it
