#include "shim/protocol/socket_io.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace tgs::protocol {

bool Send(int socket, const Message& m, int fd, std::string* error, int fd2) {
  const void* data = nullptr;
  size_t size = 0;
  std::visit(
      [&](const auto& msg) {
        data = &msg;
        size = sizeof msg;
      },
      m);
  iovec iov{const_cast<void*>(data), size};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  int fds[kMaxFds];
  int count = 0;
  for (int f : {fd, fd2}) {
    if (f >= 0) fds[count++] = f;
  }
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof fds)];
  if (count > 0) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * count);
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * count);
    std::memcpy(CMSG_DATA(c), fds, sizeof(int) * count);
  }
  ssize_t n;
  do {
    n = sendmsg(socket, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(size)) {
    *error = std::string("send failed: ") + (n < 0 ? std::strerror(errno) : "short write");
    return false;
  }
  return true;
}

std::optional<Message> ReceiveFds(int socket, int (&fds)[kMaxFds], int timeout_ms, std::string* error) {
  for (int& f : fds) f = -1;
  pollfd p{socket, POLLIN, 0};
  int ready;
  do {
    ready = poll(&p, 1, timeout_ms);
  } while (ready < 0 && errno == EINTR);
  if (ready == 0) {
    *error = "timed out waiting for a message";
    return std::nullopt;
  }
  if (ready < 0) {
    *error = std::string("poll failed: ") + std::strerror(errno);
    return std::nullopt;
  }
  // One byte more than the largest message, so an oversized packet shows as
  // truncated instead of being silently cut to a valid size.
  alignas(8) uint8_t buffer[sizeof(Hello) > sizeof(Welcome) ? sizeof(Hello) + 1 : sizeof(Welcome) + 1];
  iovec iov{buffer, sizeof buffer};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)];
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = recvmsg(socket, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    *error = std::string("receive failed: ") + std::strerror(errno);
    return std::nullopt;
  }
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int received;
      std::memcpy(&received, CMSG_DATA(c) + i * sizeof(int), sizeof received);
      int* free_slot = nullptr;
      for (int& f : fds) {
        if (f < 0) {
          free_slot = &f;
          break;
        }
      }
      if (free_slot != nullptr) {
        *free_slot = received;
      } else {
        close(received);
      }
    }
  }
  auto fail = [&](std::string why) -> std::optional<Message> {
    for (int& f : fds) {
      if (f >= 0) close(f);
      f = -1;
    }
    *error = std::move(why);
    return std::nullopt;
  };
  if (n == 0) return fail("connection closed");
  if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) return fail("message truncated");
  auto m = Decode(std::span<const uint8_t>(buffer, static_cast<size_t>(n)), error);
  if (!m) return fail(*error);
  return m;
}

std::optional<Message> Receive(int socket, int* fd, int timeout_ms, std::string* error) {
  int fds[kMaxFds];
  auto m = ReceiveFds(socket, fds, timeout_ms, error);
  *fd = fds[0];
  for (int i = 1; i < kMaxFds; ++i) {
    if (fds[i] >= 0) close(fds[i]);
  }
  return m;
}

}  // namespace tgs::protocol
