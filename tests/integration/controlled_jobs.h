// Shared by the integration tests that run tgs-controller with shimmed
// simulated jobs (tgs-train-sim): the controller on a private socket and
// state directory, jobs named by the id they claim (--trust-claimed-ids, so
// no root is needed), and throughput read from the jobs' own progress lines
// ("iters/s=X total=N t=T", T in CLOCK_MONOTONIC seconds, the clock of
// steady_clock here), so that arrivals and departures are timed on one clock.
#pragma once

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/integration/it_env.h"

namespace tgs::it {

struct Progress {
  double t;
  double total;
};

inline std::vector<Progress> ParseProgress(const std::string& out) {
  std::vector<Progress> p;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("iters/s=", 0) != 0) continue;
    size_t total = line.find(" total="), t = line.find(" t=");
    if (total == std::string::npos || t == std::string::npos) continue;
    p.push_back({std::strtod(line.c_str() + t + 3, nullptr), std::strtod(line.c_str() + total + 7, nullptr)});
  }
  return p;
}

// Iterations per second between the first progress line at or after `from`
// and the last at or before `to`; NaN when fewer than two lines fall there.
inline double RateBetween(const std::vector<Progress>& p, double from, double to) {
  const Progress* a = nullptr;
  const Progress* b = nullptr;
  for (const Progress& x : p) {
    if (x.t >= from && a == nullptr) a = &x;
    if (x.t <= to) b = &x;
  }
  if (a == nullptr || b == nullptr || b->t - a->t < 0.2) return NAN;
  return (b->total - a->total) / (b->t - a->t);
}

inline double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

class ControlledJobsTest : public IntegrationTest {
 protected:
  void SetUp() override {
    IntegrationTest::SetUp();
    if (std::string(TGS_IT_CONTROLLER).empty()) GTEST_FAIL() << "tgs-controller was not built";
    if (Paths::TrainSim().empty()) GTEST_FAIL() << "tgs-train-sim was not built";
    dir_ = state_dir_ + "/rate";
    std::filesystem::create_directories(dir_);
    socket_ = dir_ + "/tgs.sock";
    config_ = dir_ + "/config.yaml";
  }

  // The policy file tgs-controller is started with.
  void WriteConfig(const std::string& text) { std::ofstream(config_) << text; }

  void WriteConfigForRateControl(const std::string& extra) {
    std::ofstream(config_) << "version: 1\n"
                              "classes:\n"
                              "  light: { kind: opportunistic, weight: 1 }\n"
                              "  medium: { kind: opportunistic, weight: 2 }\n"
                              "  heavy: { kind: opportunistic, weight: 3 }\n"
                              "defaults: { class: opportunistic, memory_limit: 1GiB }\n"
                              "containers:\n"
                              "  - match: { id: prod }\n"
                              "    class: production\n"
                              "  - match: { id: opp1 }\n"
                              "    class: light\n"
                              "  - match: { id: opp2 }\n"
                              "    class: medium\n"
                              "  - match: { id: opp3 }\n"
                              "    class: heavy\n"
                           << extra;
  }

  void StartController() {
    std::string error;
    ::unlink(socket_.c_str());
    std::vector<std::string> argv = controller_prefix_;
    for (const char* a : {TGS_IT_CONTROLLER, "--config"}) argv.push_back(a);
    for (const std::string& a : {config_, std::string("--socket"), socket_, std::string("--state-dir"),
                                 dir_ + "/state", std::string("--trust-claimed-ids"),
                                 std::string("--report-interval"), std::string("1")}) {
      argv.push_back(a);
    }
    argv.insert(argv.end(), controller_args_.begin(), controller_args_.end());
    ASSERT_TRUE(controller_.Start(argv, {{"PATH", "/usr/bin:/bin"}, {"TGS_LOG", "info"}}, &error))
        << error;
    for (int i = 0; i < 300; ++i) {
      struct stat st;
      if (::stat(socket_.c_str(), &st) == 0) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    FAIL() << "tgs-controller did not create " << socket_ << "\n" << controller_.Wait(std::chrono::seconds(1)).Describe();
  }

  Env JobEnv(const std::string& id) const {
    Env env = ContainerEnv({id, ""});
    env["TGS_CONTROLLER_SOCKET"] = socket_;
    env["TGS_SIM_DEVICES"] = std::to_string(sim_devices_);
    return env;
  }

  void StartJob(Process* p, const std::string& id, const std::vector<std::string>& shape, double seconds_,
                int device = 0) {
    std::vector<std::string> argv{Paths::TrainSim(), "--duration", std::to_string(seconds_), "--mem", "64MiB",
                                  "--report-interval", "0.1", "--device", std::to_string(device)};
    argv.insert(argv.end(), shape.begin(), shape.end());
    std::string error;
    ASSERT_TRUE(p->Start(argv, JobEnv(id), &error)) << error;
  }

  // Runs one job alone under the controller; its steady rate after 1 s.
  double SoloRate(const std::string& id, const std::vector<std::string>& shape, int device = 0) {
    Process p;
    StartJob(&p, id, shape, 3.5, device);
    RunResult r = p.Wait(std::chrono::seconds(30));
    EXPECT_EQ(r.exit_code, 0) << r.Describe();
    auto prog = ParseProgress(r.out);
    if (prog.empty()) return NAN;
    double start = prog.front().t;
    return RateBetween(prog, start + 1.0, start + 10);
  }

  // Stops the controller and returns what it logged (for failure messages).
  std::string ControllerLog() {
    controller_.Signal(SIGTERM);
    return controller_.Wait(std::chrono::seconds(5)).err;
  }

  std::string dir_, socket_, config_;
  std::vector<std::string> controller_args_;  // appended to tgs-controller's command line
  std::vector<std::string> controller_prefix_;  // a wrapper it runs under (setpriv ...)
  int sim_devices_ = 1;
  Process controller_;
};

}  // namespace tgs::it
