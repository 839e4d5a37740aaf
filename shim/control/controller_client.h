// Registration of this process with tgs-controller. At cuInit the shim
// sends Hello with its GPUs and receives the container's policy and state
// file; from then on the kernel-launch path only reads shared memory and
// never talks to the daemon. The connection stays open so that the
// controller notices this process's exit at once; a watcher thread
// re-registers when the controller restarts.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "shim/protocol/messages.h"
#include "shim/state/node_board.h"
#include "shim/state/state_file.h"

namespace tgs::control {

struct Welcome {
  protocol::ClassKind kind = protocol::ClassKind::kOpportunistic;
  uint32_t weight = 1;
  uint64_t memory_limit_bytes = 0;
  bool oversubscribe = false;  // allocations become unified memory (shim/memory/residency.h)
  std::string container_key;
  std::string class_name;
};

enum class Outcome {
  kRegistered,   // *state and *welcome are set; the connection is kept
  kUnavailable,  // no controller listening: the shim accounts locally
  kRejected,     // the controller refuses this process the GPU
  kFailed,       // a controller answered wrongly: the shim accounts locally
};

struct Result {
  Outcome outcome = Outcome::kUnavailable;
  std::unique_ptr<state::StateFile> state;
  std::unique_ptr<state::BoardFile> board;  // the node board (production's state per GPU)
  Welcome welcome;
  int reject_code = 0;  // a CUresult, with kRejected
  std::string message;  // why, for the log
};

// Connects to `socket_path` and registers. `gpu_uuids` are the process's
// visible GPUs. Waits at most `timeout_ms` for the answer.
Result Register(const std::string& socket_path, const std::vector<std::array<uint8_t, 16>>& gpu_uuids,
                const std::string& claimed_container_id, int timeout_ms);

// Tells the controller which slot of the state file this process holds, and
// starts the watcher that re-registers (same state file, same slot) if the
// controller restarts. Call once after Register succeeded.
void CompleteRegistration(const std::string& socket_path, const std::vector<std::array<uint8_t, 16>>& gpu_uuids,
                          const std::string& claimed_container_id, int slot, uint64_t start_time,
                          const state::StateFile& state, const state::BoardFile* board);

// True while the controller is connected (false in local accounting, and
// while a restarted controller has not been reached yet).
bool ControllerConnected();

// In a forked child: drops the parent's connection so that the parent's
// exit still closes it.
void ForgetConnectionInChild();

}  // namespace tgs::control
