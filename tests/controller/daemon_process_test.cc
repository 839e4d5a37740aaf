// tgs-controller as a process (label integration): a temp config, socket and
// state directory; a test client speaking tgs_protocol; real cgroups as root.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "tests/controller/daemon_fixture.h"
#include "shim/core/container_identity.h"
#include "shim/protocol/socket_io.h"
#include "shim/state/state_file.h"
#include "shim/util/process_start_time.h"

namespace tgs::controller {
namespace {

constexpr uint64_t kMiB = 1 << 20;

TEST_F(DaemonProcessTest, CommandLine) {
  EXPECT_EQ(Exit(Spawn({"--help"})), 0);
  EXPECT_EQ(Exit(Spawn({"--bogus"})), 2);
  EXPECT_EQ(Exit(Spawn({"--config"})), 2);
  EXPECT_EQ(Exit(Spawn({"--config", dir_ + "/missing.yaml", "--socket", socket_, "--state-dir", state_dir_})), 1)
      << "a missing explicit config is an error";
  WriteFile(config_, Policy("64MiB"));
  EXPECT_EQ(Exit(Spawn({"--check-config", config_})), 0);
  WriteFile(dir_ + "/bad.yaml", "version: 1\ncontrol:\n  intervl_ms: 5\n");
  EXPECT_EQ(Exit(Spawn({"--check-config", dir_ + "/bad.yaml"})), 1);
}

TEST_F(DaemonProcessTest, WelcomeCarriesPolicyAndStateFileEvenForALyingHello) {
  WriteFile(config_, Policy("64MiB", "containers:\n  - match: { id: train-prod }\n    class: production\n"
                                     "    memory_limit: 1GiB\n"));
  Start();
  struct stat st;
  ASSERT_EQ(stat(socket_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0666u);

  Client c;
  // Claims the id and class of a production container; its cgroup says otherwise.
  ASSERT_TRUE(c.Register(socket_, uuid_, "train-prod", "production")) << c.error;
  EXPECT_EQ(c.welcome->class_kind, static_cast<uint32_t>(proto::ClassKind::kOpportunistic));
  EXPECT_STREQ(c.welcome->class_name, "opportunistic");
  EXPECT_EQ(c.welcome->memory_limit_bytes, 64 * kMiB);
  EXPECT_EQ(c.welcome->weight, 1u);
  EXPECT_EQ(c.welcome->container_key, own_key_);
  EXPECT_EQ(c.file->LimitBytes(c.gpu), 64 * kMiB);
  EXPECT_EQ(std::string(c.file->state().header.container_id), own_key_);
  EXPECT_TRUE(std::filesystem::exists(state_dir_ + "/" + state::StateFileName(own_key_)));
}

TEST_F(DaemonProcessTest, ClosingTheConnectionReleasesTheSlotAtOnce) {
  WriteFile(config_, Policy("64MiB"));
  Start();
  Client keep, leave;
  ASSERT_TRUE(keep.Register(socket_, uuid_)) << keep.error;
  ASSERT_TRUE(keep.Attach()) << keep.error;
  ASSERT_TRUE(keep.file->Reserve(keep.slot, keep.gpu, 4 * kMiB));
  ASSERT_TRUE(leave.Register(socket_, uuid_)) << leave.error;
  ASSERT_TRUE(leave.Attach()) << leave.error;
  ASSERT_TRUE(leave.file->Reserve(leave.slot, leave.gpu, 10 * kMiB));
  EXPECT_EQ(keep.file->UsedBytes(keep.gpu), 14 * kMiB);
  leave.Close();  // as if the process were SIGKILLed: its slot is never released by itself
  EXPECT_TRUE(WaitFor([&] { return keep.file->UsedBytes(keep.gpu) == 4 * kMiB; }, 1s))
      << "used " << keep.file->UsedBytes(keep.gpu);
  EXPECT_EQ(leave.slot->pid.load(), 0);
  EXPECT_NE(keep.slot->pid.load(), 0);
}

TEST_F(DaemonProcessTest, BadPacketsCloseOnlyTheirConnection) {
  WriteFile(config_, Policy("64MiB"));
  Start();
  Client good;
  ASSERT_TRUE(good.Register(socket_, uuid_)) << good.error;
  ASSERT_TRUE(good.Attach()) << good.error;
  ASSERT_TRUE(good.file->Reserve(good.slot, good.gpu, 5 * kMiB));

  auto hello_bytes = [&] {
    proto::Hello h = MakeHello(uuid_);
    std::vector<uint8_t> b(sizeof h);
    std::memcpy(b.data(), &h, sizeof h);
    return b;
  };
  std::vector<std::pair<std::string, std::vector<uint8_t>>> packets;
  std::mt19937 rng(42);
  std::vector<uint8_t> random(300);
  for (auto& b : random) b = static_cast<uint8_t>(rng());
  packets.push_back({"random bytes", random});
  packets.push_back({"tiny", {1, 2, 3}});
  auto wrong_magic = hello_bytes();
  wrong_magic[0] ^= 0xff;
  packets.push_back({"wrong magic", wrong_magic});
  auto truncated = hello_bytes();
  truncated.pop_back();
  packets.push_back({"truncated Hello", truncated});
  auto oversized = hello_bytes();
  oversized.resize(oversized.size() + 4096, 0);
  packets.push_back({"oversized Hello", oversized});
  auto too_many_gpus = hello_bytes();
  uint32_t seventeen = 17;
  std::memcpy(too_many_gpus.data() + offsetof(proto::Hello, gpu_count), &seventeen, 4);
  packets.push_back({"17 GPUs", too_many_gpus});
  auto unterminated = hello_bytes();
  std::memset(unterminated.data() + offsetof(proto::Hello, claimed_class), 'x', proto::kClassLength);
  packets.push_back({"unterminated string", unterminated});
  proto::Attached early{};
  proto::Stamp(early);
  early.slot = static_cast<uint32_t>(good.file->SlotIndex(good.slot));
  early.start_time = good.slot->start_time;
  std::vector<uint8_t> early_bytes(sizeof early);
  std::memcpy(early_bytes.data(), &early, sizeof early);
  packets.push_back({"Attached before Hello", early_bytes});
  proto::Welcome welcome{};
  proto::Stamp(welcome);
  std::vector<uint8_t> welcome_bytes(sizeof welcome);
  std::memcpy(welcome_bytes.data(), &welcome, sizeof welcome);
  packets.push_back({"Welcome from a client", welcome_bytes});
  packets.push_back({"empty packet", {}});

  for (const auto& [name, bytes] : packets) {
    int fd = Connect(socket_);
    ASSERT_GE(fd, 0) << name;
    ASSERT_EQ(send(fd, bytes.data(), bytes.size(), 0), static_cast<ssize_t>(bytes.size())) << name;
    EXPECT_TRUE(ClosedByPeer(fd)) << name << " did not close the connection";
    close(fd);
  }
  // Protocol violations after a valid Hello: a second Hello, and an
  // Attached naming another process's slot (which must not release it).
  Client second;
  ASSERT_TRUE(second.Register(socket_, uuid_)) << second.error;
  ASSERT_TRUE(proto::Send(second.fd, MakeHello(uuid_), -1, &second.error));
  EXPECT_TRUE(ClosedByPeer(second.fd)) << "second Hello";
  Client thief;
  ASSERT_TRUE(thief.Register(socket_, uuid_)) << thief.error;
  proto::Attached steal = early;
  steal.start_time += 1;
  ASSERT_TRUE(proto::Send(thief.fd, steal, -1, &thief.error));
  EXPECT_TRUE(ClosedByPeer(thief.fd)) << "Attached with someone else's slot";

  ASSERT_TRUE(Alive());
  EXPECT_EQ(good.file->UsedBytes(good.gpu), 5 * kMiB) << "the good client's slot was released";
  Client later;
  EXPECT_TRUE(later.Register(socket_, uuid_)) << later.error;
  pollfd p{good.fd, POLLIN, 0};
  EXPECT_EQ(poll(&p, 1, 0), 0) << "the good connection was disturbed";
}

TEST_F(DaemonProcessTest, VanishedProcessIsRejected) {
  WriteFile(config_, Policy("64MiB"));
  Start();
  // A child connects and hands the socket over, then exits: the controller
  // finds no /proc entry for the peer.
  int pair[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair), 0);
  pid_t child = fork();
  if (child == 0) {
    int fd = Connect(socket_);
    std::string error;
    proto::Attached dummy{};
    proto::Stamp(dummy);
    proto::Send(pair[1], dummy, fd, &error);
    _exit(0);
  }
  close(pair[1]);
  int fd = -1;
  std::string error;
  ASSERT_TRUE(proto::Receive(pair[0], &fd, 2000, &error)) << error;
  close(pair[0]);
  ASSERT_EQ(waitpid(child, nullptr, 0), child);
  ASSERT_TRUE(proto::Send(fd, MakeHello(uuid_), -1, &error)) << error;
  int none = -1;
  std::optional<proto::Message> m = proto::Receive(fd, &none, 2000, &error);
  close(fd);
  ASSERT_TRUE(m) << error;
  auto* reject = std::get_if<proto::Reject>(&*m);
  ASSERT_NE(reject, nullptr);
  EXPECT_EQ(reject->code, 800);
  EXPECT_NE(std::string(reject->reason).find("/proc/"), std::string::npos) << reject->reason;
  EXPECT_TRUE(Alive());
}

TEST_F(DaemonProcessTest, SighupKeepsOldPolicyOnErrorsAndAppliesAGoodOne) {
  WriteFile(config_, Policy("64MiB"));
  Start();
  Client c;
  ASSERT_TRUE(c.Register(socket_, uuid_)) << c.error;
  ASSERT_EQ(c.file->LimitBytes(c.gpu), 64 * kMiB);

  WriteFile(config_, Policy("128MiB", "containers:\n  - match: {}\n"));  // invalid: empty match
  ASSERT_EQ(kill(pid_, SIGHUP), 0);
  std::this_thread::sleep_for(300ms);
  ASSERT_TRUE(Alive());
  EXPECT_EQ(c.file->LimitBytes(c.gpu), 64 * kMiB);
  Client during;
  ASSERT_TRUE(during.Register(socket_, uuid_)) << during.error;
  EXPECT_EQ(during.welcome->memory_limit_bytes, 64 * kMiB);

  WriteFile(config_, Policy("128MiB"));
  ASSERT_EQ(kill(pid_, SIGHUP), 0);
  EXPECT_TRUE(WaitFor([&] { return c.file->LimitBytes(c.gpu) == 128 * kMiB; }, 2s)) << c.file->LimitBytes(c.gpu);
  Client after;
  ASSERT_TRUE(after.Register(socket_, uuid_)) << after.error;
  EXPECT_EQ(after.welcome->memory_limit_bytes, 128 * kMiB);
}

TEST_F(DaemonProcessTest, RestartAfterSigkillKeepsUsageAndReclaimsTheDead) {
  WriteFile(config_, Policy("64MiB"));
  Start();
  Client live;
  ASSERT_TRUE(live.Register(socket_, uuid_)) << live.error;
  ASSERT_TRUE(live.Attach()) << live.error;
  ASSERT_TRUE(live.file->Reserve(live.slot, live.gpu, 8 * kMiB));
  // A process that dies holding 4 MiB, without a connection.
  int gate[2];
  ASSERT_EQ(pipe(gate), 0);
  pid_t child = fork();
  if (child == 0) {
    char b;
    close(gate[1]);
    (void)!read(gate[0], &b, 1);
    _exit(0);
  }
  close(gate[0]);
  uint64_t child_start = 0;
  ASSERT_TRUE(WaitFor([&] { return (child_start = ProcessStartTime(child)) != 0; }, 1s));
  state::ProcessSlot* dead = live.file->ClaimProcessSlot(child, child_start);
  ASSERT_NE(dead, nullptr);
  ASSERT_TRUE(live.file->Reserve(dead, live.gpu, 4 * kMiB));

  ASSERT_EQ(kill(pid_, SIGKILL), 0);
  ASSERT_EQ(waitpid(pid_, nullptr, 0), pid_);
  pid_ = -1;
  close(gate[1]);
  ASSERT_EQ(waitpid(child, nullptr, 0), child);
  EXPECT_EQ(live.file->UsedBytes(live.gpu), 12 * kMiB);
  EXPECT_TRUE(std::filesystem::exists(socket_)) << "a SIGKILLed controller leaves its socket";

  Start();  // same state dir; removes the stale socket
  EXPECT_EQ(live.file->UsedBytes(live.gpu), 8 * kMiB) << "live usage kept, the dead process's returned";
  EXPECT_NE(live.slot->pid.load(), 0);
  EXPECT_EQ(dead->pid.load(), 0);
  Client again;
  ASSERT_TRUE(again.Register(socket_, uuid_)) << again.error;
  EXPECT_EQ(again.file->UsedBytes(again.gpu), 8 * kMiB);
}

TEST_F(DaemonProcessTest, SigtermRemovesTheSocketAndKeepsState) {
  WriteFile(config_, Policy("64MiB"));
  Start();
  {
    Client c;
    ASSERT_TRUE(c.Register(socket_, uuid_)) << c.error;
  }
  ASSERT_EQ(kill(pid_, SIGTERM), 0);
  EXPECT_EQ(Exit(pid_), 0);
  EXPECT_FALSE(std::filesystem::exists(socket_));
  EXPECT_TRUE(std::filesystem::exists(state_dir_ + "/" + state::StateFileName(own_key_)));
}

// --- Real cgroups (root) ------------------------------------------------------

// Where a new cgroup can be made so that /proc/<pid>/cgroup names it.
std::string WritableCgroupRoot() {
  for (const char* root : {"/sys/fs/cgroup/unified", "/sys/fs/cgroup", "/sys/fs/cgroup/memory"}) {
    std::string procs = std::string(root) + "/cgroup.procs";
    if (access(procs.c_str(), W_OK) == 0) return root;
  }
  return "";
}

class ScopedCgroup {
 public:
  ScopedCgroup(std::string root, std::string name) : path_(root + "/" + name), name_("/" + name) {
    ok_ = mkdir(path_.c_str(), 0755) == 0;
  }
  ~ScopedCgroup() {
    if (ok_) WaitFor([&] { return rmdir(path_.c_str()) == 0 || errno != EBUSY; }, 2s);
  }
  bool ok() const { return ok_; }
  const std::string& path() const { return path_; }
  const std::string& name() const { return name_; }

 private:
  std::string path_, name_;
  bool ok_ = false;
};

// Runs a client in a child moved into `cgroup`; returns
// "<class> <kind> <limit> <key> <limit in state file>" or "ERR ...".
std::string RegisterFromCgroup(const ScopedCgroup& cgroup, const std::string& socket, const uint8_t uuid[16],
                               const std::string& claimed_id, const std::string& claimed_class) {
  int out[2];
  if (pipe(out) != 0) return "ERR pipe";
  pid_t child = fork();
  if (child == 0) {
    close(out[0]);
    std::string line;
    std::ofstream(cgroup.path() + "/cgroup.procs") << getpid() << std::endl;
    Client c;
    if (!c.Register(socket, uuid, claimed_id, claimed_class)) {
      line = "ERR " + c.error;
    } else {
      line = std::string(c.welcome->class_name) + " " + std::to_string(c.welcome->class_kind) + " " +
             std::to_string(c.welcome->memory_limit_bytes) + " " + c.welcome->container_key + " " +
             std::to_string(c.file->LimitBytes(c.gpu));
    }
    (void)!write(out[1], line.data(), line.size());
    _exit(0);
  }
  close(out[1]);
  std::string result;
  char buf[512];
  pollfd p{out[0], POLLIN, 0};
  while (poll(&p, 1, 5000) > 0) {
    ssize_t n = read(out[0], buf, sizeof buf);
    if (n <= 0) break;
    result.append(buf, static_cast<size_t>(n));
  }
  close(out[0]);
  waitpid(child, nullptr, 0);
  return result.empty() ? "ERR no answer from the child" : result;
}

TEST_F(DaemonProcessTest, PolicyFollowsTheRealCgroupNotTheClaims) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to create cgroups";
  std::string root = WritableCgroupRoot();
  if (root.empty()) GTEST_SKIP() << "no writable cgroup hierarchy under /sys/fs/cgroup";
  std::string tag = "tgs-daemon-test-" + std::to_string(getpid());
  ScopedCgroup prod(root, tag + "-prod"), other(root, tag + "-other");
  if (!prod.ok() || !other.ok()) GTEST_SKIP() << "cannot create cgroups under " << root << ": " << strerror(errno);

  WriteFile(config_, Policy("64MiB", "containers:\n  - match: { cgroup: \"/" + tag +
                                         "-prod*\" }\n    class: production\n    memory_limit: 1GiB\n"
                                         "  - match: { id: train-prod }\n    class: production\n"));
  Start();
  std::string kProd = std::to_string(static_cast<uint32_t>(proto::ClassKind::kProduction));
  std::string kOpp = std::to_string(static_cast<uint32_t>(proto::ClassKind::kOpportunistic));
  EXPECT_EQ(RegisterFromCgroup(prod, socket_, uuid_, "", "opportunistic"),
            "production " + kProd + " 1073741824 cgroup:" + prod.name() + " 1073741824");
  // Lies about being the production container: gets its own cgroup's policy.
  EXPECT_EQ(RegisterFromCgroup(other, socket_, uuid_, "train-prod", "production"),
            "opportunistic " + kOpp + " 67108864 cgroup:" + other.name() + " 67108864");
  EXPECT_TRUE(std::filesystem::exists(state_dir_ + "/" + state::StateFileName("cgroup:" + prod.name())));
}

TEST_F(DaemonProcessTest, ASilentConnectionIsClosedAndOthersAreServed) {
  WriteFile(config_, Policy("64MiB"));
  Start();
  int silent = Connect(socket_);
  ASSERT_GE(silent, 0);
  // The deadline is 5 s, checked every 2 s: closed within 8 s.
  bool closed = WaitFor(
      [&] {
        char byte;
        ssize_t n = recv(silent, &byte, 1, MSG_DONTWAIT);
        return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
      },
      9s);
  close(silent);
  EXPECT_TRUE(closed) << "a connection that never sent Hello is still open";
  Client client;
  EXPECT_TRUE(client.Register(socket_, uuid_)) << client.error;
  EXPECT_TRUE(Alive());
}

}  // namespace
}  // namespace tgs::controller
