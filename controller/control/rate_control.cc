#include "controller/control/rate_control.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace tgs::controller {
namespace {

// Production's rate is judged over the last second: a DL iteration is tens of
// milliseconds, so a 100 ms interval holds too few of them to see 3%.
constexpr double kWindowS = 1.0;
// After L changed, this much fresh evidence before judging again.
constexpr double kMinJudgeS = 0.5;
// Scheduling jitter tolerated in production's launch gaps.
constexpr double kStallSlackS = 0.02;
// Reference creep when production runs faster than R (it sped up, or R was
// measured low).
constexpr double kReferenceCreep = 0.1;
// Headroom over what an unthrottled container uses, so that it can grow.
constexpr double kDemandHeadroom = 1.2;
// With unequal weights, the total the gates admit may exceed what was used
// by this much per interval: small, since the container that is not held at
// its gate absorbs the excess and the weights would not bind.
constexpr double kProbeGrowth = 1.05;
// ... and while their use still grows by more than kGrowing per interval.
constexpr double kProbeFast = 2.0;
constexpr double kGrowing = 1.1;
// The smallest total the probe shares when no production reference sizes it.
constexpr double kProbeFloor = 1000;
// Opportunistic blocks/s while production is profiled and R is unknown.
constexpr double kTrickle = 1.0;

}  // namespace

const char* RatePhaseName(RatePhase p) {
  switch (p) {
    case RatePhase::kOpen: return "open";
    case RatePhase::kProfiling: return "profiling";
    case RatePhase::kSlowStart: return "slow-start";
    case RatePhase::kAvoidance: return "avoidance";
    case RatePhase::kIdle: return "production-idle";
  }
  return "?";
}

std::vector<double> GpuRateControl::WaterFill(double capacity, const std::vector<int>& weights,
                                              const std::vector<double>& demands) {
  size_t n = weights.size();
  std::vector<double> out(n, 0);
  std::vector<bool> fixed(n, false);
  double remaining = std::max(0.0, capacity);
  for (;;) {
    double w = 0;
    for (size_t i = 0; i < n; ++i) {
      if (!fixed[i]) w += std::max(1, weights[i]);
    }
    if (w == 0) {
      // Everyone's demand is met: what is left is headroom, shared by weight,
      // so no gate sits below what the capacity allows.
      double all = 0;
      for (size_t i = 0; i < n; ++i) all += std::max(1, weights[i]);
      for (size_t i = 0; i < n && all > 0 && remaining > 0; ++i) out[i] += remaining * std::max(1, weights[i]) / all;
      break;
    }
    bool changed = false;
    for (size_t i = 0; i < n; ++i) {
      if (fixed[i]) continue;
      double share = remaining * std::max(1, weights[i]) / w;
      if (demands[i] < share) {
        out[i] = demands[i];
        fixed[i] = true;
        remaining -= demands[i];
        changed = true;
      }
    }
    if (!changed) {
      for (size_t i = 0; i < n; ++i) {
        if (!fixed[i]) out[i] = remaining * std::max(1, weights[i]) / w;
      }
      break;
    }
  }
  return out;
}

void GpuRateControl::StartProfile(double now) {
  status_.phase = RatePhase::kProfiling;
  profile_pending_ = false;
  profile_start_ = now;
  profile_blocks_ = window_.empty() ? 0 : window_.back().blocks;
  status_.limit = status_.reference > 0 ? params_.opportunistic_floor * status_.reference : kTrickle;
  status_.congested_intervals = 0;
  threshold_ = kUnlimited;
}

double GpuRateControl::ProductionRateSince(double since, double now, double* span) const {
  *span = 0;
  if (window_.empty()) return 0;
  // The oldest sample at or after `since`.
  const Sample* first = nullptr;
  for (const Sample& s : window_) {
    if (s.t >= since - 1e-9) {
      first = &s;
      break;
    }
  }
  const Sample& last = window_.back();
  if (first == nullptr || last.t <= first->t) return 0;
  // Evidence: the time between the launches compared; a production that
  // has stopped launching meanwhile (stalled behind other work, or done)
  // shows as the time since its last launch.
  *span = last.t - first->t;
  double stalled = now - last.t;
  double rate = static_cast<double>(last.blocks - first->blocks) / (last.t - first->t);
  // Quiet longer than its usual launch gap (but not yet idle): count the
  // quiet time, so a stall behind opportunistic work is seen before production resumes.
  double per_gap = (last.t - first->t) / std::max<size_t>(1, window_.size() - 1);
  if (stalled > 2 * per_gap + kStallSlackS) rate *= (last.t - first->t) / (last.t - first->t + stalled);
  return rate;
}

void GpuRateControl::Judge(double now) {
  double span = 0;
  double p = ProductionRateSince(std::max(now - kWindowS, last_change_), now, &span);
  status_.production_rate = p;
  if (span < kMinJudgeS) return;
  double r = status_.reference;
  double& l = status_.limit;
  if (p >= params_.production_target * r) {
    status_.congested_intervals = 0;
    if (p > r) status_.reference = r + kReferenceCreep * (p - r);
    if (status_.phase == RatePhase::kSlowStart) {
      l *= params_.slow_start_growth;
      if (l >= threshold_) {
        l = threshold_;
        status_.phase = RatePhase::kAvoidance;
      }
    } else {
      l += params_.additive_increase * r;
    }
  } else {
    ++status_.congested_intervals;
    if (p < params_.restart_below * r) {
      threshold_ = std::max(l / 2, params_.opportunistic_floor * r);
      l = params_.slow_start_initial * r;
      status_.phase = RatePhase::kSlowStart;
    } else {
      l *= params_.decrease_factor;
      threshold_ = l;
      status_.phase = RatePhase::kAvoidance;
    }
    last_change_ = now;
    if (status_.congested_intervals >= params_.reprofile_after) {
      StartProfile(now);
      return;
    }
  }
  // No growth far beyond what opportunistic work uses: a limit it never
  // reaches would take many decreases to matter once it does.
  double ceiling = std::max(2 * status_.opportunistic_rate, params_.slow_start_initial * r);
  l = std::clamp(l, params_.opportunistic_floor * r, std::max(ceiling, params_.opportunistic_floor * r));
}

std::vector<double> GpuRateControl::Split(const GpuInput& in, std::vector<bool>* constrained) {
  size_t n = in.opportunistic.size();
  std::vector<int> weights(n);
  std::vector<double> demands(n);
  double used = 0;
  bool equal = true;
  for (size_t i = 0; i < n; ++i) {
    weights[i] = std::max(1, in.opportunistic[i].weight);
    equal = equal && weights[i] == weights[0];
    const OppHistory& h = opp_[i].second;
    demands[i] = (*constrained)[i] ? kUnlimited : std::max(h.rate, kTrickle);
    used += h.rate;
  }
  double capacity = status_.limit;
  // Equal weights: the device's own interleaving is already fair, and the
  // limit (if any) is simply split. Unequal weights bind only if the gates
  // together admit little more than the device gives them, so the capacity
  // shared is what they use plus a probe, never more than L.
  if (!(n <= 1 || equal || used <= 0)) {
    // While what they use keeps growing, the probe doubles (slow start);
    // once it levels off the device is saturated and the weights bind.
    // Never below a floor: the gates themselves hold "used" down, so a probe
    // from (nearly) nothing would never get going.
    double growth = used > kGrowing * last_used_ ? kProbeFast : kProbeGrowth;
    double floor = status_.reference > 0 ? params_.slow_start_initial * status_.reference : kProbeFloor;
    capacity = std::min(capacity, std::max(growth * used, floor));
  } else if (capacity == kUnlimited) {
    return std::vector<double>(n, kUnlimited);
  }
  // Shares are computed from what each container uses; one using less than
  // its share gets headroom on top, up to its plain weighted share, so that
  // it can grow (and is then seen constrained, taking its full share, the
  // interval after).
  last_used_ = used;
  std::vector<double> rates = WaterFill(capacity, weights, demands);
  double total_weight = std::accumulate(weights.begin(), weights.end(), 0.0);
  for (size_t i = 0; i < n; ++i) {
    if ((*constrained)[i]) continue;
    double fair = capacity * weights[i] / total_weight;
    rates[i] = std::max(rates[i], std::min(kDemandHeadroom * demands[i], fair));
  }
  return rates;
}

GpuDecision GpuRateControl::Step(const GpuInput& in) {
  double now = in.now_s;
  double dt = last_now_ > 0 ? now - last_now_ : params_.interval_ms / 1000.0;
  last_now_ = now;

  // What each opportunistic container used, and whether its gate held it back.
  std::vector<std::pair<std::string, OppHistory>> next;
  std::vector<bool> constrained(in.opportunistic.size(), false);
  double total = 0;
  for (size_t i = 0; i < in.opportunistic.size(); ++i) {
    const OpportunisticInput& o = in.opportunistic[i];
    OppHistory h;
    for (auto& [key, old] : opp_) {
      if (key == o.key) h = old;
    }
    bool dipped = h.seen && o.blocks < h.blocks;  // an exiting process's slot is being retired
    if (h.seen && dt > 0 && !dipped) {
      double rate = static_cast<double>(o.blocks - h.blocks) / dt;
      h.rate = 0.5 * h.rate + 0.5 * rate;
      constrained[i] = o.gate_waits > h.gate_waits;
    }
    constrained[i] = constrained[i] || o.backlogged;
    if (!dipped) h.blocks = o.blocks;
    h.gate_waits = o.gate_waits;
    h.seen = true;
    total += h.rate;
    next.emplace_back(o.key, h);
  }
  opp_ = std::move(next);
  status_.opportunistic_rate = total;

  // Samples are (latest launch instant, blocks launched by then). A sample
  // whose counter went backwards is dropped rather than read as an interval
  // without work; one without a launch since the last adds nothing.
  bool dipped = !window_.empty() && in.production_blocks < window_.back().blocks;
  uint64_t production_blocks = dipped ? window_.back().blocks : in.production_blocks;
  double instant = in.production_last_launch_s > 0 ? in.production_last_launch_s : now;
  if (!dipped && (window_.empty() || (production_blocks != window_.back().blocks && instant > window_.back().t))) {
    window_.push_back({instant, production_blocks});
  }
  while (window_.size() > 2 && window_[1].t <= now - kWindowS - 1e-9) window_.pop_front();

  bool active = in.production_idle_s * 1000.0 < params_.idle_release_ms;
  if (in.production_processes == 0) {
    profile_pending_ = false;
    status_.phase = RatePhase::kOpen;
    status_.limit = kUnlimited;
    status_.production_rate = 0;
  } else {
    switch (status_.phase) {
      case RatePhase::kOpen:
        StartProfile(now);
        break;
      case RatePhase::kProfiling: {
        double span = now - profile_start_;
        if (span * 1000.0 >= params_.profile_ms) {
          double measured = 0;
          double p = ProductionRateSince(profile_start_, now, &measured);
          if (measured < 0.5 * span) p = static_cast<double>(production_blocks - profile_blocks_) / span;
          status_.production_rate = p;
          if (p > 0 && active) {
            status_.reference = p;
            status_.phase = RatePhase::kSlowStart;
            status_.limit = params_.slow_start_initial * p;
            threshold_ = kUnlimited;
            last_change_ = now;
          } else {
            // Production is registered but idle: nothing to measure yet;
            // measure when it starts.
            status_.phase = RatePhase::kIdle;
            status_.limit = kUnlimited;
            profile_pending_ = true;
          }
        }
        break;
      }
      case RatePhase::kIdle:
        if (active) {
          if (status_.reference <= 0 || profile_pending_) {
            StartProfile(now);
          } else {
            status_.phase = RatePhase::kAvoidance;
            status_.limit = resume_limit_;
            last_change_ = now;
          }
        }
        break;
      case RatePhase::kSlowStart:
      case RatePhase::kAvoidance:
        if (!active) {
          resume_limit_ = status_.limit;
          status_.phase = RatePhase::kIdle;
          status_.limit = kUnlimited;
        } else if (!dipped) {
          Judge(now);
        }
        break;
    }
  }

  GpuDecision d;
  d.rates = Split(in, &constrained);
  double base = status_.reference > 0 ? status_.reference : total;
  double weights = 0;
  for (const auto& o : in.opportunistic) weights += std::max(1, o.weight);
  for (const auto& o : in.opportunistic) {
    // A share of 1 (the whole capacity) means no limit.
    bool limited = base > 0 && params_.fallback_opportunistic_share < 1;
    d.fallback_rates.push_back(
        limited ? params_.fallback_opportunistic_share * base * std::max(1, o.weight) / weights : kUnlimited);
  }
  return d;
}

}  // namespace tgs::controller
