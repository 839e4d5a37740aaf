#include "controller/grants/grant_sockets.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "controller/daemon/fs_paths.h"
#include "controller/grants/grant.h"
#include "shim/util/log.h"

namespace tgs::controller {
namespace {

constexpr char kSocketName[] = "tgs.sock";

std::string Errno() { return std::strerror(errno); }

// "class/<name>" or "alloc/<id>" for a well-formed grant; "" otherwise.
std::string RelativeDir(const std::string& grant) {
  if (grant.starts_with(kClassGrantPrefix)) {
    std::string name = grant.substr(sizeof kClassGrantPrefix - 1);
    if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..") return "";
    return "class/" + name;
  }
  if (grant.starts_with(kAllocGrantPrefix)) {
    std::string id = grant.substr(sizeof kAllocGrantPrefix - 1);
    return IsAllocationId(id) ? "alloc/" + id : "";
  }
  return "";
}

void RemoveDir(const std::string& dir) {
  unlink((dir + "/" + kSocketName).c_str());
  if (rmdir(dir.c_str()) != 0 && errno != ENOENT) {
    TGS_LOG_WARN("cannot remove %s: %s", dir.c_str(), Errno().c_str());
  }
}

}  // namespace

bool GrantSockets::Open(const std::string& grant_dir, int epoll_fd, std::string* error) {
  grant_dir_ = grant_dir;
  epoll_fd_ = epoll_fd;
  if (!MakeDirs(grant_dir, 0700, error)) return false;
  // An existing directory keeps whatever mode it had; this one must not
  // let other users reach the class sockets.
  if (chmod(grant_dir.c_str(), 0700) != 0) {
    *error = "cannot make " + grant_dir + " root-only: " + Errno();
    return false;
  }
  return MakeDirs(grant_dir + "/class", 0755, error) && MakeDirs(grant_dir + "/alloc", 0755, error);
}

bool GrantSockets::Add(const std::string& grant, std::string* error) {
  if (listeners_.contains(grant)) return true;
  std::string rel = RelativeDir(grant);
  if (rel.empty()) {
    *error = "'" + grant + "' is not a grant name";
    return false;
  }
  std::string dir = grant_dir_ + "/" + rel;
  if (!MakeDirs(dir, 0755, error)) return false;
  Listener l;
  l.dir_fd = open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (l.dir_fd < 0) {
    *error = "cannot open " + dir + ": " + Errno();
    return false;
  }
  // A socket left by an earlier controller (or a crash) is replaced; only
  // a non-socket is refused, since it is not ours to delete.
  struct stat st;
  if (fstatat(l.dir_fd, kSocketName, &st, AT_SYMLINK_NOFOLLOW) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      *error = dir + "/" + kSocketName + " exists and is not a socket; not removing it";
      close(l.dir_fd);
      return false;
    }
    unlinkat(l.dir_fd, kSocketName, 0);
  }
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "/proc/self/fd/%d/%s", l.dir_fd, kSocketName);
  l.fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  // Processes of any user in the container connect.
  if (l.fd < 0 || bind(l.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      fchmodat(l.dir_fd, kSocketName, 0666, 0) != 0 || listen(l.fd, 128) != 0) {
    *error = "cannot listen on " + dir + "/" + kSocketName + ": " + Errno();
    Close(l);
    return false;
  }
  epoll_event ev{EPOLLIN, {.fd = l.fd}};
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, l.fd, &ev) != 0) {
    *error = "epoll_ctl failed for " + dir + ": " + Errno();
    Close(l);
    return false;
  }
  by_fd_[l.fd] = grant;
  listeners_[grant] = l;
  return true;
}

void GrantSockets::Close(Listener& l) {
  if (l.fd >= 0) {
    if (epoll_fd_ >= 0) epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, l.fd, nullptr);
    by_fd_.erase(l.fd);
    close(l.fd);
    if (l.dir_fd >= 0) unlinkat(l.dir_fd, kSocketName, 0);
  }
  if (l.dir_fd >= 0) close(l.dir_fd);
  l.fd = l.dir_fd = -1;
}

void GrantSockets::Remove(const std::string& grant) {
  auto it = listeners_.find(grant);
  if (it != listeners_.end()) {
    Close(it->second);
    listeners_.erase(it);
  }
  std::string rel = RelativeDir(grant);
  if (!rel.empty() && !grant_dir_.empty()) RemoveDir(grant_dir_ + "/" + rel);
}

void GrantSockets::RemoveStale(const std::vector<std::string>& keep) {
  for (const char* kind : {"class", "alloc"}) {
    std::string parent = grant_dir_ + "/" + kind;
    DIR* d = opendir(parent.c_str());
    if (d == nullptr) continue;
    std::vector<std::string> stale;
    while (dirent* e = readdir(d)) {
      std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      std::string grant = std::string(kind) + ":" + name;
      if (std::find(keep.begin(), keep.end(), grant) == keep.end()) stale.push_back(parent + "/" + name);
    }
    closedir(d);
    for (const std::string& dir : stale) {
      TGS_LOG_INFO("removing %s: its grant is gone", dir.c_str());
      RemoveDir(dir);
    }
  }
}

const std::string* GrantSockets::GrantOf(int fd) const {
  auto it = by_fd_.find(fd);
  return it == by_fd_.end() ? nullptr : &it->second;
}

bool GrantSockets::Listening(const std::string& grant) const { return listeners_.contains(grant); }

std::vector<std::string> GrantSockets::Grants() const {
  std::vector<std::string> out;
  for (const auto& [grant, l] : listeners_) out.push_back(grant);
  return out;
}

std::string GrantSockets::DirectoryOf(const std::string& grant) const {
  std::string rel = RelativeDir(grant);
  return rel.empty() ? "" : grant_dir_ + "/" + rel;
}

void GrantSockets::CloseAll() {
  for (auto& [grant, l] : listeners_) Close(l);
  listeners_.clear();
  by_fd_.clear();
}

}  // namespace tgs::controller
