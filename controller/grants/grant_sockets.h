// The listening sockets of the grants (grant.h), one directory each:
//   <grant_dir>/class/<class>/tgs.sock
//   <grant_dir>/alloc/<id>/tgs.sock
// Containers get the *directory* bind-mounted at /run/tgs, so a directory
// lives as long as its grant, across controller restarts: a restarted
// controller binds a new socket in the same directory, which the containers'
// mounts show. <grant_dir> itself is root-only (0700), so no host user can
// reach a class socket it was not given; a bind mount of a subdirectory does
// not need the parent's permissions.
//
// Sockets are bound through /proc/self/fd/<dir>/tgs.sock, so the length of
// a grant's path (class names are up to 63 bytes) never meets sun_path's 108.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace tgs::controller {

class GrantSockets {
 public:
  GrantSockets() = default;
  ~GrantSockets() { CloseAll(); }
  GrantSockets(const GrantSockets&) = delete;
  GrantSockets& operator=(const GrantSockets&) = delete;

  // Creates <grant_dir> (0700) with class/ and alloc/ in it. False with `*error`.
  bool Open(const std::string& grant_dir, int epoll_fd, std::string* error);

  // Listens for `grant` ("class:<name>" or "alloc:<id>"); a grant already
  // listening is left alone. False with `*error`.
  bool Add(const std::string& grant, std::string* error);
  // Stops listening and removes the grant's socket and directory.
  void Remove(const std::string& grant);
  // Directories under class/ and alloc/ whose grant is not in `keep`
  // (left by revoked grants or removed classes) are removed.
  void RemoveStale(const std::vector<std::string>& keep);

  // The grant whose listening socket `fd` is; nullptr for any other fd.
  const std::string* GrantOf(int fd) const;
  bool Listening(const std::string& grant) const;
  std::vector<std::string> Grants() const;
  std::string DirectoryOf(const std::string& grant) const;
  const std::string& grant_dir() const { return grant_dir_; }

  // Closes every listening socket and unlinks it; directories stay for the
  // next controller (containers have them mounted).
  void CloseAll();

 private:
  struct Listener {
    int fd = -1;
    int dir_fd = -1;  // O_PATH, for binding and unlinking by a short path
  };
  void Close(Listener& l);

  std::string grant_dir_;
  int epoll_fd_ = -1;
  std::map<std::string, Listener> listeners_;  // by grant
  std::map<int, std::string> by_fd_;
};

}  // namespace tgs::controller
