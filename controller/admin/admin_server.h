// The controller's admin endpoint, behind `tgsctl`: a Unix stream socket
// (controller.admin_socket) that only root — or the controller's own user —
// can reach. The file is mode 0600 and every request is checked against the
// peer's SO_PEERCRED uid as well, so a process inside a container, which
// reaches the shims' socket, cannot change policy here.
//
// Protocol: the client sends one JSON object on one line, e.g.
//   {"command": "status"}
//   {"command": "set", "container": "id:train", "weight": 3, "persist": true}
// and gets one JSON line back — {"ok": true, ...} or {"ok": false, "error":
// "..."} — after which the server closes the connection. The socket is in
// the daemon's epoll set; nothing here blocks the event loop on a client
// except writing a reply (bounded by a 2 s send timeout).
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

namespace tgs::controller {

struct AdminPeer {
  pid_t pid = 0;
  uid_t uid = 0;
};

class AdminServer {
 public:
  static constexpr size_t kMaxRequestBytes = 64 * 1024;
  static constexpr size_t kMaxClients = 16;
  using Handler = std::function<nlohmann::json(const nlohmann::json& request, const AdminPeer& peer)>;

  AdminServer() = default;
  ~AdminServer() { Close(); }
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Binds `path` (replacing a stale socket, refusing a live one or a
  // non-socket) and adds it to `epoll_fd`. False with `*error`.
  bool Open(const std::string& path, int epoll_fd, std::string* error);
  void Close();

  // Whether `fd` is the admin socket or one of its clients.
  bool Owns(int fd) const { return fd == listen_fd_ || clients_.contains(fd); }
  void OnEvent(int fd, uint32_t events, const Handler& handler);

 private:
  void Accept();
  void Reply(int fd, const nlohmann::json& reply);
  void Drop(int fd);

  std::string path_;
  int listen_fd_ = -1;
  int epoll_fd_ = -1;
  ino_t inode_ = 0;
  std::map<int, std::string> clients_;  // fd -> request bytes so far
};

}  // namespace tgs::controller
