#include "shim/control/controller_client.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>

#include "shim/protocol/socket_io.h"
#include "shim/util/log.h"

namespace tgs::control {
namespace {

std::atomic<int> g_socket{-1};
std::atomic<bool> g_connected{false};

// -1 with errno set when nothing listens there.
int Connect(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    errno = ENAMETOOLONG;
    return -1;
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (s < 0) return -1;
  if (connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int saved = errno;
    close(s);
    errno = saved;
    return -1;
  }
  return s;
}

protocol::Hello MakeHello(const std::vector<std::array<uint8_t, 16>>& gpus, const std::string& claimed_id) {
  protocol::Hello hello{};
  protocol::Stamp(hello);
  hello.pid = static_cast<uint32_t>(getpid());
  hello.gpu_count = static_cast<uint32_t>(std::min<size_t>(gpus.size(), protocol::kMaxGpus));
  for (uint32_t i = 0; i < hello.gpu_count; ++i) std::memcpy(hello.gpu_uuids[i], gpus[i].data(), 16);
  protocol::CopyString(hello.claimed_container_id, claimed_id);
  return hello;
}

// Sends Hello on a connected socket and waits for the answer.
Result Exchange(int s, const std::vector<std::array<uint8_t, 16>>& gpus, const std::string& claimed_id,
                int timeout_ms) {
  Result result;
  std::string error;
  if (!protocol::Send(s, protocol::Message(MakeHello(gpus, claimed_id)), -1, &error)) {
    result.outcome = Outcome::kFailed;
    result.message = "tgs-controller: " + error;
    return result;
  }
  int fds[protocol::kMaxFds];
  auto answer = protocol::ReceiveFds(s, fds, timeout_ms, &error);
  if (!answer) {
    result.outcome = Outcome::kFailed;
    result.message = "tgs-controller did not answer the registration: " + error;
    return result;
  }
  auto close_fds = [&] {
    for (int f : fds) {
      if (f >= 0) close(f);
    }
  };
  if (auto* reject = std::get_if<protocol::Reject>(&*answer)) {
    close_fds();
    result.outcome = Outcome::kRejected;
    result.reject_code = reject->code;
    result.message = std::string("tgs-controller refused this process: ") + reject->reason;
    return result;
  }
  auto* welcome = std::get_if<protocol::Welcome>(&*answer);
  if (welcome == nullptr || fds[0] < 0 || fds[1] < 0) {
    close_fds();
    result.outcome = Outcome::kFailed;
    result.message = "tgs-controller answered the registration without a welcome, a state file and a node board";
    return result;
  }
  result.board = state::BoardFile::Adopt(fds[1], &error);
  if (!result.board) {
    close(fds[0]);
    result.outcome = Outcome::kFailed;
    result.message = "tgs-controller's node board: " + error;
    return result;
  }
  result.state = state::StateFile::Adopt(fds[0], &error);
  if (!result.state) {
    result.board.reset();
    result.outcome = Outcome::kFailed;
    result.message = "tgs-controller's state file: " + error;
    return result;
  }
  result.outcome = Outcome::kRegistered;
  result.welcome.kind = static_cast<protocol::ClassKind>(welcome->class_kind);
  result.welcome.weight = welcome->weight;
  result.welcome.memory_limit_bytes = welcome->memory_limit_bytes;
  result.welcome.oversubscribe = (welcome->flags & protocol::kWelcomeOversubscribe) != 0;
  result.welcome.container_key = welcome->container_key;
  result.welcome.class_name = welcome->class_name;
  return result;
}

bool SendAttached(int s, int slot, uint64_t start_time) {
  protocol::Attached attached{};
  protocol::Stamp(attached);
  attached.slot = static_cast<uint32_t>(slot);
  attached.start_time = start_time;
  std::string error;
  return protocol::Send(s, protocol::Message(attached), -1, &error);
}

bool SameFile(int a, int b) {
  struct stat sa, sb;
  return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

// Blocks on the connection; when the controller goes away, reconnects every
// 200 ms and re-registers the same slot of the same state file. Limits keep
// holding meanwhile: the state file stays mapped.
void Watch(std::string path, std::vector<std::array<uint8_t, 16>> gpus, std::string claimed_id, int slot,
           uint64_t start_time, const state::StateFile* state, const state::BoardFile* board) {
  for (;;) {
    int s = g_socket.load();
    char byte;
    // The controller never sends after Welcome; a return means EOF or error.
    while (s >= 0 && recv(s, &byte, 1, 0) < 0 && errno == EINTR) {
    }
    g_connected.store(false);
    if (s >= 0 && g_socket.compare_exchange_strong(s, -1)) close(s);
    TGS_LOG_WARN("lost tgs-controller at %s; memory limits stay in force, reconnecting", path.c_str());
    for (;;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      int c = Connect(path);
      if (c < 0) continue;
      Result r = Exchange(c, gpus, claimed_id, 1000);
      // The board of the restarted controller is the same file when it kept
      // its state directory; if not, production's signals are on the old one
      // and opportunistic shims of this node read the new one, so say so.
      if (r.outcome == Outcome::kRegistered && board != nullptr && !SameFile(r.board->fd(), board->fd())) {
        TGS_LOG_WARN("the restarted tgs-controller has a new node board; this process keeps the one it has");
      }
      if (r.outcome == Outcome::kRegistered && SameFile(r.state->fd(), state->fd()) &&
          SendAttached(c, slot, start_time)) {
        g_socket.store(c);
        g_connected.store(true);
        TGS_LOG_INFO("re-registered with tgs-controller at %s", path.c_str());
        break;
      }
      close(c);
      if (r.outcome == Outcome::kRegistered) {
        TGS_LOG_WARN("the restarted tgs-controller keeps this container's state elsewhere; staying on the old state");
        return;
      }
    }
  }
}

}  // namespace

Result Register(const std::string& socket_path, const std::vector<std::array<uint8_t, 16>>& gpu_uuids,
                const std::string& claimed_container_id, int timeout_ms) {
  int s = Connect(socket_path);
  if (s < 0) {
    Result r;
    r.outcome = Outcome::kUnavailable;
    r.message = "no tgs-controller at " + socket_path + " (" + std::strerror(errno) + "); accounting locally";
    return r;
  }
  Result r = Exchange(s, gpu_uuids, claimed_container_id, timeout_ms);
  if (r.outcome == Outcome::kRegistered) {
    g_socket.store(s);
  } else {
    close(s);
  }
  return r;
}

void CompleteRegistration(const std::string& socket_path, const std::vector<std::array<uint8_t, 16>>& gpu_uuids,
                          const std::string& claimed_container_id, int slot, uint64_t start_time,
                          const state::StateFile& state, const state::BoardFile* board) {
  int s = g_socket.load();
  if (s < 0 || !SendAttached(s, slot, start_time)) {
    TGS_LOG_WARN("could not tell tgs-controller this process's slot; it will reclaim it by liveness instead");
  }
  g_connected.store(s >= 0);
  std::thread(Watch, socket_path, gpu_uuids, claimed_container_id, slot, start_time, &state, board).detach();
}

bool ControllerConnected() { return g_connected.load(std::memory_order_relaxed); }

void ForgetConnectionInChild() {
  int s = g_socket.exchange(-1);
  if (s >= 0) close(s);
  g_connected.store(false);
}

}  // namespace tgs::control
