// The control loop tgs-controller runs every control.interval_ms: per GPU,
// production's launched blocks (from the containers' state files) and its
// activity (from the node board) go into a GpuRateControl (rate_control.h),
// and the rates it returns are written into the opportunistic containers'
// launch gates (shim/launch/launch_gate.h), together with the fallback rate
// the shims use if the controller goes away.
#pragma once

#include <chrono>
#include <map>
#include <string>

#include "controller/control/rate_control.h"
#include "controller/daemon/control_loop.h"
#include "controller/memory/memory_arbiter.h"

namespace tgs::controller {

class Arbiter : public ControlLoop {
 public:
  // Every `report_every` (0: never) one status line per active GPU is logged
  // at info; phase changes are logged always.
  explicit Arbiter(std::chrono::milliseconds report_every = std::chrono::milliseconds(0))
      : report_every_(report_every) {}

  void OnInterval(const RegistrySnapshot& snapshot) override;
  // Each GPU's phase and rates, each container's thrashing.
  void Report(const RegistrySnapshot& snapshot, NodeStatus* status) const override;

  // The status line of one GPU (exposed for tests and the demo).
  static std::string StatusLine(const std::string& gpu, const GpuStatus& status);

  // The loop of node-board entry `board_gpu`, or nullptr (for tests).
  const GpuRateControl* ForGpu(int board_gpu) const;
  const MemoryArbiter& memory() const { return memory_; }

 private:
  std::chrono::milliseconds report_every_;
  std::chrono::steady_clock::time_point last_report_{};
  std::map<int, GpuRateControl> gpus_;  // by node-board entry
  std::map<int, RatePhase> last_phase_;
  StatusReporter reporter_;
  MemoryArbiter memory_;  // resident budgets of oversubscribing containers
};

}  // namespace tgs::controller
