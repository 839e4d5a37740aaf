#include "controller/admin/admin_server.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>

namespace tgs::controller {
namespace {

std::string Errno() { return std::strerror(errno); }

}  // namespace

bool AdminServer::Open(const std::string& path, int epoll_fd, std::string* error) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    *error = "admin socket path " + path + " is too long";
    return false;
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  struct stat st;
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      *error = path + " exists and is not a socket; not removing it";
      return false;
    }
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool live = probe >= 0 && connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    if (probe >= 0) close(probe);
    if (live) {
      *error = "another controller serves the admin socket " + path;
      return false;
    }
    unlink(path.c_str());
  }
  listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  // Created 0600 from the start: no window in which others could connect.
  mode_t old = umask(0177);
  bool bound = listen_fd_ >= 0 && bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  umask(old);
  if (!bound || listen(listen_fd_, 16) != 0) {
    *error = "cannot listen on the admin socket " + path + ": " + Errno();
    Close();
    return false;
  }
  if (lstat(path.c_str(), &st) == 0) inode_ = st.st_ino;
  path_ = path;
  epoll_fd_ = epoll_fd;
  epoll_event ev{EPOLLIN, {.fd = listen_fd_}};
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &ev) != 0) {
    *error = "epoll_ctl failed for the admin socket: " + Errno();
    Close();
    return false;
  }
  return true;
}

void AdminServer::Close() {
  for (auto& [fd, buffer] : clients_) close(fd);
  clients_.clear();
  if (listen_fd_ >= 0) {
    close(listen_fd_);
    listen_fd_ = -1;
    struct stat st;
    if (!path_.empty() && lstat(path_.c_str(), &st) == 0 && st.st_ino == inode_) unlink(path_.c_str());
  }
}

void AdminServer::Accept() {
  for (;;) {
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    if (clients_.size() >= kMaxClients) {
      close(fd);
      continue;
    }
    epoll_event ev{EPOLLIN | EPOLLRDHUP, {.fd = fd}};
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
      close(fd);
      continue;
    }
    clients_[fd];
  }
}

void AdminServer::Drop(int fd) {
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  close(fd);
  clients_.erase(fd);
}

void AdminServer::Reply(int fd, const nlohmann::json& reply) {
  std::string text = reply.dump() + "\n";
  int flags = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  timeval timeout{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = send(fd, text.data() + off, text.size() - off, MSG_NOSIGNAL);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  Drop(fd);
}

void AdminServer::OnEvent(int fd, uint32_t events, const Handler& handler) {
  if (fd == listen_fd_) {
    Accept();
    return;
  }
  auto it = clients_.find(fd);
  if (it == clients_.end()) return;
  std::string& buffer = it->second;
  char chunk[4096];
  for (;;) {
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n > 0) {
      buffer.append(chunk, static_cast<size_t>(n));
      if (buffer.size() > kMaxRequestBytes) {
        Reply(fd, {{"ok", false}, {"error", "request larger than 64 KiB"}});
        return;
      }
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (buffer.find('\n') == std::string::npos) {  // closed before a whole request
      Drop(fd);
      return;
    }
    break;
  }
  size_t end = buffer.find('\n');
  if (end == std::string::npos) {
    if (events & (EPOLLHUP | EPOLLERR)) Drop(fd);
    return;
  }
  ucred cred{};
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    Drop(fd);
    return;
  }
  if (cred.uid != 0 && cred.uid != geteuid()) {
    Reply(fd, {{"ok", false}, {"error", "permission denied: the admin socket is for root (uid " +
                                            std::to_string(cred.uid) + " is not)"}});
    return;
  }
  nlohmann::json request = nlohmann::json::parse(buffer.substr(0, end), nullptr, false);
  if (request.is_discarded() || !request.is_object()) {
    Reply(fd, {{"ok", false}, {"error", "the request is not a JSON object on one line"}});
    return;
  }
  Reply(fd, handler(request, AdminPeer{cred.pid, cred.uid}));
}

}  // namespace tgs::controller
