// What the kernel says about a process: the only source the controller trusts
// for a client's container (never the claims in its Hello).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>

namespace tgs::controller {

// The pid of the process at the other end of a connected Unix socket, in the
// controller's PID namespace (SO_PEERCRED). nullopt with `*error` when the
// kernel cannot say (the peer lives in a PID namespace we cannot see: 0).
std::optional<pid_t> PeerPid(int socket, std::string* error);

// The container key ("cgroup:<path>", shim/core/container_identity.h) of
// process `pid`, from /proc/<pid>/cgroup. Empty with `*error` when the process
// is gone or its cgroup cannot be read.
std::string ContainerKeyOfProcess(pid_t pid, std::string* error);

// The cgroup path in a key ("cgroup:/a/b" -> "/a/b"); empty for other keys.
std::string CgroupOfKey(std::string_view key);

// The last "NSpid:" entry of a /proc/<pid>/status text: the pid the process
// has in its own PID namespace (which is what the shim writes into its
// slot). 0 when the line is missing or malformed.
pid_t InnermostPidFromStatus(std::string_view status_text);

// A process as a state file's slot records it: the pid it sees for itself and
// its start time (immune to pid reuse).
using SlotOwner = std::pair<pid_t, uint64_t>;

// Which of `wanted` are live processes anywhere the controller can see,
// whatever PID namespace they sit in. A slot's pid is namespace-local, so
// "does /proc/<pid> exist with this start time" — the shim's own test, right
// inside the container — is wrong from the host for containerised processes;
// this matches on start time first and then on the innermost NSpid.
// Scans /proc (one stat read per process, a status read only on a start-time match).
std::set<SlotOwner> LiveSlotOwners(const std::set<SlotOwner>& wanted);

}  // namespace tgs::controller
