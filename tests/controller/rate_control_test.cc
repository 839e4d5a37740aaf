// The per-GPU launch-rate loop (controller/control/rate_control.h) and the
// arbiter's status line, driven with synthetic counters: no clock, no files,
// no GPU (label unit). Time advances by exactly one control interval (0.1 s)
// per Step().
#include "controller/control/rate_control.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "controller/control/arbiter.h"

namespace tgs::controller {
namespace {

constexpr double kDt = 0.1;  // seconds per Step, = ControlParams::interval_ms

// One GPU as the arbiter would see it. Production launches at a set rate;
// each opportunistic container wants `want` blocks/s and gets what its gate
// (the rate returned by the previous Step) lets through, counting a gate
// wait whenever the gate held it below what it wanted.
class Gpu {
 public:
  explicit Gpu(policy::ControlParams params = {}) : params_(params), control_(params) {}

  void AddOpportunistic(const std::string& key, int weight, double want) {
    opp_.push_back({key, weight, want, kUnlimited, 0});
    in_.opportunistic.push_back({key, weight, 0, 0});
  }

  // Production for the next step: `processes` registered, launching
  // `blocks_per_s` (0 = launching nothing, so its idle time grows).
  void Production(int processes, double blocks_per_s) {
    processes_ = processes;
    production_rate_ = blocks_per_s;
  }

  // One interval. `tweak`, when given, edits what this one Step sees (a
  // counter that dips, an exact idle time) without changing the simulation.
  GpuDecision Step(const std::function<void(GpuInput&)>& tweak = nullptr) {
    ++steps_;
    in_.now_s = kDt * steps_;  // never accumulated, so never drifts
    in_.production_processes = processes_;
    if (production_rate_ > 0) {
      production_blocks_ += production_rate_ * kDt;
      in_.production_idle_s = 0;
      idle_steps_ = 0;
    } else {
      ++idle_steps_;
      in_.production_idle_s = idle_steps_ * kDt;
    }
    in_.production_blocks = static_cast<uint64_t>(production_blocks_);
    // What each container offers (its gate allowing), and what the device
    // gives: offers in full while they fit its capacity, else an equal split
    // capped by each offer (the device interleaves backlogged streams).
    std::vector<double> offered;
    for (const Opp& o : opp_) offered.push_back(std::min(o.want, o.gate));
    std::vector<double> got = GpuRateControl::WaterFill(device_capacity_, std::vector<int>(opp_.size(), 1), offered);
    for (size_t i = 0; i < opp_.size(); ++i) {
      Opp& o = opp_[i];
      o.blocks += (device_capacity_ < kUnlimited ? got[i] : offered[i]) * kDt;
      in_.opportunistic[i].blocks = static_cast<uint64_t>(o.blocks);
      if (o.gate < o.want) ++in_.opportunistic[i].gate_waits;
    }
    if (tweak) {
      GpuInput in = in_;
      tweak(in);
      last_ = control_.Step(in);
    } else {
      last_ = control_.Step(in_);
    }
    for (size_t i = 0; i < opp_.size(); ++i) opp_[i].gate = last_.rates[i];
    return last_;
  }

  // Steps until the phase differs from `phase`; the number of steps taken,
  // or -1 if it stayed for `max_steps`.
  int StepWhile(RatePhase phase, int max_steps) {
    for (int i = 1; i <= max_steps; ++i) {
      Step();
      if (status().phase != phase) return i;
    }
    return -1;
  }

  // Steps until the phase is `phase`: the number of steps, or -1.
  int StepUntil(RatePhase phase, int max_steps) {
    for (int i = 1; i <= max_steps; ++i) {
      Step();
      if (status().phase == phase) return i;
    }
    return -1;
  }

  // Opportunistic blocks/s the device can run in all (default: no limit).
  void DeviceCapacity(double c) { device_capacity_ = c; }
  // Blocks/s opportunistic container `i` achieved over the last `steps` steps.
  double Achieved(size_t i, int steps) const {
    return (opp_[i].blocks - history_[history_.size() - 1 - steps][i]) / (steps * kDt);
  }
  void Record() {
    std::vector<double> b;
    for (const Opp& o : opp_) b.push_back(o.blocks);
    history_.push_back(b);
  }

  const GpuStatus& status() const { return control_.status(); }
  const GpuDecision& last() const { return last_; }
  GpuInput& input() { return in_; }
  const policy::ControlParams& params() const { return params_; }

 private:
  struct Opp {
    std::string key;
    int weight;
    double want;
    double gate;    // blocks/s admitted by the last decision
    double blocks;  // cumulative, fractional
  };
  policy::ControlParams params_;
  GpuRateControl control_;
  GpuInput in_;
  std::vector<Opp> opp_;
  GpuDecision last_;
  int steps_ = 0;
  int processes_ = 0;
  double production_rate_ = 0;
  double production_blocks_ = 0;
  int idle_steps_ = 0;
  double device_capacity_ = kUnlimited;
  std::vector<std::vector<double>> history_;
};

// Production arrives at `rate` blocks/s on a GPU with one greedy
// opportunistic container; returns once the reference is measured (slow start).
void ProfileProduction(Gpu& gpu, double rate) {
  gpu.Production(1, rate);
  ASSERT_GT(gpu.StepWhile(RatePhase::kProfiling, 20), 0) << "profiling never ended";
  ASSERT_EQ(gpu.status().phase, RatePhase::kSlowStart);
}

// --- WaterFill ---------------------------------------------------------------

TEST(WaterFillTest, UnlimitedDemandsSplitTheCapacityByWeight) {
  std::vector<double> r = GpuRateControl::WaterFill(600, {1, 2, 3}, {kUnlimited, kUnlimited, kUnlimited});
  ASSERT_EQ(r.size(), 3u);
  EXPECT_DOUBLE_EQ(r[0], 100);
  EXPECT_DOUBLE_EQ(r[1], 200);
  EXPECT_DOUBLE_EQ(r[2], 300);
}

TEST(WaterFillTest, SmallDemandIsMetAndTheRestSharedByWeight) {
  std::vector<double> r = GpuRateControl::WaterFill(600, {1, 2, 3}, {kUnlimited, 10, kUnlimited});
  ASSERT_EQ(r.size(), 3u);
  EXPECT_DOUBLE_EQ(r[1], 10);
  EXPECT_DOUBLE_EQ(r[0], 590.0 / 4);
  EXPECT_DOUBLE_EQ(r[2], 590.0 * 3 / 4);
  EXPECT_NEAR(r[0] + r[1] + r[2], 600, 1e-9);
}

TEST(WaterFillTest, DemandsThatCascadeAreAllMet) {
  // 90 fits container 0's share of 100 only once container 1 (demand 5) is
  // fixed and its unused share is redistributed.
  std::vector<double> r = GpuRateControl::WaterFill(200, {1, 1}, {kUnlimited, 5});
  EXPECT_DOUBLE_EQ(r[1], 5);
  EXPECT_DOUBLE_EQ(r[0], 195);
  r = GpuRateControl::WaterFill(300, {1, 1, 1}, {120, 5, kUnlimited});
  EXPECT_DOUBLE_EQ(r[1], 5);
  EXPECT_DOUBLE_EQ(r[0], 120);
  EXPECT_DOUBLE_EQ(r[2], 175);
}

TEST(WaterFillTest, WhenAllDemandsAreMetTheHeadroomIsSharedByWeight) {
  // Demands 30 and 40 of 1000: each gets its demand, and the 930 left over
  // is split 1:5 so that no gate sits below what the capacity allows.
  std::vector<double> r = GpuRateControl::WaterFill(1000, {1, 5}, {30, 40});
  ASSERT_EQ(r.size(), 2u);
  EXPECT_DOUBLE_EQ(r[0], 30 + 930.0 / 6);
  EXPECT_DOUBLE_EQ(r[1], 40 + 930.0 * 5 / 6);
  EXPECT_NEAR(r[0] + r[1], 1000, 1e-9);
}

TEST(WaterFillTest, NonPositiveWeightsCountAsOne) {
  std::vector<double> r = GpuRateControl::WaterFill(300, {0, -4, 1}, {kUnlimited, kUnlimited, kUnlimited});
  EXPECT_DOUBLE_EQ(r[0], 100);
  EXPECT_DOUBLE_EQ(r[1], 100);
  EXPECT_DOUBLE_EQ(r[2], 100);
}

TEST(WaterFillTest, ZeroOrNegativeCapacityGivesNothing) {
  for (double capacity : {0.0, -50.0}) {
    std::vector<double> r = GpuRateControl::WaterFill(capacity, {1, 2}, {kUnlimited, 10});
    ASSERT_EQ(r.size(), 2u);
    EXPECT_EQ(r[0], 0) << capacity;
    EXPECT_EQ(r[1], 0) << capacity;
  }
  EXPECT_TRUE(GpuRateControl::WaterFill(100, {}, {}).empty());
}

// --- No production -------------------------------------------------------------

TEST(RateControlTest, NoProductionLeavesASingleContainerOpen) {
  Gpu gpu;
  gpu.AddOpportunistic("a", 1, 1e6);
  for (int i = 0; i < 30; ++i) {
    GpuDecision d = gpu.Step();
    ASSERT_EQ(d.rates.size(), 1u);
    EXPECT_EQ(d.rates[0], kUnlimited) << "step " << i;
    EXPECT_EQ(gpu.status().phase, RatePhase::kOpen);
    EXPECT_EQ(gpu.status().limit, kUnlimited);
  }
  EXPECT_NEAR(gpu.status().opportunistic_rate, 1e6, 1e6 * 1e-3);
}

TEST(RateControlTest, NoProductionAndEqualWeightsLeaveAllOpen) {
  Gpu gpu;
  gpu.AddOpportunistic("a", 2, 1e6);
  gpu.AddOpportunistic("b", 2, 3e5);
  gpu.AddOpportunistic("c", 2, 5e4);
  for (int i = 0; i < 30; ++i) {
    GpuDecision d = gpu.Step();
    ASSERT_EQ(d.rates.size(), 3u);
    for (double r : d.rates) EXPECT_EQ(r, kUnlimited) << "step " << i;
    EXPECT_EQ(gpu.status().phase, RatePhase::kOpen);
  }
}

TEST(RateControlTest, NoProductionUnequalWeightsShareTheDeviceByWeight) {
  // Three greedy containers on a device that runs 30000 of their blocks/s:
  // left alone the device would split it equally; the gates make it 1:2:3
  // and still use (nearly) all of it.
  Gpu gpu;
  gpu.DeviceCapacity(30000);
  gpu.AddOpportunistic("w1", 1, 1e9);
  gpu.AddOpportunistic("w2", 2, 1e9);
  gpu.AddOpportunistic("w3", 3, 1e9);
  gpu.Record();
  for (int i = 0; i < 100; ++i) {
    gpu.Step();
    gpu.Record();
    EXPECT_EQ(gpu.status().phase, RatePhase::kOpen);
  }
  double a[3], total = 0;
  for (size_t i = 0; i < 3; ++i) total += a[i] = gpu.Achieved(i, 20);
  EXPECT_GT(total, 0.9 * 30000);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_NEAR(a[i] / total, (i + 1) / 6.0, 0.1 * (i + 1) / 6.0) << "container w" << i + 1;
    EXPECT_TRUE(std::isfinite(gpu.last().rates[i]));
  }
}

// Without production only the weights bind, and only while containers
// contend: two containers that together want far less than they could get
// (a GPU with nothing else on it) must each get what they want.
TEST(RateControlTest, NoProductionUnequalWeightsDoNotThrottleModestDemands) {
  Gpu gpu;
  gpu.AddOpportunistic("w1", 1, 10000);
  gpu.AddOpportunistic("w3", 3, 10000);
  for (int i = 0; i < 200; ++i) gpu.Step();
  EXPECT_EQ(gpu.status().phase, RatePhase::kOpen);
  EXPECT_GE(gpu.last().rates[0], 0.95 * 10000);
  EXPECT_GE(gpu.last().rates[1], 0.95 * 10000);
  EXPECT_GE(gpu.status().opportunistic_rate, 0.95 * 20000);
}

// --- Production: profiling, slow start, avoidance ----------------------------

TEST(RateControlTest, ProductionArrivalProfilesAtTheFloorThenSlowStarts) {
  Gpu gpu;
  gpu.AddOpportunistic("a", 1, 1e6);
  for (int i = 0; i < 5; ++i) gpu.Step();
  ASSERT_EQ(gpu.status().phase, RatePhase::kOpen);

  gpu.Production(1, 10000);
  GpuDecision d = gpu.Step();
  EXPECT_EQ(gpu.status().phase, RatePhase::kProfiling);
  EXPECT_LE(gpu.status().limit, 1.0);  // nothing measured yet: a trickle
  EXPECT_LE(d.rates[0], 1.0);

  int steps = 1;
  while (gpu.status().phase == RatePhase::kProfiling && steps < 20) {
    d = gpu.Step();
    ++steps;
    if (gpu.status().phase == RatePhase::kProfiling) {
      EXPECT_LE(d.rates[0], 1.0) << "step " << steps;
    }
  }
  // profile_ms = 500: five or six intervals after the first.
  EXPECT_GE(steps, 6);
  EXPECT_LE(steps, 7);
  ASSERT_EQ(gpu.status().phase, RatePhase::kSlowStart);
  EXPECT_NEAR(gpu.status().reference, 10000, 100);
  EXPECT_DOUBLE_EQ(gpu.status().limit, gpu.params().slow_start_initial * gpu.status().reference);
  EXPECT_NEAR(d.rates[0], gpu.status().limit, 1e-9);
}

TEST(RateControlTest, LimitGrowsWhileProductionKeepsItsReference) {
  Gpu gpu;
  gpu.AddOpportunistic("a", 1, 1e6);
  ProfileProduction(gpu, 10000);
  double initial = gpu.status().limit;
  double previous = initial;
  for (int i = 0; i < 20; ++i) {
    GpuDecision d = gpu.Step();
    EXPECT_GE(gpu.status().limit, previous * (1 - 1e-9)) << "step " << i;
    EXPECT_TRUE(std::isfinite(d.rates[0]));
    EXPECT_EQ(gpu.status().congested_intervals, 0);
    previous = gpu.status().limit;
  }
  EXPECT_TRUE(gpu.status().phase == RatePhase::kSlowStart || gpu.status().phase == RatePhase::kAvoidance);
  EXPECT_GT(gpu.status().limit, 4 * initial);
  EXPECT_NEAR(gpu.status().reference, 10000, 100);
}

TEST(RateControlTest, LimitIsCappedNearWhatOpportunisticUses) {
  // A container that only ever wants 300 blocks/s: L may not run away.
  Gpu gpu;
  gpu.AddOpportunistic("a", 1, 300);
  ProfileProduction(gpu, 10000);
  for (int i = 0; i < 50; ++i) gpu.Step();
  double r = gpu.status().reference;
  EXPECT_LE(gpu.status().limit,
            std::max(2 * 300.0, gpu.params().slow_start_initial * r) * 1.001);
  EXPECT_GE(gpu.status().limit, gpu.params().opportunistic_floor * r);
}

TEST(RateControlTest, CongestionDecreasesThenRestartsSlowStartThenReprofiles) {
  Gpu gpu;
  gpu.AddOpportunistic("a", 1, 1e6);
  ProfileProduction(gpu, 10000);
  for (int i = 0; i < 15; ++i) gpu.Step();
  double r = gpu.status().reference;
  double before = gpu.status().limit;
  ASSERT_GT(before, gpu.params().slow_start_initial * r);

  // Production at 90% of R: first a mild decrease (the 1 s window still holds
  // calm samples), then below restart_below (91%): slow start again.
  gpu.Production(1, 9000);
  bool decreased = false;
  bool restarted = false;
  int max_congested = 0;
  int steps = 0;
  for (; steps < 400 && gpu.status().phase != RatePhase::kProfiling; ++steps) {
    double previous = gpu.status().limit;
    RatePhase previous_phase = gpu.status().phase;
    gpu.Step();
    const GpuStatus& s = gpu.status();
    max_congested = std::max(max_congested, s.congested_intervals);
    if (s.phase == RatePhase::kAvoidance && s.limit < previous) decreased = true;
    if (s.phase == RatePhase::kSlowStart && previous_phase != RatePhase::kSlowStart) {
      EXPECT_TRUE(decreased) << "the restart came before any decrease";
      restarted = true;
      EXPECT_NEAR(s.limit, gpu.params().slow_start_initial * s.reference, 1e-6);
    }
    if (s.phase != RatePhase::kProfiling) {
      EXPECT_GE(s.limit, gpu.params().opportunistic_floor * s.reference * (1 - 1e-9));
    }
  }
  EXPECT_TRUE(decreased);
  EXPECT_TRUE(restarted);
  ASSERT_EQ(gpu.status().phase, RatePhase::kProfiling) << "no reprofile after " << steps << " steps";
  EXPECT_EQ(max_congested, gpu.params().reprofile_after - 1);
  // R is kept while re-measuring, so the limit is the floor, not the trickle.
  EXPECT_NEAR(gpu.status().limit, gpu.params().opportunistic_floor * r, r * 1e-3);
  EXPECT_EQ(gpu.status().congested_intervals, 0);

  // The new measurement is production's new speed.
  ASSERT_GT(gpu.StepWhile(RatePhase::kProfiling, 20), 0);
  EXPECT_EQ(gpu.status().phase, RatePhase::kSlowStart);
  EXPECT_NEAR(gpu.status().reference, 9000, 90);
}

TEST(RateControlTest, ReprofileAfterIsHonoured) {
  policy::ControlParams p;
  p.reprofile_after = 2;
  Gpu gpu(p);
  gpu.AddOpportunistic("a", 1, 1e6);
  ProfileProduction(gpu, 10000);
  for (int i = 0; i < 10; ++i) gpu.Step();
  gpu.Production(1, 5000);  // far below restart_below: every judgement is congested
  int seen = 0;
  for (int i = 0; i < 50 && gpu.status().phase != RatePhase::kProfiling; ++i) {
    gpu.Step();
    seen = std::max(seen, gpu.status().congested_intervals);
  }
  EXPECT_EQ(gpu.status().phase, RatePhase::kProfiling);
  EXPECT_EQ(seen, 1);
}

// --- Production idle ---------------------------------------------------------------

TEST(RateControlTest, IdleProductionOpensTheGatesAndResumesAtTheLastLimit) {
  Gpu gpu;
  gpu.AddOpportunistic("a", 1, 1e6);
  ProfileProduction(gpu, 10000);
  for (int i = 0; i < 10; ++i) gpu.Step();

  gpu.Production(1, 0);  // registered, launching nothing
  double limit_before_idle = gpu.status().limit;
  int steps = 0;
  while (gpu.status().phase != RatePhase::kIdle && steps < 20) {
    limit_before_idle = gpu.status().limit;
    gpu.Step();
    ++steps;
    if (gpu.status().phase != RatePhase::kIdle) {
      EXPECT_LT(gpu.input().production_idle_s * 1000, gpu.params().idle_release_ms) << "still not idle";
    }
  }
  ASSERT_EQ(gpu.status().phase, RatePhase::kIdle);
  EXPECT_GE(gpu.input().production_idle_s * 1000, gpu.params().idle_release_ms);
  EXPECT_LE(gpu.input().production_idle_s * 1000, gpu.params().idle_release_ms + 100.5);
  EXPECT_EQ(gpu.status().limit, kUnlimited);
  EXPECT_EQ(gpu.last().rates[0], kUnlimited);
  for (int i = 0; i < 20; ++i) {
    GpuDecision d = gpu.Step();
    EXPECT_EQ(gpu.status().phase, RatePhase::kIdle);
    EXPECT_EQ(d.rates[0], kUnlimited);
  }

  gpu.Production(1, 10000);
  GpuDecision d = gpu.Step();
  EXPECT_EQ(gpu.status().phase, RatePhase::kAvoidance);
  EXPECT_DOUBLE_EQ(gpu.status().limit, limit_before_idle);
  EXPECT_TRUE(std::isfinite(d.rates[0]));
  EXPECT_LE(d.rates[0], limit_before_idle * (1 + 1e-9));
}

TEST(RateControlTest, IdleExactlyAtIdleReleaseMs) {
  Gpu gpu;
  gpu.AddOpportunistic("a", 1, 1e6);
  ProfileProduction(gpu, 10000);
  for (int i = 0; i < 5; ++i) gpu.Step();
  ASSERT_NE(gpu.status().phase, RatePhase::kIdle);
  double limit = gpu.status().limit;
  const double release_s = gpu.params().idle_release_ms / 1000.0;
  // Idle for exactly idle_release_ms.
  gpu.Production(1, 0);
  GpuDecision d = gpu.Step([&](GpuInput& in) { in.production_idle_s = release_s; });
  EXPECT_EQ(gpu.status().phase, RatePhase::kIdle);
  EXPECT_EQ(gpu.status().limit, kUnlimited);
  EXPECT_EQ(d.rates[0], kUnlimited);
  // Its last launch just under idle_release_ms ago: active again, avoidance
  // at the previous limit.
  gpu.Production(1, 10000);
  gpu.Step([&](GpuInput& in) { in.production_idle_s = release_s - 0.001; });
  EXPECT_EQ(gpu.status().phase, RatePhase::kAvoidance);
  EXPECT_DOUBLE_EQ(gpu.status().limit, limit);
}

// A production process that is still idle just under idle_release_ms is active.
TEST(RateControlTest, IdleJustUnderIdleReleaseMsIsActive) {
  Gpu gpu;
  gpu.AddOpportunistic("a", 1, 1e6);
  ProfileProduction(gpu, 10000);
  const double release_s = gpu.params().idle_release_ms / 1000.0;
  gpu.Step([&](GpuInput& in) { in.production_idle_s = release_s - 0.001; });
  EXPECT_NE(gpu.status().phase, RatePhase::kIdle);
  EXPECT_LT(gpu.status().limit, kUnlimited);
}

TEST(RateControlTest, ProductionRegisteredButIdleIsNotMeasuredAsZero) {
  Gpu gpu;
  gpu.AddOpportunistic("a", 1, 1e6);
  gpu.Step();
  gpu.Production(1, 0);  // cuInit done, nothing launched yet
  gpu.Step();
  EXPECT_EQ(gpu.status().phase, RatePhase::kProfiling);
  ASSERT_GT(gpu.StepWhile(RatePhase::kProfiling, 20), 0);
  EXPECT_EQ(gpu.status().phase, RatePhase::kIdle);
  EXPECT_EQ(gpu.status().reference, 0);
  EXPECT_EQ(gpu.last().rates[0], kUnlimited);
  // It starts launching: now R is measured.
  gpu.Production(1, 8000);
  gpu.Step();
  EXPECT_EQ(gpu.status().phase, RatePhase::kProfiling);
  ASSERT_GT(gpu.StepWhile(RatePhase::kProfiling, 20), 0);
  EXPECT_EQ(gpu.status().phase, RatePhase::kSlowStart);
  EXPECT_NEAR(gpu.status().reference, 8000, 80);
}

// A production process that registers while an earlier production's R is
// known, and spends its profiling window idle (loading a model), must not
// get an unlimited opportunistic neighbour once it starts launching.
TEST(RateControlTest, ProductionLaunchingAfterAnIdleReprofileIsNotLeftUnprotected) {
  Gpu gpu;
  gpu.AddOpportunistic("a", 1, 1e6);
  ProfileProduction(gpu, 10000);
  for (int i = 0; i < 10; ++i) gpu.Step();
  // The first production job ends...
  gpu.Production(0, 0);
  gpu.Step();
  ASSERT_EQ(gpu.status().phase, RatePhase::kOpen);
  // ...a second one registers and launches nothing during its profile.
  gpu.Production(1, 0);
  gpu.Step();
  ASSERT_EQ(gpu.status().phase, RatePhase::kProfiling);
  ASSERT_GT(gpu.StepWhile(RatePhase::kProfiling, 20), 0);
  ASSERT_EQ(gpu.status().phase, RatePhase::kIdle);
  for (int i = 0; i < 5; ++i) gpu.Step();
  // It starts launching.
  gpu.Production(1, 20000);
  GpuDecision d = gpu.Step();
  EXPECT_LT(gpu.status().limit, kUnlimited) << "phase " << RatePhaseName(gpu.status().phase);
  EXPECT_TRUE(std::isfinite(d.rates[0]));
}

// --- Fallback rates ------------------------------------------------------------------

TEST(RateControlTest, FallbackRatesAreAShareOfTheReferenceByWeight) {
  Gpu gpu;
  gpu.AddOpportunistic("w1", 1, 1e6);
  gpu.AddOpportunistic("w2", 2, 1e6);
  gpu.AddOpportunistic("w3", 3, 1e6);
  ProfileProduction(gpu, 10000);
  GpuDecision d = gpu.Step();
  double r = gpu.status().reference;
  double share = gpu.params().fallback_opportunistic_share;
  ASSERT_EQ(d.fallback_rates.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_NEAR(d.fallback_rates[i], share * r * (i + 1) / 6.0, 1e-9) << i;
  }
  EXPECT_NEAR(d.fallback_rates[0], 1000.0 / 6, 10.0 / 6);
}

TEST(RateControlTest, FallbackWithoutReferenceUsesOpportunisticUseOrIsOpen) {
  policy::ControlParams p;
  p.fallback_opportunistic_share = 0.5;
  Gpu gpu(p);
  gpu.AddOpportunistic("a", 1, 0);  // launches nothing
  GpuDecision d = gpu.Step();
  ASSERT_EQ(d.fallback_rates.size(), 1u);
  EXPECT_EQ(d.fallback_rates[0], kUnlimited);

  Gpu busy(p);
  busy.AddOpportunistic("a", 1, 10000);
  busy.AddOpportunistic("b", 3, 10000);
  for (int i = 0; i < 30; ++i) d = busy.Step();
  double used = busy.status().opportunistic_rate;
  EXPECT_GT(used, 10000);
  EXPECT_NEAR(d.fallback_rates[0], 0.5 * used * 1 / 4, 1e-9);
  EXPECT_NEAR(d.fallback_rates[1], 0.5 * used * 3 / 4, 1e-9);
}

// --- Counters that dip while a process slot is retired -------------------------

TEST(RateControlTest, ProductionCounterDipDoesNotMakeABogusRate) {
  Gpu gpu;
  gpu.AddOpportunistic("a", 1, 1e6);
  gpu.Production(1, 10000);
  gpu.Step();
  ASSERT_EQ(gpu.status().phase, RatePhase::kProfiling);
  gpu.Step();
  // One interval during profiling in which a retiring slot's 3000 blocks are
  // missing from the sum (the next one has them again, as retired blocks).
  gpu.Step([](GpuInput& in) { in.production_blocks -= 3000; });
  ASSERT_GT(gpu.StepWhile(RatePhase::kProfiling, 20), 0);
  ASSERT_EQ(gpu.status().phase, RatePhase::kSlowStart);
  double r = gpu.status().reference;
  EXPECT_NEAR(r, 10000, 100);

  // And one in slow start, of more than everything in the judging window.
  for (int i = 0; i < 5; ++i) gpu.Step();
  ASSERT_GT(gpu.input().production_blocks, 10500u);
  gpu.Step([](GpuInput& in) { in.production_blocks -= 10500; });
  EXPECT_LT(gpu.status().production_rate, 3 * r);
  for (int i = 0; i < 15; ++i) {
    gpu.Step();
    EXPECT_LT(gpu.status().production_rate, 3 * r) << "step " << i;
    EXPECT_LT(gpu.status().reference, 1.5 * r) << "step " << i;
    EXPECT_NE(gpu.status().phase, RatePhase::kProfiling) << "step " << i;
  }
}

// The interval in which the counter dipped carries no launches of its own
// (the next one carries them twice): that is no evidence of congestion.
TEST(RateControlTest, ProductionCounterDipIsNotCongestion) {
  Gpu gpu;
  gpu.AddOpportunistic("a", 1, 1e6);
  ProfileProduction(gpu, 10000);
  for (int i = 0; i < 15; ++i) gpu.Step();
  ASSERT_EQ(gpu.status().congested_intervals, 0);
  double limit = gpu.status().limit;
  gpu.Step([](GpuInput& in) { in.production_blocks -= 2000; });
  EXPECT_EQ(gpu.status().congested_intervals, 0);
  EXPECT_GE(gpu.status().limit, limit);
  for (int i = 0; i < 5; ++i) {
    gpu.Step();
    EXPECT_EQ(gpu.status().congested_intervals, 0) << "step " << i;
    EXPECT_GE(gpu.status().limit, limit) << "step " << i;
  }
}

TEST(RateControlTest, OpportunisticCounterDipDoesNotMakeABogusRate) {
  Gpu gpu;
  gpu.AddOpportunistic("a", 1, 10000);
  for (int i = 0; i < 20; ++i) gpu.Step();
  ASSERT_NEAR(gpu.status().opportunistic_rate, 10000, 10);
  // One interval in which a retiring slot's 15000 blocks are missing...
  ASSERT_GT(gpu.input().opportunistic[0].blocks, 16000u);
  gpu.Step([](GpuInput& in) { in.opportunistic[0].blocks -= 15000; });
  EXPECT_LT(gpu.status().opportunistic_rate, 20000);
  // ...and the next, in which they are back (as retired blocks).
  gpu.Step();
  EXPECT_LT(gpu.status().opportunistic_rate, 20000);
}

// --- Arbiter status line ---------------------------------------------------------

TEST(ArbiterTest, StatusLine) {
  GpuStatus open;
  open.opportunistic_rate = 1234.4;
  EXPECT_EQ(Arbiter::StatusLine("GPU-x", open), "GPU-x: open; opportunistic limit unlimited blocks/s, using 1234");

  GpuStatus s;
  s.phase = RatePhase::kAvoidance;
  s.reference = 10000;
  s.production_rate = 9700;
  s.limit = 500.4;
  s.opportunistic_rate = 250;
  EXPECT_EQ(Arbiter::StatusLine("GPU-x", s),
            "GPU-x: avoidance; production 9700 blocks/s, reference 10000 (97.0%); "
            "opportunistic limit 500 blocks/s, using 250");

  s.phase = RatePhase::kProfiling;
  s.reference = 0;
  s.production_rate = 0;
  s.limit = 1;
  EXPECT_EQ(Arbiter::StatusLine("g", s),
            "g: profiling; production 0 blocks/s, reference 0 (0.0%); opportunistic limit 1 blocks/s, using 250");
}

TEST(ArbiterTest, PhaseNames) {
  EXPECT_STREQ(RatePhaseName(RatePhase::kOpen), "open");
  EXPECT_STREQ(RatePhaseName(RatePhase::kProfiling), "profiling");
  EXPECT_STREQ(RatePhaseName(RatePhase::kSlowStart), "slow-start");
  EXPECT_STREQ(RatePhaseName(RatePhase::kAvoidance), "avoidance");
  EXPECT_STREQ(RatePhaseName(RatePhase::kIdle), "production-idle");
}

}  // namespace
}  // namespace tgs::controller
