#include "controller/policy/schema.h"

namespace tgs::policy {

std::span<const ControlField> ControlFields() {
  using P = ControlParams;
  // Ranges exclude values that break the loop rather than merely tune it:
  // decrease_factor 1 never backs off, growth 1 never leaves slow start, an
  // interval under 10 ms is below the launch-rate noise floor and above 5 s
  // is the published prototype's sluggishness.
  static constexpr ControlField kFields[] = {
      {"interval_ms", &P::interval_ms, 10, 5000, "control-loop sample period"},
      {"production_target", &P::production_target, 0.5, 1.0,
       "keep production at or above this fraction of its solo rate"},
      {"restart_below", &P::restart_below, 0.0, 1.0,
       "production below this fraction of its solo rate: restart slow start"},
      {"decrease_factor", &P::decrease_factor, 0.1, 0.99, "multiplicative decrease of the opportunistic limit"},
      {"additive_increase", &P::additive_increase, 0.0001, 0.5,
       "additive increase per calm interval, as a fraction of production's solo rate"},
      {"slow_start_initial", &P::slow_start_initial, 0.0001, 1.0,
       "opportunistic limit when slow start begins, as a fraction of production's solo rate"},
      {"slow_start_growth", &P::slow_start_growth, 1.1, 10.0, "limit multiplier per calm interval in slow start"},
      {"opportunistic_floor", &P::opportunistic_floor, 0.0, 0.5,
       "the limit never drops below this fraction of production's solo rate"},
      {"idle_release_ms", &P::idle_release_ms, 10, 600000,
       "production idle this long: opportunistic gets the whole GPU"},
      {"profile_ms", &P::profile_ms, 10, 60000, "opportunistic paused this long to measure production's solo rate"},
      {"reprofile_after", &P::reprofile_after, 1, 100000,
       "consecutive congested intervals after which the solo rate is measured again"},
      {"fallback_opportunistic_share", &P::fallback_opportunistic_share, 0.0, 1.0,
       "share of launch capacity opportunistic keeps when the controller is unreachable"},
      {"yield_to_production", &P::yield_to_production, 0, 1,
       "opportunistic launches wait while production has work in flight"},
      {"production_memory_headroom", &P::production_memory_headroom, 0.0, 0.5,
       "fraction of GPU memory kept free of opportunistic unified memory for production to grow"},
  };
  return kFields;
}

}  // namespace tgs::policy
