// What operators see of tgs-controller (issue 5), against the real daemon:
// its Prometheus endpoint (names, labels, values, `promtool check metrics`,
// departed containers leaving, bounded series under churn) and tgsctl
// (status --json, set with validation and persistence, the admin socket
// closed to non-root users). Clients speak the shim's protocol directly.
#include <sys/types.h>

#include <cstdio>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "tools/common/loopback_http.h"
#include "tests/controller/daemon_fixture.h"

namespace tgs::controller {
namespace {

constexpr uint64_t kMiB = 1 << 20;

struct CommandRun {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs a command, capturing stdout and stderr (through files: small outputs).
CommandRun RunCommand(const std::vector<std::string>& argv, uid_t as_uid = 0, bool switch_user = false) {
  char out_path[] = "/tmp/tgs-obs-out-XXXXXX";
  char err_path[] = "/tmp/tgs-obs-err-XXXXXX";
  int out_fd = mkstemp(out_path), err_fd = mkstemp(err_path);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    if (switch_user && (setgid(as_uid) != 0 || setuid(as_uid) != 0)) _exit(126);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  CommandRun r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  auto slurp = [](const char* path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  };
  r.out = slurp(out_path);
  r.err = slurp(err_path);
  close(out_fd);
  close(err_fd);
  unlink(out_path);
  unlink(err_path);
  return r;
}

// Lines of a /metrics text that are samples (not comments) of `name`.
std::vector<std::string> Samples(const std::string& text, const std::string& name) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(name + "{", 0) == 0 || line.rfind(name + " ", 0) == 0) out.push_back(line);
  }
  return out;
}

size_t SeriesCount(const std::string& text) {
  size_t n = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line[0] != '#') ++n;
  }
  return n;
}

class ObservabilityTest : public DaemonProcessTest {
 protected:
  void SetUp() override {
    DaemonProcessTest::SetUp();
    WriteFile(config_, Policy("1GiB",
                              "containers:\n"
                              "  - match: { id: prod }\n"
                              "    class: production\n"
                              "    memory_limit: 2GiB\n"));
    port_ = testing::FreeLoopbackPort();
    admin_ = dir_ + "/run/admin.sock";
  }
  void StartObserved() {
    Start({"--trust-claimed-ids", "--metrics-listen", "127.0.0.1:" + std::to_string(port_)});
  }
  std::string Metrics() {
    testing::HttpResponse r = testing::HttpGet(port_, "/metrics");
    EXPECT_EQ(r.status, 200);
    return r.body;
  }
  // Registers a container by claimed id, attaches, and holds `bytes` on the GPU.
  void Join(Client& c, const std::string& id, uint64_t bytes) {
    ASSERT_TRUE(c.Register(socket_, uuid_, id)) << c.error;
    ASSERT_TRUE(c.Attach()) << c.error;
    if (bytes != 0) {
      ASSERT_TRUE(c.file->Reserve(c.slot, c.gpu, bytes));
    }
  }
  CommandRun Tgsctl(const std::vector<std::string>& args) {
    std::vector<std::string> argv{TGSCTL_BIN, "--socket", admin_};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv);
  }

  int port_ = -1;
  std::string admin_;
};

TEST_F(ObservabilityTest, MetricsCarryContainersWithTheirLabelsAndPassPromtool) {
  StartObserved();
  Client prod, opp;
  Join(prod, "prod", 300 * kMiB);
  Join(opp, "opp", 100 * kMiB);
  std::string text;
  ASSERT_TRUE(WaitFor(
      [&] {
        text = Metrics();
        return text.find("container=\"id:opp\"") != std::string::npos;
      },
      3s))
      << text;
  std::string gpu = "gpu=\"GPU-a0a1a2a3-a4a5-a6a7-a8a9-aaabacadaeaf\"";
  auto used = Samples(text, "tgs_container_memory_used_bytes");
  auto has = [&](const std::vector<std::string>& lines, const std::vector<std::string>& parts, double value) {
    for (const std::string& l : lines) {
      bool all = true;
      for (const std::string& p : parts) all = all && l.find(p) != std::string::npos;
      if (all && std::strtod(l.c_str() + l.rfind(' ') + 1, nullptr) == value) return true;
    }
    return false;
  };
  EXPECT_TRUE(has(used, {gpu, "container=\"id:prod\"", "class=\"production\""}, 300.0 * kMiB)) << text;
  EXPECT_TRUE(has(used, {gpu, "container=\"id:opp\"", "class=\"opportunistic\""}, 100.0 * kMiB)) << text;
  EXPECT_TRUE(has(Samples(text, "tgs_container_memory_limit_bytes"), {"container=\"id:prod\""}, 2048.0 * kMiB))
      << text;
  EXPECT_TRUE(has(Samples(text, "tgs_container_processes"), {"container=\"id:opp\""}, 1)) << text;
  // One phase of the five is the current one (production just arrived: profiling).
  auto phases = Samples(text, "tgs_gpu_control_phase");
  EXPECT_EQ(phases.size(), 5u) << text;
  EXPECT_TRUE(has(phases, {gpu, "phase=\"profiling\""}, 1) || has(phases, {gpu, "phase=\"production-idle\""}, 1))
      << text;
  EXPECT_FALSE(Samples(text, "tgs_build_info").empty()) << text;
  EXPECT_TRUE(has(Samples(text, "tgs_controller_connections"), {}, 2)) << text;
  EXPECT_TRUE(has(Samples(text, "tgs_controller_restarts_total"), {}, 0)) << text;

  // promtool (Debian's prometheus package) lints the exposition.
  std::string file = dir_ + "/metrics.txt";
  WriteFile(file, text);
  CommandRun lint = RunCommand({"/bin/sh", "-c", "promtool check metrics < " + file});
  if (lint.exit_code == 127) FAIL() << "promtool is not installed (tools/setup/install-deps.sh installs prometheus)";
  EXPECT_EQ(lint.exit_code, 0) << lint.out << lint.err;
  EXPECT_EQ(lint.out + lint.err, "") << "promtool has remarks";
}

TEST_F(ObservabilityTest, ADepartedContainerLeavesTheNextScrape) {
  StartObserved();
  Client prod;
  Join(prod, "prod", 0);
  {
    Client gone;
    Join(gone, "gone", 64 * kMiB);
    ASSERT_TRUE(WaitFor([&] { return Metrics().find("id:gone") != std::string::npos; }, 3s));
  }  // its connection closes: the process is gone
  auto closed = std::chrono::steady_clock::now();
  ASSERT_TRUE(WaitFor([&] { return Metrics().find("id:gone") == std::string::npos; }, 3s)) << Metrics();
  // Well within one scrape interval (Prometheus' shortest sensible one is 1 s).
  EXPECT_LT(std::chrono::steady_clock::now() - closed, 1s);
  EXPECT_NE(Metrics().find("id:prod"), std::string::npos);
}

TEST_F(ObservabilityTest, AThousandContainersComingAndGoingLeaveTheSeriesBounded) {
  StartObserved();
  Client prod;
  Join(prod, "prod", 0);
  ASSERT_TRUE(WaitFor([&] { return Metrics().find("id:prod") != std::string::npos; }, 3s));
  size_t baseline = SeriesCount(Metrics());
  size_t most = 0;
  for (int i = 0; i < 1000; ++i) {
    Client c;
    Join(c, "batch-" + std::to_string(i), kMiB);
    if (i % 100 == 0) most = std::max(most, SeriesCount(Metrics()));
  }
  std::string after;
  ASSERT_TRUE(WaitFor(
      [&] {
        after = Metrics();
        return SeriesCount(after) <= baseline;
      },
      3s))
      << SeriesCount(after) << " series after the churn, " << baseline << " before";
  // While they came and went, at most a couple were present at once.
  EXPECT_LT(most, baseline + 3 * 40);
  EXPECT_TRUE(Alive());
}

TEST_F(ObservabilityTest, TgsctlStatusJsonIsStableAndComplete) {
  StartObserved();
  Client prod, opp;
  Join(prod, "prod", 300 * kMiB);
  Join(opp, "opp", 100 * kMiB);
  nlohmann::json s;
  ASSERT_TRUE(WaitFor(
      [&] {
        CommandRun r = Tgsctl({"status", "--json"});
        if (r.exit_code != 0) return false;
        s = nlohmann::json::parse(r.out, nullptr, false);
        return !s.is_discarded() && s["gpus"].size() == 1 && s["gpus"][0]["containers"].size() == 2;
      },
      3s))
      << s.dump(2);
  EXPECT_EQ(s["format"], 1);
  for (const char* key : {"version", "policy", "start_time", "restarts", "reloads", "failed_reloads", "connections"}) {
    EXPECT_TRUE(s["controller"].contains(key)) << key;
  }
  const nlohmann::json& g = s["gpus"][0];
  EXPECT_EQ(g["uuid"], "GPU-a0a1a2a3-a4a5-a6a7-a8a9-aaabacadaeaf");
  for (const char* key : {"memory_total_bytes", "phase", "production_processes", "production_blocks_per_second",
                          "production_reference_blocks_per_second", "opportunistic_blocks_per_second",
                          "opportunistic_limit_blocks_per_second", "containers"}) {
    EXPECT_TRUE(g.contains(key)) << key;
  }
  std::map<std::string, nlohmann::json> by_key;
  for (const auto& c : g["containers"]) by_key[c["container"]] = c;
  EXPECT_EQ(by_key["id:prod"]["memory"]["used_bytes"], 300 * kMiB);
  EXPECT_EQ(by_key["id:prod"]["memory"]["limit_bytes"], 2048 * kMiB);
  EXPECT_EQ(by_key["id:opp"]["memory"]["used_bytes"], 100 * kMiB);
  EXPECT_TRUE(by_key["id:opp"]["memory"].contains("unified"));  // opportunistic oversubscribes by default
  std::map<std::string, nlohmann::json> containers;
  for (const auto& c : s["containers"]) containers[c["container"]] = c;
  EXPECT_EQ(containers["id:prod"]["class"], "production");
  EXPECT_EQ(containers["id:opp"]["kind"], "opportunistic");
  EXPECT_EQ(containers["id:opp"]["processes"], 1);

  CommandRun table = Tgsctl({"status"});
  EXPECT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("id:prod"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("300.00 MiB / 2.00 GiB"), std::string::npos) << table.out;
}

TEST_F(ObservabilityTest, TgsctlSetIsValidatedAndPersistsWhenAsked) {
  StartObserved();
  Client opp;
  Join(opp, "opp", 0);
  ASSERT_TRUE(WaitFor([&] { return Tgsctl({"status", "--json"}).out.find("id:opp") != std::string::npos; }, 3s));

  CommandRun bad = Tgsctl({"set", "id:opp", "weight=0"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("weight 0 is out of range (1..1000)"), std::string::npos) << bad.err;
  CommandRun unknown = Tgsctl({"set", "id:opp", "class=gold"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("class 'gold' is not in the policy (classes: opportunistic, production)"),
            std::string::npos)
      << unknown.err;
  CommandRun nobody = Tgsctl({"set", "id:nobody", "weight=2"});
  EXPECT_EQ(nobody.exit_code, 1);
  EXPECT_NE(nobody.err.find("no container 'id:nobody' is registered"), std::string::npos) << nobody.err;
  CommandRun syntax = Tgsctl({"set", "id:opp", "memory_limit=lots"});
  EXPECT_EQ(syntax.exit_code, 2);
  EXPECT_NE(syntax.err.find("memory_limit 'lots'"), std::string::npos) << syntax.err;
  EXPECT_TRUE(Alive());

  CommandRun ok = Tgsctl({"set", "id:opp", "memory_limit=512MiB", "weight=3", "--persist"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_NE(ok.out.find("weight 3"), std::string::npos) << ok.out;
  EXPECT_EQ(opp.file->LimitBytes(opp.gpu), 512 * kMiB);  // applied at once
  CommandRun transient = Tgsctl({"set", "id:opp", "class=production"});
  EXPECT_EQ(transient.exit_code, 0) << transient.err;
  EXPECT_NE(transient.out.find("until the next reload"), std::string::npos) << transient.out;

  // A reload drops the transient class change and keeps the persistent ones.
  kill(pid_, SIGHUP);
  nlohmann::json s;
  ASSERT_TRUE(WaitFor(
      [&] {
        s = nlohmann::json::parse(Tgsctl({"status", "--json"}).out, nullptr, false);
        return !s.is_discarded() && s["controller"]["reloads"] == 1;
      },
      3s));
  auto container = [&](const nlohmann::json& status) {
    for (const auto& c : status["containers"]) {
      if (c["container"] == "id:opp") return c;
    }
    return nlohmann::json();
  };
  EXPECT_EQ(container(s)["class"], "opportunistic");
  EXPECT_EQ(container(s)["weight"], 3);
  EXPECT_EQ(container(s)["memory_limit_bytes"], 512 * kMiB);

  // And a restart keeps them too.
  kill(pid_, SIGTERM);
  EXPECT_EQ(Exit(pid_), 0);
  StartObserved();
  Client again;
  Join(again, "opp", 0);
  ASSERT_TRUE(WaitFor(
      [&] {
        s = nlohmann::json::parse(Tgsctl({"status", "--json"}).out, nullptr, false);
        return !s.is_discarded() && !container(s).is_null();
      },
      3s));
  EXPECT_EQ(container(s)["weight"], 3);
  EXPECT_EQ(s["controller"]["restarts"], 1);
}

TEST_F(ObservabilityTest, TgsctlExplainsAMissingController) {
  CommandRun r = Tgsctl({"status"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("cannot reach tgs-controller at " + admin_), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("Is tgs-controller running?"), std::string::npos) << r.err;
}

// A process in a container is not root on the node (or has no access to the
// admin socket): it cannot change policy.
TEST_F(ObservabilityTest, OnlyRootReachesTheAdminSocket) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root, to run tgsctl as another user (uid 65534)";
  StartObserved();
  Client opp;
  Join(opp, "opp", 0);
  struct stat st;
  ASSERT_TRUE(WaitFor([&] { return stat(admin_.c_str(), &st) == 0; }, 3s));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // The directory is reachable (a container might see it mounted); the socket is not.
  chmod((dir_ + "/run").c_str(), 0755);
  chmod(dir_.c_str(), 0755);
  CommandRun r = RunCommand({TGSCTL_BIN, "--socket", admin_, "set", "id:opp", "weight=9"}, 65534, true);
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_NE(r.err.find("permission denied"), std::string::npos) << r.err;
  EXPECT_TRUE(Alive());
  CommandRun status = Tgsctl({"status", "--json"});
  EXPECT_EQ(status.out.find("\"weight\": 9"), std::string::npos);
}

}  // namespace
}  // namespace tgs::controller
