// Sending and receiving one protocol message (and at most one file
// descriptor) on a SOCK_SEQPACKET Unix socket. Shared by the shim and the
// controller so both sides frame messages identically.
#pragma once

#include <string>

#include "shim/protocol/messages.h"

namespace tgs::protocol {

// Sends `m`, with `fd` attached when fd >= 0. false with `*error` on failure.
bool Send(int socket, const Message& m, int fd, std::string* error);

// Receives one message. `*fd` receives an attached descriptor (or -1); extra
// descriptors are closed. `timeout_ms` < 0 waits forever. nullopt with
// `*error` on timeout, EOF ("connection closed"), truncation or bad content.
std::optional<Message> Receive(int socket, int* fd, int timeout_ms, std::string* error);

}  // namespace tgs::protocol
