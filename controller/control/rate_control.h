// Where the opportunistic launch rate of one GPU is decided. Pure logic, no
// I/O: the arbiter (arbiter.h) feeds it counters every control interval and
// writes the rates it returns into the containers' launch gates. Unit-tested
// in tests/controller/rate_control_test.cc.
//
// The loop (parameters: config/README.md, "control"):
//   open        no production process on the GPU: gates open (only weights
//               among several opportunistic containers are enforced).
//   profiling   production arrived (or its reference went stale): the
//               opportunistic rate is held at its floor for profile_ms while
//               production's unimpeded rate R (blocks/s) is measured.
//   slow start  L = slow_start_initial*R, times slow_start_growth per calm
//               interval, up to the threshold of the last congestion.
//   avoidance   L += additive_increase*R per calm interval; on congestion
//               (production's rate over the last second below
//               production_target*R) L *= decrease_factor, or back to slow
//               start below restart_below*R; reprofile_after congested
//               intervals in a row re-measure R.
//   idle        production launched nothing for idle_release_ms: gates open
//               until it launches again (then avoidance resumes at the last L).
// Production's first protection is not this loop but the shims' yield on
// the node board (shim/launch/yield_to_production.h): this loop bounds how
// often an opportunistic kernel can still be in production's way.
#pragma once

#include <cstdint>
#include <deque>
#include <limits>
#include <string>
#include <vector>

#include "controller/policy/policy.h"

namespace tgs::controller {

inline constexpr double kUnlimited = std::numeric_limits<double>::infinity();

enum class RatePhase { kOpen, kProfiling, kSlowStart, kAvoidance, kIdle };
const char* RatePhaseName(RatePhase p);

struct OpportunisticInput {
  std::string key;
  int weight = 1;
  uint64_t blocks = 0;      // cumulative launched blocks (all its processes)
  uint64_t gate_waits = 0;  // cumulative launches that waited at the rate gate
  bool backlogged = false;  // launches are queued at its gate right now
};

struct GpuInput {
  double now_s = 0;  // monotonic seconds
  int production_processes = 0;
  // Production's cumulative launched blocks (node board) and the instant of
  // its latest launch, read together: rates are measured between launch
  // instants, not sampling instants.
  uint64_t production_blocks = 0;
  double production_last_launch_s = 0;
  double production_idle_s = 0;  // since production's last launch
  std::vector<OpportunisticInput> opportunistic;
};

struct GpuDecision {
  // Per opportunistic input, in order: blocks/s its gate admits
  // (kUnlimited = open), and the rate for when the controller is lost.
  std::vector<double> rates;
  std::vector<double> fallback_rates;
};

// What the loop knows, for logs and status.
struct GpuStatus {
  RatePhase phase = RatePhase::kOpen;
  double reference = 0;          // R: production's unimpeded blocks/s (0 = not measured)
  double production_rate = 0;    // over the judging window
  double limit = kUnlimited;     // L: total opportunistic blocks/s
  double opportunistic_rate = 0; // observed total
  int congested_intervals = 0;
};

class GpuRateControl {
 public:
  explicit GpuRateControl(const policy::ControlParams& params) : params_(params) {}
  void set_params(const policy::ControlParams& params) { params_ = params; }

  GpuDecision Step(const GpuInput& in);
  const GpuStatus& status() const { return status_; }

  // Weighted max-min share of `capacity` among containers with these weights
  // and demands (kUnlimited: wants all it can get). Exposed for tests.
  static std::vector<double> WaterFill(double capacity, const std::vector<int>& weights,
                                       const std::vector<double>& demands);

 private:
  struct Sample {
    double t;
    uint64_t blocks;
  };
  struct OppHistory {
    uint64_t blocks = 0;
    uint64_t gate_waits = 0;
    double rate = 0;  // smoothed blocks/s
    bool seen = false;
  };

  void StartProfile(double now);
  double ProductionRateSince(double since, double now, double* span) const;
  void Judge(double now);
  std::vector<double> Split(const GpuInput& in, std::vector<bool>* constrained);

  policy::ControlParams params_;
  GpuStatus status_;
  std::deque<Sample> window_;  // production's cumulative blocks, newest last
  double profile_start_ = 0;
  uint64_t profile_blocks_ = 0;
  double last_change_ = 0;     // when L was last decreased (judging starts after it)
  double threshold_ = kUnlimited;  // slow start ends here
  double resume_limit_ = kUnlimited;  // L when production went idle
  double last_used_ = 0;  // opportunistic blocks/s at the previous split
  bool profile_pending_ = false;      // went idle while profiling: measure when it starts
  double last_now_ = 0;
  std::vector<std::pair<std::string, OppHistory>> opp_;  // by key
};

}  // namespace tgs::controller
