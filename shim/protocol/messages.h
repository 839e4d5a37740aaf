// The wire protocol between a shimmed process and tgs-controller, over a Unix
// SOCK_SEQPACKET socket (one message per packet, so boundaries are kept and a
// truncated packet is detectable). Version 2. Fixed-size little-endian
// structs; every decoder checks magic, version, type and exact size, and that
// strings are NUL-terminated, so a malformed or hostile packet is rejected
// with a reason instead of being trusted.
//
//   shim                                    controller
//   Hello {claims, GPUs}          ---->     identity from SO_PEERCRED + /proc/<pid>/cgroup
//                                 <----     Welcome {policy} + SCM_RIGHTS: the container's state file
//                                           and the node board (shim/state/node_board.h)
//   (maps the file, claims a process slot)
//   Attached {slot, start time}   ---->     remembers the slot of this connection
//   ... connection stays open; its close tells the controller the process is gone.
//   Reject {reason}               <----     instead of Welcome, when the process may not use the GPU.
//
// Claims in Hello (container id, class) are hints for logs: the controller
// decides the container and policy from what the kernel says about the peer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>

namespace tgs::protocol {

inline constexpr uint32_t kMagic = 0x31534754;  // "TGS1"
inline constexpr uint16_t kVersion = 3;  // 2: Welcome carries the node board too; 3: Welcome flags
inline constexpr int kMaxGpus = 16;
inline constexpr size_t kIdLength = 256;
inline constexpr size_t kClassLength = 32;
inline constexpr size_t kReasonLength = 256;

enum class MessageType : uint16_t { kHello = 1, kWelcome = 2, kAttached = 3, kReject = 4 };
enum class ClassKind : uint32_t { kProduction = 0, kOpportunistic = 1 };
// Welcome::flags.
inline constexpr uint32_t kWelcomeOversubscribe = 1u << 0;  // allocations become unified memory
inline constexpr uint32_t kWelcomeKnownFlags = kWelcomeOversubscribe;

struct Header {
  uint32_t magic;
  uint16_t version;
  uint16_t type;
  uint32_t size;  // of the whole message, header included
  uint32_t reserved;
};

struct Hello {
  Header header;
  uint32_t pid;        // as the client sees itself (its PID namespace)
  uint32_t gpu_count;  // entries of gpu_uuids in use
  uint8_t gpu_uuids[kMaxGpus][16];
  char claimed_container_id[kIdLength];  // TGS_CONTAINER_ID, may be empty; never trusted
  char claimed_class[kClassLength];      // may be empty; never trusted
};

struct Welcome {
  Header header;
  uint32_t class_kind;  // ClassKind
  uint32_t weight;      // among opportunistic containers of a GPU; >= 1
  uint64_t memory_limit_bytes;  // per GPU; 0 = none
  char container_key[kIdLength];  // the controller's name for the container
  char class_name[kClassLength];
  uint32_t flags;  // kWelcome*; unknown bits are refused
  uint32_t reserved;
  // Ancillary data: two fds, the container state file (shim/state/container_state.h)
  // and the node board (shim/state/node_board.h).
};

struct Attached {
  Header header;
  uint32_t slot;         // index of this process's slot in the state file
  uint32_t reserved;
  uint64_t start_time;   // the slot's start_time, so a reused slot is not released
};

struct Reject {
  Header header;
  int32_t code;  // a CUresult the shim returns from cuInit (e.g. CUDA_ERROR_NOT_PERMITTED)
  uint32_t reserved;
  char reason[kReasonLength];
};

using Message = std::variant<Hello, Welcome, Attached, Reject>;

// Fills the header of `m` (magic, version, type, size).
void Stamp(Hello& m);
void Stamp(Welcome& m);
void Stamp(Attached& m);
void Stamp(Reject& m);

// Copies `text` into a fixed field, truncating, always NUL-terminated.
template <size_t N>
void CopyString(char (&field)[N], std::string_view text) {
  size_t n = text.size() < N - 1 ? text.size() : N - 1;
  for (size_t i = 0; i < N; ++i) field[i] = i < n ? text[i] : '\0';
}

// Decodes one packet. nullopt with `*error` naming what is wrong ("size 12,
// expected 312 for Hello", "claimed_class is not NUL-terminated", ...).
std::optional<Message> Decode(std::span<const uint8_t> packet, std::string* error);

}  // namespace tgs::protocol
