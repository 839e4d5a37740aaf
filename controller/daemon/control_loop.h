// The periodic seam of the controller. Every control.interval_ms the daemon
// (after its own housekeeping: reclaiming dead processes' memory, forgetting
// idle containers) hands a ControlLoop a snapshot of the registry.
//
// The launch-rate control (controller/control/arbiter.h) is the ControlLoop
// tgs-controller runs; StatusReporter is a minimal one for tests.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "controller/policy/policy.h"
#include "shim/state/node_board.h"
#include "shim/state/state_file.h"

namespace tgs::controller {

struct NodeStatus;  // controller/status/node_status.h

struct ContainerView {
  std::string key;
  const policy::ContainerPolicy* policy;
  const policy::ContainerIdentity* identity;  // labels from the integration (namespace, pod)
  state::StateFile* file;  // valid during the call only
  int connected_processes;
  int occupied_slots;
};

struct RegistrySnapshot {
  std::chrono::steady_clock::time_point now;
  const policy::ControlParams* control;
  std::vector<ContainerView> containers;
  state::NodeBoard* board = nullptr;  // production's state per GPU; valid during the call
};

class ControlLoop {
 public:
  virtual ~ControlLoop() = default;
  virtual void OnInterval(const RegistrySnapshot& snapshot) = 0;
  // Adds what only the loop knows to a status collected from the same
  // snapshot (controller/status/collect_status.h), right after OnInterval.
  virtual void Report(const RegistrySnapshot& snapshot, NodeStatus* status) const {
    (void)snapshot;
    (void)status;
  }
};

// Logs one line at debug per interval (containers, processes, bytes in use).
class StatusReporter : public ControlLoop {
 public:
  void OnInterval(const RegistrySnapshot& snapshot) override;
  // The line it logs (exposed for tests).
  static std::string StatusLine(const RegistrySnapshot& snapshot);

 private:
  std::string last_;  // logged only when it changes, so debug logs stay readable
};

}  // namespace tgs::controller
