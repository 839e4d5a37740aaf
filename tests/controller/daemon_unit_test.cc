// Pure logic of tgs-controller: command line, /proc parsing, registry
// bookkeeping (label unit).
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "controller/daemon/control_loop.h"
#include "controller/daemon/daemon.h"
#include "controller/daemon/options.h"
#include "controller/daemon/peer.h"
#include "controller/daemon/registry.h"
#include "shim/util/process_start_time.h"

namespace tgs::controller {
namespace {

TEST(DaemonOptionsTest, DefaultsAndOverrides) {
  ParseResult r = ParseArgs({});
  ASSERT_TRUE(r.options) << r.error;
  EXPECT_EQ(r.options->config_path, kDefaultConfigPath);
  EXPECT_FALSE(r.options->config_explicit);

  r = ParseArgs({"--config", "/x.yaml", "--socket=/tmp/s.sock", "--state-dir", "/tmp/st"});
  ASSERT_TRUE(r.options) << r.error;
  EXPECT_EQ(r.options->config_path, "/x.yaml");
  EXPECT_TRUE(r.options->config_explicit);
  EXPECT_EQ(*r.options->socket, "/tmp/s.sock");
  EXPECT_EQ(*r.options->state_dir, "/tmp/st");

  r = ParseArgs({"--check-config", "p.yaml"});
  ASSERT_TRUE(r.options);
  EXPECT_EQ(*r.options->check_config, "p.yaml");
  EXPECT_TRUE(ParseArgs({"--help"}).options->help);
}

TEST(DaemonOptionsTest, BadArgumentsSayWhat) {
  EXPECT_NE(ParseArgs({"--bogus"}).error.find("unknown argument '--bogus'"), std::string::npos);
  EXPECT_NE(ParseArgs({"--config"}).error.find("--config needs a value"), std::string::npos);
  EXPECT_NE(ParseArgs({"--config", "a", "--config", "b"}).error.find("given twice"), std::string::npos);
  EXPECT_NE(ParseArgs({"--socket", "relative.sock"}).error.find("absolute"), std::string::npos);
  EXPECT_NE(ParseArgs({"--socket", "/" + std::string(120, 'a')}).error.find("107"), std::string::npos);
  EXPECT_NE(ParseArgs({"--state-dir="}).error.find("non-empty"), std::string::npos);
  EXPECT_NE(ParseArgs({"--help=yes"}).error.find("no value"), std::string::npos);
}

TEST(DaemonOptionsTest, MetricsAndAdminSocket) {
  ParseResult r = ParseArgs({"--metrics-listen", "127.0.0.1:0", "--admin-socket", "/tmp/a.sock"});
  ASSERT_TRUE(r.options) << r.error;
  EXPECT_EQ(*r.options->metrics_listen, "127.0.0.1:0");
  EXPECT_EQ(*r.options->admin_socket, "/tmp/a.sock");
  r = ParseArgs({"--metrics-listen="});  // "" disables the exporter
  ASSERT_TRUE(r.options) << r.error;
  EXPECT_EQ(*r.options->metrics_listen, "");
  EXPECT_NE(ParseArgs({"--metrics-listen", "9400"}).error.find("--metrics-listen expects host:port"),
            std::string::npos);
  EXPECT_NE(ParseArgs({"--admin-socket", "a.sock"}).error.find("absolute"), std::string::npos);
  EXPECT_NE(ParseArgs({"--socket", "/s", "--admin-socket", "/s"}).error.find("must differ"), std::string::npos);
}

TEST(DaemonPeerTest, CgroupOfKey) {
  EXPECT_EQ(CgroupOfKey("cgroup:/kubepods.slice/x.scope"), "/kubepods.slice/x.scope");
  EXPECT_EQ(CgroupOfKey("train-prod"), "");
}

TEST(DaemonPeerTest, InnermostPidFromStatus) {
  EXPECT_EQ(InnermostPidFromStatus("Name:\tpython\nNSpid:\t4242\t17\t1\nPPid:\t1\n"), 1);
  EXPECT_EQ(InnermostPidFromStatus("Name:\tx\nNSpid:\t99\n"), 99);
  EXPECT_EQ(InnermostPidFromStatus("Name:\tx\nNSpid:\t99 \n"), 99);
  EXPECT_EQ(InnermostPidFromStatus("Name:\tx\n"), 0);
  EXPECT_EQ(InnermostPidFromStatus("NSpid:\tabc\n"), 0);
  EXPECT_EQ(InnermostPidFromStatus("NSpid:\t\n"), 0);
}

TEST(DaemonPeerTest, OwnProcessIsKeyedAndLive) {
  std::string error;
  std::string key = ContainerKeyOfProcess(getpid(), &error);
  EXPECT_EQ(key.rfind("cgroup:", 0), 0u) << error;
  EXPECT_TRUE(ContainerKeyOfProcess(0x7ffffff0, &error).empty());
  EXPECT_NE(error.find("cannot read"), std::string::npos);

  SlotOwner me{getpid(), ProcessStartTime(getpid())};
  SlotOwner ghost{getpid(), me.second + 12345};
  std::set<SlotOwner> live = LiveSlotOwners({me, ghost});
  EXPECT_EQ(live.count(me), 1u);
  EXPECT_EQ(live.count(ghost), 0u);
}

class DaemonRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tgs-registry-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  Container& Add(const std::string& key) {
    std::string error;
    auto file = state::StateFile::Open(dir_, key, &error);
    EXPECT_NE(file, nullptr) << error;
    return registry_.AddContainer(key, {}, {}, std::move(file));
  }
  std::string dir_;
  Registry registry_;
};

TEST_F(DaemonRegistryTest, ConnectionLifecycle) {
  Container& c = Add("cgroup:/a");
  registry_.AddConnection(7);
  EXPECT_FALSE(registry_.AttachConnection(7, 0, 1)) << "Attached before Hello";
  registry_.BindConnection(7, 100, "cgroup:/a");
  EXPECT_EQ(c.connections.count(7), 1u);
  EXPECT_EQ(registry_.FindConnection(7)->phase, Phase::kAwaitAttached);
  EXPECT_TRUE(registry_.AttachConnection(7, 3, 55));
  EXPECT_FALSE(registry_.AttachConnection(7, 4, 55)) << "second Attached";
  EXPECT_EQ(registry_.AttachedSlots(c), std::set<int>{3});

  registry_.AddConnection(8);
  registry_.BindConnection(8, 101, "cgroup:/a");
  EXPECT_FALSE(registry_.AttachConnection(8, 3, 55)) << "slot held by another connection";

  std::optional<SlotRelease> r = registry_.RemoveConnection(7);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->container, &c);
  EXPECT_EQ(r->pid, 100);
  EXPECT_EQ(r->slot, 3);
  EXPECT_EQ(r->start_time, 55u);
  EXPECT_FALSE(registry_.RemoveConnection(8)) << "never attached: nothing to release";
  EXPECT_FALSE(registry_.RemoveConnection(9));
  EXPECT_TRUE(c.connections.empty());
  EXPECT_EQ(registry_.connection_count(), 0u);
}

TEST_F(DaemonRegistryTest, EvictsOnlyIdleContainers) {
  Container& busy = Add("cgroup:/busy");
  Add("cgroup:/idle");
  Container& slots = Add("cgroup:/slots");
  registry_.AddConnection(5);
  registry_.BindConnection(5, 1, "cgroup:/busy");
  ASSERT_NE(slots.file->ClaimProcessSlot(getpid(), ProcessStartTime(getpid())), nullptr);
  EXPECT_EQ(OccupiedSlots(*slots.file).size(), 1u);
  EXPECT_EQ(registry_.EvictIdle(), std::vector<std::string>{"cgroup:/idle"});
  EXPECT_NE(registry_.FindContainer("cgroup:/busy"), nullptr);
  EXPECT_NE(registry_.FindContainer("cgroup:/slots"), nullptr);
  EXPECT_EQ(&busy, registry_.FindContainer("cgroup:/busy"));
}

TEST(DaemonIdentityRegistryTest, RegisteredFactsOnlyForTheirCgroup) {
  IdentityRegistry ids;
  ids.Register("/pod/a", "train-prod", {{"tgs.io/class", "production"}});
  policy::ContainerIdentity a = ids.IdentityFor("/pod/a");
  EXPECT_EQ(a.id, "train-prod");
  EXPECT_EQ(a.cgroup, "/pod/a");
  EXPECT_EQ(a.labels.at("tgs.io/class"), "production");
  policy::ContainerIdentity b = ids.IdentityFor("/pod/b");
  EXPECT_EQ(b.id, "");
  EXPECT_EQ(b.cgroup, "/pod/b");
  ids.Forget("/pod/a");
  EXPECT_EQ(ids.IdentityFor("/pod/a").id, "");
}

TEST(DaemonConfigTest, MissingDefaultFileMeansBuiltInDefaultsButAnExplicitOneIsAnError) {
  DaemonSettings settings;
  settings.config_path = "/nonexistent/tgs/config.yaml";
  std::optional<policy::Policy> p = LoadConfiguredPolicy(settings);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->controller.socket, policy::DefaultPolicy().controller.socket);
  settings.config_explicit = true;
  EXPECT_FALSE(LoadConfiguredPolicy(settings));
}

TEST(DaemonControlLoopTest, StatusLineCountsContainersProcessesAndBytes) {
  char tmpl[] = "/tmp/tgs-status-test-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string error;
  auto file = state::StateFile::Open(tmpl, "cgroup:/p", &error);
  ASSERT_NE(file, nullptr) << error;
  uint8_t uuid[16] = {1};
  int gpu = file->FindOrClaimGpu(uuid, 0);
  state::ProcessSlot* slot = file->ClaimProcessSlot(getpid(), ProcessStartTime(getpid()));
  ASSERT_TRUE(file->Reserve(slot, gpu, 1000));
  policy::ContainerPolicy prod;
  prod.kind = policy::Kind::kProduction;
  policy::ControlParams control;
  RegistrySnapshot snapshot{std::chrono::steady_clock::now(), &control, {{"cgroup:/p", &prod, nullptr, file.get(), 1, 1}}};
  EXPECT_EQ(StatusReporter::StatusLine(snapshot),
            "status: 1 container(s) (1 production), 1 process(es), 1000 bytes of GPU memory in use");
  file.reset();
  std::filesystem::remove_all(tmpl);
}

}  // namespace
}  // namespace tgs::controller
