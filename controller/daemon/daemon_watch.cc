// The daemon's use of the eBPF node watch (controller/watch/): start it if
// the privileges allow, release a registered process whose exit it reports
// (when the socket close was missed), and report — or, with
// `controller.unshimmed: kill`, kill — processes that use a GPU without the shim.
#include <signal.h>
#include <sys/epoll.h>

#include <climits>
#include <cstdlib>

#include <chrono>
#include <fstream>
#include <sstream>

#include "controller/daemon/daemon.h"
#include "shim/core/container_identity.h"
#include "shim/driver/library_search.h"
#include "shim/util/log.h"
#include "shim/util/process_start_time.h"

#include "controller/watch/node_watch.h"

namespace tgs::controller {
namespace {

// The cgroup that names a live process's container, as the controller's
// own container keys do (v2 path, or the v1 memory hierarchy's on hybrid
// hosts); "" when the process is gone.
std::string CgroupOf(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cgroup");
  std::stringstream text;
  text << in.rdbuf();
  if (text.str().empty()) return "";
  std::string id = ContainerIdFromCgroupText(text.str());
  return id.starts_with("cgroup:") ? id.substr(7) : id;
}

// The exit tracepoint fires before the kernel closes the process's files, so
// its socket close normally follows within microseconds: only a connection
// still open this long after the exit was really missed.
constexpr std::chrono::milliseconds kCloseGrace{200};

// The node's libcuda.so.1 as the loader would find it, never a TGS shim.
std::vector<std::string> DefaultDriverLibraries() {
  for (const std::string& path : CandidatePaths("libcuda.so.1")) {
    char real[4096];
    if (realpath(path.c_str(), real) == nullptr) continue;
    std::string r = real;
    if (r.find("libtgs") != std::string::npos) continue;
    return {r};
  }
  return {};
}

}  // namespace

void Daemon::StartNodeWatch() {
  if (!settings_.node_watch) {
    watch_state_ = "off (--node-watch off)";
    TGS_LOG_INFO("node watch: %s", watch_state_.c_str());
    return;
  }
  NodeWatchOptions options;
  if (!settings_.watch_devices.empty()) options.device_prefixes = settings_.watch_devices;
  if (settings_.watch_no_devices) options.device_prefixes.clear();
  options.driver_libraries = settings_.watch_drivers.empty() ? DefaultDriverLibraries() : settings_.watch_drivers;
  std::string why;
  watch_ = NodeWatch::Start(options, &why);
  if (watch_ == nullptr) {
    watch_state_ = "off: " + why;
    TGS_LOG_WARN("node watch is off, GPU use without the shim goes unnoticed: %s", why.c_str());
    return;
  }
  epoll_event ev{EPOLLIN, {.fd = watch_->fd()}};
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, watch_->fd(), &ev) != 0) {
    watch_state_ = "off: cannot poll its ring buffer";
    TGS_LOG_WARN("node watch is off: cannot add its ring buffer to epoll");
    watch_.reset();
    return;
  }
  // Processes that registered before this start (a restart) are watched too.
  for (int fd : registry_.ConnectionIds()) {
    if (Connection* c = registry_.FindConnection(fd); c != nullptr && c->pid != 0) watch_->Watch(c->pid);
  }
  watch_state_ = "on: " + watch_->description();
  TGS_LOG_INFO("node watch %s", watch_state_.c_str());
}

void Daemon::OnWatchEvents() {
  auto now = std::chrono::steady_clock::now();
  watch_->Drain([&](const WatchEvent& e) {
    if (e.kind != WatchEvent::Kind::kExit) {
      unshimmed_.GpuUse({e.pid, e.cgroup_id, e.comm, e.what, now});
      return;
    }
    unshimmed_.Exited(e.pid);
    unshimmed_now_.erase(e.pid);
    exited_[e.pid] = {now, e.comm};
  });
}

// A registered process is gone. Normally its socket close said so; if its
// connection is still open (a descriptor inherited by a child that lives on,
// a missed event), its memory is released here.
void Daemon::ReleaseExited(std::chrono::steady_clock::time_point now) {
  for (auto it = exited_.begin(); it != exited_.end();) {
    if (now - it->second.first < kCloseGrace) {
      ++it;
      continue;
    }
    for (int fd : registry_.ConnectionIds()) {
      Connection* c = registry_.FindConnection(fd);
      if (c == nullptr || c->pid != it->first) continue;
      ++exits_reclaimed_;
      TGS_LOG_WARN("pid %d (%s) exited but its connection stayed open; released on the node watch's exit event",
                   it->first, it->second.second.c_str());
      CloseConnection(fd, "ended: the process exited (seen by the node watch)");
    }
    it = exited_.erase(it);
  }
}

void Daemon::JudgeUnshimmed(std::chrono::steady_clock::time_point now) {
  ReleaseExited(now);
  for (const Suspect& s : unshimmed_.Due(now)) {
    UnshimmedProcess p;
    p.pid = s.pid;
    p.comm = s.comm;
    p.cgroup = CgroupOf(s.pid);
    p.cgroup_id = s.cgroup_id;
    p.what = s.what;
    p.since_seconds = UnixNow() - std::chrono::duration<double>(now - s.seen).count();
    ++unshimmed_detected_;
    std::string where = p.cgroup.empty() ? "cgroup id " + std::to_string(s.cgroup_id) : "cgroup " + p.cgroup;
    TGS_LOG_WARN("pid %d (%s) in %s uses the GPU without the TGS shim (%s): its memory and launches are not "
                 "limited; preload the shim in that container (/etc/ld.so.preload)",
                 s.pid, s.comm.c_str(), where.c_str(), s.what.c_str());
    if (policy_.controller.kill_unshimmed && ProcessStartTime(s.pid) != 0) {
      p.killed = kill(s.pid, SIGKILL) == 0;
      TGS_LOG_WARN("pid %d (%s) %s (controller.unshimmed: kill)", s.pid, s.comm.c_str(),
                   p.killed ? "killed" : "could not be killed");
    }
    if (watch_ != nullptr) watch_->Watch(s.pid);  // its exit clears the report
    unshimmed_now_[s.pid] = std::move(p);
  }
  // Also drop reports of processes that went away without an exit event.
  std::erase_if(unshimmed_now_, [](const auto& entry) { return ProcessStartTime(entry.first) == 0; });
}

void Daemon::ReportWatch(NodeStatus* status) const {
  NodeWatchReport& w = status->watch;
  w.enabled = watch_ != nullptr;
  w.detail = watch_state_;
  w.unshimmed_detected = unshimmed_detected_;
  w.exits_reclaimed = exits_reclaimed_;
  for (const auto& [pid, p] : unshimmed_now_) w.unshimmed.push_back(p);
}

}  // namespace tgs::controller
