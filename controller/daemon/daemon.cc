#include "controller/daemon/daemon.h"

#include <cuda.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "controller/daemon/fs_paths.h"
#include "controller/daemon/peer.h"
#include "controller/watch/node_watch.h"
#include "controller/policy/loader.h"
#include "shim/protocol/socket_io.h"
#include "shim/util/gpu_uuid.h"
#include "shim/util/log.h"
#include "shim/util/process_start_time.h"

namespace tgs::controller {

namespace {

std::string Errno() { return std::strerror(errno); }

// Key of a container named by its claimed id (--trust-claimed-ids).
constexpr char kClaimedKeyPrefix[] = "id:";

protocol::ClassKind WireKind(policy::Kind kind) {
  return kind == policy::Kind::kProduction ? protocol::ClassKind::kProduction : protocol::ClassKind::kOpportunistic;
}

std::string Describe(const policy::ContainerPolicy& p) {
  return "class " + p.class_name + " (" + std::string(policy::KindName(p.kind)) + ", " + p.MatchedBy() +
         "), memory limit " + (p.memory_limit_bytes ? std::to_string(p.memory_limit_bytes) + " bytes" : "none") +
         ", weight " + std::to_string(p.weight) + (p.oversubscribe ? ", oversubscribed" : "");
}

}  // namespace

std::optional<policy::Policy> LoadConfiguredPolicy(const DaemonSettings& settings) {
  struct stat st;
  if (!settings.config_explicit && stat(settings.config_path.c_str(), &st) != 0 && errno == ENOENT) {
    TGS_LOG_INFO("%s does not exist; using the built-in default policy", settings.config_path.c_str());
    policy::Policy p = policy::DefaultPolicy();
    p.source = "(built-in defaults)";
    return p;
  }
  policy::LoadResult result = policy::LoadPolicyFile(settings.config_path);
  for (const policy::PolicyError& e : result.errors) TGS_LOG_ERROR("%s", e.ToString().c_str());
  if (!result.ok()) return std::nullopt;
  for (const policy::PolicyError& w : result.warnings) TGS_LOG_WARN("%s", w.ToString().c_str());
  return std::move(result.policy);
}

Daemon::Daemon(DaemonSettings settings, policy::Policy policy, std::unique_ptr<ControlLoop> control_loop)
    : settings_(std::move(settings)), control_loop_(std::move(control_loop)) {
  policy_ = EffectivePolicy(std::move(policy));
}

Daemon::~Daemon() { TearDown(); }

policy::Policy Daemon::EffectivePolicy(policy::Policy p) const {
  if (settings_.socket_override) {
    p.controller.socket = *settings_.socket_override;
    // A controller moved to another socket (a test, a second instance) must
    // not fight the first one for the default admin socket.
    if (!settings_.admin_socket_override && p.controller.admin_socket == policy::ControllerSettings{}.admin_socket) {
      p.controller.admin_socket = ParentDir(p.controller.socket) + "/admin.sock";
    }
    if (!settings_.grant_dir_override && p.controller.grant_dir == policy::ControllerSettings{}.grant_dir) {
      p.controller.grant_dir = ParentDir(p.controller.socket) + "/grants";
    }
  }
  if (settings_.admin_socket_override) p.controller.admin_socket = *settings_.admin_socket_override;
  if (settings_.grant_dir_override) p.controller.grant_dir = *settings_.grant_dir_override;
  if (settings_.metrics_listen_override) p.controller.metrics_listen = *settings_.metrics_listen_override;
  if (settings_.state_dir_override) p.controller.state_dir = *settings_.state_dir_override;
  return p;
}

policy::ContainerPolicy Daemon::PolicyFor(const Container& c) const {
  policy::ContainerPolicy p;
  std::string warning;
  if (c.grant.starts_with(kClassGrantPrefix)) {
    p = GrantPolicy(policy_, c.grant.substr(sizeof kClassGrantPrefix - 1), 0, &warning);
    p.granted_by = c.grant;
  } else if (const Allocation* a = c.grant.starts_with(kAllocGrantPrefix)
                                       ? grants_.FindAllocation(c.grant.substr(sizeof kAllocGrantPrefix - 1))
                                       : nullptr) {
    p = GrantPolicy(policy_, a->class_name, a->memory_limit_bytes, &warning);
    p.granted_by = c.grant;
  } else {
    // No grant, or a revoked allocation whose processes still run.
    p = policy::Resolve(policy_, c.identity);
  }
  if (!warning.empty()) TGS_LOG_WARN("%s: %s", c.key.c_str(), warning.c_str());
  overrides_.Apply(policy_, c.key, &p);
  return p;
}

policy::ContainerIdentity Daemon::IdentityFor(const std::string& key, const std::string& grant) const {
  policy::ContainerIdentity identity = identities_.IdentityFor(CgroupOfKey(key));
  if (key.starts_with(kClaimedKeyPrefix)) identity.id = key.substr(std::string_view(kClaimedKeyPrefix).size());
  if (grant.starts_with(kAllocGrantPrefix)) {
    if (const Allocation* a = grants_.FindAllocation(grant.substr(sizeof kAllocGrantPrefix - 1))) {
      identity.labels = IdentityLabels(*a);
    }
  }
  return identity;
}

int Daemon::Run() {
  if (!SetUp()) {
    TearDown();
    return 1;
  }
  TGS_LOG_INFO("listening on %s; state in %s; policy %s", policy_.controller.socket.c_str(),
               policy_.controller.state_dir.c_str(), policy_.source.c_str());
  epoll_event events[64];
  while (!stopping_) {
    int n = epoll_wait(epoll_fd_, events, 64, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      TGS_LOG_ERROR("epoll_wait failed: %s", Errno().c_str());
      TearDown();
      return 1;
    }
    for (int i = 0; i < n && !stopping_; ++i) {
      int fd = events[i].data.fd;
      uint32_t ev = events[i].events;
      if (fd == listen_fd_) {
        Accept(listen_fd_, "");
      } else if (const std::string* grant = grant_sockets_.GrantOf(fd)) {
        Accept(fd, std::string(*grant));
      } else if (fd == signal_fd_) {
        OnSignal();
      } else if (fd == timer_fd_) {
        OnTimer();
      } else if (watch_ != nullptr && fd == watch_->fd()) {
        OnWatchEvents();
      } else if (admin_.Owns(fd)) {
        admin_.OnEvent(fd, ev, [this](const nlohmann::json& r, const AdminPeer& p) { return OnAdmin(r, p); });
      } else if (registry_.FindConnection(fd) == nullptr) {
        continue;  // closed earlier in this batch
      } else if (ev & EPOLLIN) {
        OnReadable(fd);
      } else if (ev & (EPOLLHUP | EPOLLERR | EPOLLRDHUP)) {
        if (settings_.test_ignore_connection_close) {
          epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);  // test hook, as in OnReadable
        } else {
          CloseConnection(fd, "hung up");
        }
      }
    }
  }
  TearDown();
  TGS_LOG_INFO("stopped");
  return 0;
}

bool Daemon::SetUp() {
  signal(SIGPIPE, SIG_IGN);
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) {
    TGS_LOG_ERROR("epoll_create1 failed: %s", Errno().c_str());
    return false;
  }
  if (!OpenSignalFd() || !OpenStateDir()) return false;
  std::string board_error;
  board_ = state::BoardFile::Open(policy_.controller.state_dir, &board_error);
  if (board_ == nullptr) {
    TGS_LOG_ERROR("cannot set up the node board: %s", board_error.c_str());
    return false;
  }
  if (settings_.trust_claimed_ids) {
    TGS_LOG_WARN("--trust-claimed-ids: containers are named by the id their processes claim, so any process can "
                 "choose its policy; use this only for demos and benchmarks");
  }
  CountStart();
  std::string error;
  if (!overrides_.Load(policy_.controller.state_dir + "/" + kOverridesFileName, &error)) {
    TGS_LOG_ERROR("%s; tgsctl's saved changes are ignored (fix or remove the file)", error.c_str());
  }
  overrides_.DropInvalid(policy_);
  LoadGrants();
  RestoreContainers();
  if (!MakeDirs(ParentDir(policy_.controller.admin_socket), 0755, &error) ||
      !admin_.Open(policy_.controller.admin_socket, epoll_fd_, &error)) {
    TGS_LOG_ERROR("%s", error.c_str());
    return false;
  }
  // Metrics are an observer: a port that cannot be bound is reported, and
  // the GPUs are still arbitrated.
  const std::string& listen = policy_.controller.metrics_listen;
  if (!listen.empty()) {
    if (metrics_.Start(listen, &error)) {
      std::string host = listen.substr(0, listen.rfind(':'));
      TGS_LOG_INFO("metrics on http://%s:%d/metrics", host.c_str(), metrics_.port());
    } else {
      TGS_LOG_ERROR("%s; running without metrics (controller.metrics_listen, --metrics-listen)", error.c_str());
    }
  }
  StartNodeWatch();
  // The shims' socket accepts last, so whoever waits for it (tests, probes)
  // finds the grant sockets ready too.
  return OpenTimer() && OpenListeningSocket() && OpenGrantSockets() && StartListening();
}

void Daemon::TearDown() {
  if (listen_fd_ >= 0) {
    close(listen_fd_);
    listen_fd_ = -1;
    struct stat st;
    const std::string& path = policy_.controller.socket;
    if (lstat(path.c_str(), &st) == 0 && st.st_ino == socket_inode_) unlink(path.c_str());
  }
  // Connections are dropped without releasing slots: the processes are alive
  // and keep their memory; a restarted controller finds them in the files.
  for (int fd : registry_.ConnectionIds()) {
    if (Connection* conn = registry_.FindConnection(fd)) ForgetProductionProcess(*conn);
    registry_.RemoveConnection(fd);
    close(fd);
  }
  admin_.Close();
  grant_sockets_.CloseAll();
  for (int* fd : {&signal_fd_, &timer_fd_, &epoll_fd_}) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
  }
}

bool Daemon::OpenSignalFd() {
  sigset_t mask;
  sigemptyset(&mask);
  for (int s : {SIGHUP, SIGTERM, SIGINT}) sigaddset(&mask, s);
  if (sigprocmask(SIG_BLOCK, &mask, nullptr) != 0) {
    TGS_LOG_ERROR("cannot block signals: %s", Errno().c_str());
    return false;
  }
  signal_fd_ = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  epoll_event ev{EPOLLIN, {.fd = signal_fd_}};
  if (signal_fd_ < 0 || epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, signal_fd_, &ev) != 0) {
    TGS_LOG_ERROR("cannot set up signalfd: %s", Errno().c_str());
    return false;
  }
  return true;
}

bool Daemon::OpenTimer() {
  timer_fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  epoll_event ev{EPOLLIN, {.fd = timer_fd_}};
  if (timer_fd_ < 0 || epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, timer_fd_, &ev) != 0) {
    TGS_LOG_ERROR("cannot set up the control timer: %s", Errno().c_str());
    return false;
  }
  ArmTimer();
  return true;
}

void Daemon::ArmTimer() {
  long ms = policy_.control.interval_ms;
  itimerspec spec{};
  spec.it_interval.tv_sec = ms / 1000;
  spec.it_interval.tv_nsec = (ms % 1000) * 1000000L;
  spec.it_value = spec.it_interval;
  timerfd_settime(timer_fd_, 0, &spec, nullptr);
}

bool Daemon::OpenStateDir() {
  std::string error;
  // State files hold every container's accounting; containers get theirs as
  // a descriptor, so nobody else needs the directory.
  if (!MakeDirs(policy_.controller.state_dir, 0700, &error)) {
    TGS_LOG_ERROR("state directory: %s", error.c_str());
    return false;
  }
  return true;
}

bool Daemon::OpenListeningSocket() {
  const std::string& path = policy_.controller.socket;
  std::string error;
  if (!MakeDirs(ParentDir(path), 0755, &error)) {
    TGS_LOG_ERROR("socket directory: %s", error.c_str());
    return false;
  }
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    TGS_LOG_ERROR("socket path %s is too long", path.c_str());
    return false;
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  struct stat st;
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      TGS_LOG_ERROR("%s exists and is not a socket; not removing it", path.c_str());
      return false;
    }
    int probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    bool live = probe >= 0 && connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    if (probe >= 0) close(probe);
    if (live) {
      TGS_LOG_ERROR("another controller is listening on %s", path.c_str());
      return false;
    }
    TGS_LOG_INFO("removing stale socket %s", path.c_str());
    unlink(path.c_str());
  }
  listen_fd_ = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0 || bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    TGS_LOG_ERROR("cannot bind %s: %s", path.c_str(), Errno().c_str());
    return false;
  }
  if (lstat(path.c_str(), &st) == 0) socket_inode_ = st.st_ino;
  // Processes of every container connect, whatever user they run as.
  if (chmod(path.c_str(), 0666) != 0) {
    TGS_LOG_ERROR("cannot make %s reachable: %s", path.c_str(), Errno().c_str());
    return false;
  }
  epoll_event ev{EPOLLIN, {.fd = listen_fd_}};
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &ev) != 0) {
    TGS_LOG_ERROR("epoll_ctl failed: %s", Errno().c_str());
    return false;
  }
  return true;
}

bool Daemon::StartListening() {
  if (listen(listen_fd_, 128) != 0) {
    TGS_LOG_ERROR("cannot listen on %s: %s", policy_.controller.socket.c_str(), Errno().c_str());
    return false;
  }
  return true;
}

// State files outlive the controller. Re-opening them at start-up keeps
// every container's accounting, re-applies the (possibly changed) policy,
// and returns the memory of processes that died while no controller ran.
void Daemon::RestoreContainers() {
  const std::string& dir = policy_.controller.state_dir;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return;
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    if (std::string_view(e->d_name).starts_with("tgs-container-")) names.emplace_back(e->d_name);
  }
  closedir(d);
  for (const std::string& name : names) {
    std::string path = dir + "/" + name;
    int fd = open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    std::string error;
    auto peek = fd >= 0 ? state::StateFile::Adopt(fd, &error) : nullptr;
    if (peek == nullptr) {
      TGS_LOG_WARN("ignoring %s: %s", path.c_str(), fd < 0 ? Errno().c_str() : error.c_str());
      continue;
    }
    std::string key(peek->state().header.container_id,
                    strnlen(peek->state().header.container_id, state::kMaxContainerIdLength));
    peek.reset();
    std::string grant = key.starts_with(kAllocGrantPrefix) ? key : "";
    if (std::string cls = grants_.ClassBinding(key); !cls.empty()) grant = kClassGrantPrefix + cls;
    if (CgroupOfKey(key).empty() && grant.empty() &&
        !(settings_.trust_claimed_ids && key.starts_with(kClaimedKeyPrefix))) {
      TGS_LOG_INFO("leaving %s alone: container '%s' was not named by a controller", path.c_str(), key.c_str());
      continue;
    }
    Container* c = FindOrCreateContainer(key, grant, &error);
    if (c == nullptr) {
      TGS_LOG_WARN("ignoring %s: %s", path.c_str(), error.c_str());
      continue;
    }
    if (c->file->path() != path) {
      TGS_LOG_WARN("ignoring %s: it names container '%s', whose file is %s", path.c_str(), key.c_str(),
                   c->file->path().c_str());
      continue;
    }
    TGS_LOG_INFO("restored %s: %zu process slot(s) in use; %s", key.c_str(), OccupiedSlots(*c->file).size(),
                 Describe(c->policy).c_str());
  }
  ReclaimOrphanSlots();
  last_reclaim_ = std::chrono::steady_clock::now();
}

Container* Daemon::FindOrCreateContainer(const std::string& key, const std::string& grant, std::string* error) {
  if (Container* c = registry_.FindContainer(key)) return c;
  std::unique_ptr<state::StateFile> file = state::StateFile::Open(policy_.controller.state_dir, key, error);
  if (file == nullptr) return nullptr;
  Container& c = registry_.AddContainer(key, IdentityFor(key, grant), {}, std::move(file));
  c.grant = grant;
  c.policy = PolicyFor(c);
  ApplyLimits(c);
  return &c;
}

void Daemon::ApplyLimits(Container& c) {
  state::ContainerState& s = c.file->state();
  for (int g = 0; g < state::kMaxGpus; ++g) {
    if (!s.gpus[g].claimed.load(std::memory_order_acquire)) continue;
    if (c.file->LimitBytes(g) == c.policy.memory_limit_bytes) continue;
    TGS_LOG_INFO("%s: memory limit on %s %llu -> %llu bytes", c.key.c_str(), FormatGpuUuid(s.gpus[g].uuid).c_str(),
                 static_cast<unsigned long long>(c.file->LimitBytes(g)),
                 static_cast<unsigned long long>(c.policy.memory_limit_bytes));
    c.file->SetGpuLimit(g, c.policy.memory_limit_bytes);
  }
}

void Daemon::Accept(int listen_fd, const std::string& grant) {
  while (true) {
    int fd = accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED) {
        TGS_LOG_WARN("accept failed: %s", Errno().c_str());
        return;  // e.g. EMFILE: level-triggered epoll retries on the next event
      }
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;
    }
    if (registry_.connection_count() >= kMaxConnections) {
      TGS_LOG_WARN("refusing a connection: %zu clients already connected", registry_.connection_count());
      close(fd);
      continue;
    }
    epoll_event ev{EPOLLIN | EPOLLRDHUP, {.fd = fd}};
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
      TGS_LOG_WARN("epoll_ctl failed for a new connection: %s", Errno().c_str());
      close(fd);
      continue;
    }
    registry_.AddConnection(fd).grant = grant;
  }
}

void Daemon::OnReadable(int fd) {
  // One byte more than the largest message, so an oversized packet shows as
  // truncated rather than being cut to a valid size.
  constexpr size_t kLargest = std::max({sizeof(protocol::Hello), sizeof(protocol::Welcome),
                                        sizeof(protocol::Attached), sizeof(protocol::Reject)});
  alignas(8) uint8_t buffer[kLargest + 1];
  iovec iov{buffer, sizeof buffer};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
    CloseConnection(fd, ("receive failed: " + Errno()).c_str());
    return;
  }
  bool had_fds = false;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int received;
      std::memcpy(&received, CMSG_DATA(c) + i * sizeof(int), sizeof received);
      close(received);
      had_fds = true;
    }
  }
  if (n == 0) {
    if (settings_.test_ignore_connection_close) {
      // Test hook: the close goes unseen; only the node watch can notice the exit.
      epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
      return;
    }
    CloseConnection(fd, "closed");
    return;
  }
  if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
    CloseConnection(fd, "protocol violation: oversized packet");
    return;
  }
  if (had_fds) {
    CloseConnection(fd, "protocol violation: a client sent file descriptors");
    return;
  }
  std::string error;
  std::optional<protocol::Message> m = protocol::Decode(std::span<const uint8_t>(buffer, size_t(n)), &error);
  if (!m) {
    CloseConnection(fd, ("protocol violation: " + error).c_str());
    return;
  }
  if (auto* hello = std::get_if<protocol::Hello>(&*m)) {
    OnHello(fd, *hello);
  } else if (auto* attached = std::get_if<protocol::Attached>(&*m)) {
    OnAttached(fd, *attached);
  } else {
    CloseConnection(fd, "protocol violation: a client sent a controller's message");
  }
}

void Daemon::CloseConnection(int fd, const char* why) {
  Connection* conn = registry_.FindConnection(fd);
  if (conn == nullptr) return;
  std::string who = conn->pid ? "pid " + std::to_string(conn->pid) : "unregistered client";
  if (!conn->container_key.empty()) who += " of " + conn->container_key;
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  close(fd);
  if (conn->pid != 0) {
    unshimmed_.Departed(conn->pid, std::chrono::steady_clock::now());
    if (watch_ != nullptr) watch_->Unwatch(conn->pid);
  }
  bool violation = std::string_view(why).starts_with("protocol violation");
  ForgetProductionProcess(*conn);
  std::optional<SlotRelease> release = registry_.RemoveConnection(fd);
  if (!release) {
    if (violation) {
      TGS_LOG_WARN("%s: connection dropped (%s)", who.c_str(), why);
    } else {
      TGS_LOG_DEBUG("%s: connection %s", who.c_str(), why);
    }
    return;
  }
  // The connection's end is the process's end (or its breaking the
  // protocol): return its memory now instead of waiting for a survivor of
  // the container to notice.
  uint64_t bytes = 0;
  state::ProcessSlot& slot = release->container->file->state().processes[release->slot];
  for (int g = 0; g < state::kMaxGpus; ++g) bytes += slot.gpu[g].used_bytes;
  bool released = release->container->file->ReleaseProcessSlotIfOwned(release->slot, release->start_time);
  if (released) {
    TGS_LOG_INFO("%s: connection %s; released slot %d (%llu bytes)", who.c_str(), why, release->slot,
                 static_cast<unsigned long long>(bytes));
  } else {
    TGS_LOG_INFO("%s: connection %s; slot %d was already released by the process", who.c_str(), why,
                 release->slot);
  }
  if (violation) TGS_LOG_WARN("%s: connection dropped (%s)", who.c_str(), why);
}

void Daemon::ForgetProductionProcess(const Connection& conn) {
  for (int b : conn.production_board_gpus) {
    state::BoardGpu& g = board_->board().gpus[b];
    if (g.production_processes.fetch_sub(1, std::memory_order_relaxed) == 1) {
      // No production process is left on this GPU: whatever one of them left
      // raised (a crash with work in flight) must not hold opportunistic work.
      g.production_inflight.store(0, std::memory_order_release);
    }
  }
}

void Daemon::SendReject(int fd, int32_t code, const std::string& reason) {
  protocol::Reject reject{};
  protocol::Stamp(reject);
  reject.code = code;
  protocol::CopyString(reject.reason, reason);
  std::string error;
  if (!protocol::Send(fd, reject, -1, &error)) TGS_LOG_DEBUG("cannot send Reject: %s", error.c_str());
  CloseConnection(fd, ("rejected: " + reason).c_str());
}

void Daemon::OnHello(int fd, const protocol::Hello& hello) {
  Connection* conn = registry_.FindConnection(fd);
  if (conn->phase != Phase::kAwaitHello) {
    CloseConnection(fd, "protocol violation: a second Hello");
    return;
  }
  std::string error;
  std::optional<pid_t> pid = PeerPid(fd, &error);
  if (!pid) {
    SendReject(fd, CUDA_ERROR_NOT_PERMITTED, error);
    return;
  }
  // An allocation's socket names its container; otherwise the kernel's
  // cgroup of the peer does.
  std::string key = conn->grant.starts_with(kAllocGrantPrefix) ? conn->grant
                    : settings_.trust_claimed_ids && hello.claimed_container_id[0] != '\0'
                        ? std::string(kClaimedKeyPrefix) + hello.claimed_container_id
                        : ContainerKeyOfProcess(*pid, &error);
  if (key.empty()) {
    TGS_LOG_WARN("pid %d: %s", *pid, error.c_str());
    SendReject(fd, CUDA_ERROR_NOT_PERMITTED, error);
    return;
  }
  if (std::string why = CheckGrant(*conn, key, hello); !why.empty()) {
    TGS_LOG_WARN("pid %d of %s: %s", *pid, key.c_str(), why.c_str());
    SendReject(fd, CUDA_ERROR_NOT_PERMITTED, why);
    return;
  }
  TGS_LOG_DEBUG("pid %d (pid %u in its namespace) of %s says it is container '%s', class '%s', with %u GPU(s)", *pid,
                hello.pid, key.c_str(), hello.claimed_container_id, hello.claimed_class, hello.gpu_count);
  Container* c = FindOrCreateContainer(key, conn->grant, &error);
  if (c == nullptr) {
    TGS_LOG_ERROR("pid %d of %s: %s", *pid, key.c_str(), error.c_str());
    SendReject(fd, CUDA_ERROR_OPERATING_SYSTEM, "tgs-controller cannot open the container's state: " + error);
    return;
  }
  if (c->grant != conn->grant) BindGrant(*c, conn->grant);  // CheckGrant: no process uses the old one
  RememberClassGrant(*c);
  if (c->identity.cgroup.empty()) c->identity.cgroup = CgroupOfKey(ContainerKeyOfProcess(*pid, &error));
  // The claims are hints for operators: a mismatch means a misconfigured
  // (or lying) container, and the kernel's answer wins.
  std::string_view claimed_id = hello.claimed_container_id, claimed_class = hello.claimed_class;
  if (!claimed_id.empty() && claimed_id != key && claimed_id != c->identity.id) {
    TGS_LOG_WARN("pid %d claims container '%s' but its cgroup makes it %s; using %s", *pid, hello.claimed_container_id,
                 key.c_str(), key.c_str());
  }
  if (!claimed_class.empty() && claimed_class != c->policy.class_name) {
    TGS_LOG_WARN("pid %d of %s claims class '%s' but the policy gives it '%s'; using '%s'", *pid, key.c_str(),
                 hello.claimed_class, c->policy.class_name.c_str(), c->policy.class_name.c_str());
  }
  for (uint32_t i = 0; i < hello.gpu_count; ++i) {
    int g = c->file->FindGpu(hello.gpu_uuids[i]);
    if (g < 0) g = c->file->FindOrClaimGpu(hello.gpu_uuids[i], 0);
    if (g < 0) {
      SendReject(fd, CUDA_ERROR_OPERATING_SYSTEM,
                 "the state of " + key + " has no room for another GPU (" + FormatGpuUuid(hello.gpu_uuids[i]) + ")");
      return;
    }
  }
  ApplyLimits(*c);
  std::vector<int> board_gpus;
  for (uint32_t i = 0; i < hello.gpu_count; ++i) {
    int b = board_->FindOrClaimGpu(hello.gpu_uuids[i]);
    if (b >= 0) {
      board_->board().gpus[b].yield.store(policy_.control.yield_to_production ? 1 : 0, std::memory_order_relaxed);
      board_gpus.push_back(b);
    } else {
      TGS_LOG_WARN("the node board is full (%d GPUs); %s is not arbitrated", state::kBoardGpus,
                   FormatGpuUuid(hello.gpu_uuids[i]).c_str());
    }
  }

  protocol::Welcome welcome{};
  protocol::Stamp(welcome);
  welcome.class_kind = static_cast<uint32_t>(WireKind(c->policy.kind));
  welcome.weight = static_cast<uint32_t>(std::max(1, c->policy.weight));
  welcome.memory_limit_bytes = c->policy.memory_limit_bytes;
  protocol::CopyString(welcome.container_key, key);
  protocol::CopyString(welcome.class_name, c->policy.class_name);
  if (c->policy.oversubscribe && c->policy.kind == policy::Kind::kOpportunistic) {
    welcome.flags |= protocol::kWelcomeOversubscribe;
  }
  // SCM_RIGHTS duplicates the descriptor into the client; ours stays open.
  if (!protocol::Send(fd, welcome, c->file->fd(), &error, board_->fd())) {
    CloseConnection(fd, ("cannot send Welcome: " + error).c_str());
    return;
  }
  registry_.BindConnection(fd, *pid, key);
  unshimmed_.Registered(*pid, std::chrono::steady_clock::now());
  if (watch_ != nullptr) watch_->Watch(*pid);
  if (c->policy.kind == policy::Kind::kProduction) {
    for (int b : board_gpus) board_->board().gpus[b].production_processes.fetch_add(1, std::memory_order_relaxed);
    conn->production_board_gpus = std::move(board_gpus);
  }
  TGS_LOG_INFO("pid %d of %s registered: %s, %u GPU(s)", *pid, key.c_str(), Describe(c->policy).c_str(),
               hello.gpu_count);
}

void Daemon::OnAttached(int fd, const protocol::Attached& attached) {
  Connection* conn = registry_.FindConnection(fd);
  if (conn->phase != Phase::kAwaitAttached) {
    CloseConnection(fd, conn->phase == Phase::kAwaitHello ? "protocol violation: Attached before Hello"
                                                          : "protocol violation: a second Attached");
    return;
  }
  Container* c = registry_.FindContainer(conn->container_key);
  if (attached.slot >= static_cast<uint32_t>(state::kMaxProcesses)) {
    CloseConnection(fd, ("protocol violation: Attached names slot " + std::to_string(attached.slot)).c_str());
    return;
  }
  // Only the process's own slot: releasing it on close must never return
  // another process's memory.
  const state::ProcessSlot& slot = c->file->state().processes[attached.slot];
  uint64_t own_start = ProcessStartTime(conn->pid);
  if (slot.pid.load(std::memory_order_acquire) == 0 || slot.start_time != attached.start_time ||
      attached.start_time != own_start) {
    CloseConnection(fd, ("protocol violation: slot " + std::to_string(attached.slot) + " is not this process's")
                            .c_str());
    return;
  }
  if (!registry_.AttachConnection(fd, static_cast<int>(attached.slot), attached.start_time)) {
    CloseConnection(fd, ("protocol violation: slot " + std::to_string(attached.slot) + " is attached twice").c_str());
    return;
  }
  TGS_LOG_DEBUG("pid %d of %s attached to slot %u", conn->pid, c->key.c_str(), attached.slot);
}

void Daemon::OnSignal() {
  signalfd_siginfo info;
  while (read(signal_fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
    if (info.ssi_signo == SIGHUP) {
      Reload();
    } else {
      TGS_LOG_INFO("%s received; stopping", strsignal(static_cast<int>(info.ssi_signo)));
      stopping_ = true;
    }
  }
}

void Daemon::Reload() {
  TGS_LOG_INFO("SIGHUP: reloading %s", settings_.config_path.c_str());
  std::optional<policy::Policy> loaded = LoadConfiguredPolicy(settings_);
  if (!loaded) {
    ++failed_reloads_;
    TGS_LOG_ERROR("reload failed; keeping the policy loaded from %s", policy_.source.c_str());
    return;
  }
  ++reloads_;
  policy::Policy next = EffectivePolicy(std::move(*loaded));
  if (next.controller.socket != policy_.controller.socket ||
      next.controller.state_dir != policy_.controller.state_dir) {
    TGS_LOG_WARN("controller.socket and controller.state_dir take effect at restart; still %s and %s",
                 policy_.controller.socket.c_str(), policy_.controller.state_dir.c_str());
    next.controller.socket = policy_.controller.socket;
    next.controller.state_dir = policy_.controller.state_dir;
  }
  if (next.controller.admin_socket != policy_.controller.admin_socket ||
      next.controller.metrics_listen != policy_.controller.metrics_listen) {
    TGS_LOG_WARN("controller.admin_socket and controller.metrics_listen take effect at restart");
    next.controller.admin_socket = policy_.controller.admin_socket;
    next.controller.metrics_listen = policy_.controller.metrics_listen;
  }
  bool interval_changed = next.control.interval_ms != policy_.control.interval_ms;
  policy_ = std::move(next);
  if (interval_changed) ArmTimer();
  // The file is the truth again, except for what tgsctl was asked to keep.
  overrides_.DropTransient();
  overrides_.DropInvalid(policy_);
  SyncClassGrants();
  for (auto& [key, c] : registry_.containers()) {
    std::string cgroup = c.identity.cgroup;
    c.identity = IdentityFor(key, c.grant);
    if (c.identity.cgroup.empty()) c.identity.cgroup = cgroup;
    policy::ContainerPolicy p = PolicyFor(c);
    if (p.class_name != c.policy.class_name) {
      // Connected processes keep the class kind and weight they were
      // welcomed with (the protocol has no update message); limits below
      // apply at once through the state file.
      TGS_LOG_INFO("%s: class %s -> %s (%s); running processes keep their class until they restart", key.c_str(),
                   c.policy.class_name.c_str(), p.class_name.c_str(), p.MatchedBy().c_str());
    }
    c.policy = std::move(p);
    ApplyLimits(c);
  }
  TGS_LOG_INFO("policy reloaded from %s; %zu container(s) re-resolved", policy_.source.c_str(),
               registry_.containers().size());
}

// Slots without a connection belong to processes attached to an earlier
// controller, or that never reached one. Their owner's liveness is checked
// across PID namespaces (peer.h), so a containerised process's slot is never
// taken for dead just because its pid means something else on the host.
void Daemon::ReclaimOrphanSlots() {
  struct Candidate {
    Container* container;
    OccupiedSlot slot;
  };
  std::vector<Candidate> candidates;
  std::set<SlotOwner> wanted;
  for (auto& [key, c] : registry_.containers()) {
    std::set<int> attached = registry_.AttachedSlots(c);
    for (const OccupiedSlot& s : OccupiedSlots(*c.file)) {
      if (attached.count(s.index)) continue;
      if (ProcessStartTime(s.pid) == s.start_time) continue;  // alive in our own namespace
      candidates.push_back({&c, s});
      wanted.insert({s.pid, s.start_time});
    }
  }
  if (candidates.empty()) return;
  std::set<SlotOwner> live = LiveSlotOwners(wanted);
  for (const Candidate& cand : candidates) {
    if (live.count({cand.slot.pid, cand.slot.start_time})) continue;
    if (cand.container->file->ReleaseProcessSlotIfOwned(cand.slot.index, cand.slot.start_time)) {
      TGS_LOG_INFO("%s: process %d exited without releasing slot %d; its memory is returned",
                   cand.container->key.c_str(), cand.slot.pid, cand.slot.index);
    }
  }
}

void Daemon::OnTimer() {
  uint64_t expirations;
  if (read(timer_fd_, &expirations, sizeof expirations) != static_cast<ssize_t>(sizeof expirations)) return;
  auto now = std::chrono::steady_clock::now();
  if (now - last_reclaim_ >= kReclaimPeriod) {
    for (int fd : registry_.SilentSince(now - kHelloDeadline)) CloseConnection(fd, "no Hello within 5 s");
    ReclaimOrphanSlots();
    bool unbound = false;
    for (const std::string& key : registry_.EvictIdle()) {
      TGS_LOG_DEBUG("%s: no processes left; state file kept, mapping dropped", key.c_str());
      if (!grants_.ClassBinding(key).empty()) {
        grants_.UnbindClass(key);
        unbound = true;
      }
    }
    if (unbound) SaveGrants();
    last_reclaim_ = now;
  }
  RegistrySnapshot snapshot{now, &policy_.control, {}, &board_->board()};
  for (auto& [key, c] : registry_.containers()) {
    snapshot.containers.push_back({key, &c.policy, &c.identity, c.file.get(), static_cast<int>(c.connections.size()),
                                   static_cast<int>(OccupiedSlots(*c.file).size())});
  }
  control_loop_->OnInterval(snapshot);
  JudgeUnshimmed(now);
  PublishStatus(snapshot);
}

}  // namespace tgs::controller
