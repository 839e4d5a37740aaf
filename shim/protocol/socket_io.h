// Sending and receiving one protocol message (and at most kMaxFds file
// descriptors) on a SOCK_SEQPACKET Unix socket. Shared by the shim and the
// controller so both sides frame messages identically.
#pragma once

#include <string>

#include "shim/protocol/messages.h"

namespace tgs::protocol {

inline constexpr int kMaxFds = 2;

// Sends `m`, with `fd` and `fd2` attached when >= 0. false with `*error` on failure.
bool Send(int socket, const Message& m, int fd, std::string* error, int fd2 = -1);

// Receives one message. `fds[i]` receives the i-th attached descriptor (or
// -1); descriptors beyond kMaxFds are closed. `timeout_ms` < 0 waits forever.
// nullopt with `*error` on timeout, EOF ("connection closed"), truncation or
// bad content (and every received descriptor closed).
std::optional<Message> ReceiveFds(int socket, int (&fds)[kMaxFds], int timeout_ms, std::string* error);
// The same, keeping only the first descriptor (`*fd`, or -1).
std::optional<Message> Receive(int socket, int* fd, int timeout_ms, std::string* error);

}  // namespace tgs::protocol
