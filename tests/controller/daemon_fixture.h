// The fixture of the tests that run tgs-controller as a process: a temp
// config, socket and state directory, and a test client speaking the shim's
// protocol (tgs_protocol) in place of a shimmed process.
#pragma once

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
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "shim/core/container_identity.h"
#include "shim/protocol/socket_io.h"
#include "shim/state/state_file.h"
#include "shim/util/process_start_time.h"

namespace tgs::controller {

using namespace std::chrono_literals;
namespace proto = tgs::protocol;

inline bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

inline void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

inline int Connect(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// true when the controller closed `fd` (EOF) within `limit`.
inline bool ClosedByPeer(int fd, int limit_ms = 1000) {
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, limit_ms) <= 0) return false;
  char byte[1024];
  return recv(fd, byte, sizeof byte, MSG_DONTWAIT) == 0;
}

inline proto::Hello MakeHello(const uint8_t uuid[16], const std::string& claimed_id = "",
                       const std::string& claimed_class = "") {
  proto::Hello h{};
  proto::Stamp(h);
  h.pid = static_cast<uint32_t>(getpid());
  h.gpu_count = 1;
  std::memcpy(h.gpu_uuids[0], uuid, 16);
  proto::CopyString(h.claimed_container_id, claimed_id);
  proto::CopyString(h.claimed_class, claimed_class);
  return h;
}

// One shimmed process's side of the protocol.
struct Client {
  int fd = -1;
  std::optional<proto::Welcome> welcome;
  std::optional<proto::Reject> reject;
  std::unique_ptr<state::StateFile> file;
  int gpu = -1;
  state::ProcessSlot* slot = nullptr;
  std::string error;

  ~Client() { Close(); }
  void Close() {
    if (fd >= 0) close(fd);
    fd = -1;
  }
  // Hello -> Welcome (+ state file) or Reject.
  bool Register(const std::string& socket_path, const uint8_t uuid[16], const std::string& claimed_id = "",
                const std::string& claimed_class = "") {
    fd = Connect(socket_path);
    if (fd < 0) return (error = "connect failed"), false;
    if (!proto::Send(fd, MakeHello(uuid, claimed_id, claimed_class), -1, &error)) return false;
    int state_fd = -1;
    std::optional<proto::Message> m = proto::Receive(fd, &state_fd, 2000, &error);
    if (!m) return false;
    if (auto* r = std::get_if<proto::Reject>(&*m)) {
      reject = *r;
      return (error = std::string("rejected: ") + r->reason), false;
    }
    welcome = std::get<proto::Welcome>(*m);
    if (state_fd < 0) return (error = "Welcome without a state file"), false;
    file = state::StateFile::Adopt(state_fd, &error);
    if (!file) return false;
    gpu = file->FindGpu(uuid);
    return gpu >= 0 || ((error = "GPU not in the state file"), false);
  }
  // Claims a slot the way the shim does, and tells the controller.
  bool Attach() {
    slot = file->ClaimProcessSlot(getpid(), ProcessStartTime(getpid()));
    if (!slot) return (error = "no slot"), false;
    proto::Attached a{};
    proto::Stamp(a);
    a.slot = static_cast<uint32_t>(file->SlotIndex(slot));
    a.start_time = slot->start_time;
    return proto::Send(fd, a, -1, &error);
  }
};

class DaemonProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tgs-daemon-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    socket_ = dir_ + "/run/tgs.sock";
    state_dir_ = dir_ + "/state";
    config_ = dir_ + "/config.yaml";
    for (int i = 0; i < 16; ++i) uuid_[i] = static_cast<uint8_t>(0xa0 + i);
    std::string error;
    own_key_ = ContainerIdFromCgroup(&error);
    ASSERT_FALSE(own_key_.empty()) << error;
  }
  void TearDown() override {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    std::filesystem::remove_all(dir_);
  }

  static std::string Policy(const std::string& default_limit, const std::string& extra = "") {
    return "version: 1\ncontrol:\n  interval_ms: 50\ndefaults:\n  class: opportunistic\n  memory_limit: " +
           default_limit + "\n" + extra;
  }

  pid_t Spawn(const std::vector<std::string>& args) {
    pid_t pid = fork();
    if (pid == 0) {
      setenv("TGS_LOG", "info", 1);
      std::vector<char*> argv{const_cast<char*>(TGS_CONTROLLER_BIN)};
      for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv(TGS_CONTROLLER_BIN, argv.data());
      _exit(127);
    }
    return pid;
  }
  // Starts the controller and waits until it accepts connections.
  void Start(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args{"--config", config_, "--socket", socket_, "--state-dir", state_dir_};
    args.insert(args.end(), extra.begin(), extra.end());
    pid_ = Spawn(args);
    ASSERT_GT(pid_, 0);
    bool up = WaitFor(
        [&] {
          int fd = Connect(socket_);
          if (fd >= 0) close(fd);
          return fd >= 0 || waitpid(pid_, nullptr, WNOHANG) != 0;
        },
        5s);
    ASSERT_TRUE(up) << "controller did not come up";
    ASSERT_EQ(waitpid(pid_, nullptr, WNOHANG), 0) << "controller exited at start-up";
  }
  int Exit(pid_t pid, std::chrono::milliseconds limit = 3s) {
    int status = -1;
    WaitFor([&] { return waitpid(pid, &status, WNOHANG) == pid; }, limit);
    if (pid == pid_) pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  bool Alive() { return pid_ > 0 && waitpid(pid_, nullptr, WNOHANG) == 0; }

  std::string dir_, socket_, state_dir_, config_, own_key_;
  uint8_t uuid_[16];
  pid_t pid_ = -1;
};

}  // namespace tgs::controller
