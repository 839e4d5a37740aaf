#include "tools/tgsctl/admin_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace tgs::tgsctl {

Reply Request(const std::string& socket_path, const nlohmann::json& request, int timeout_ms) {
  Reply reply;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof addr.sun_path) {
    reply.failure = Failure::kUnreachable;
    reply.error = "socket path " + socket_path + " is too long";
    return reply;
  }
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    if (fd >= 0) close(fd);
    reply.failure = err == EACCES || err == EPERM ? Failure::kDenied : Failure::kUnreachable;
    reply.error = std::strerror(err);
    return reply;
  }
  std::string text = request.dump() + "\n";
  if (send(fd, text.data(), text.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(text.size())) {
    reply.failure = Failure::kProtocol;
    reply.error = std::string("cannot send the request: ") + std::strerror(errno);
    close(fd);
    return reply;
  }
  std::string answer;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    int left = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count());
    pollfd p{fd, POLLIN, 0};
    if (left <= 0 || poll(&p, 1, left) <= 0) {
      reply.failure = Failure::kProtocol;
      reply.error = "no reply within " + std::to_string(timeout_ms) + " ms";
      close(fd);
      return reply;
    }
    char chunk[8192];
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n <= 0) break;
    answer.append(chunk, static_cast<size_t>(n));
  }
  close(fd);
  reply.body = nlohmann::json::parse(answer, nullptr, false);
  if (reply.body.is_discarded() || !reply.body.is_object() || !reply.body.contains("ok")) {
    reply.failure = Failure::kProtocol;
    reply.error = answer.empty() ? "the controller closed the connection without a reply"
                                 : "the controller's reply is not the expected JSON";
  }
  return reply;
}

}  // namespace tgs::tgsctl
