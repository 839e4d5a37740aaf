#include "controller/memory/residency_plan.h"

#include <algorithm>
#include <cmath>

#include "shim/state/container_state.h"

namespace tgs::controller {

std::vector<uint64_t> PlanResidency(const ResidencyInput& in) {
  size_t n = in.containers.size();
  if (in.device_bytes == 0) return std::vector<uint64_t>(n, state::kNoResidentBudget);
  double headroom = std::clamp(in.headroom, 0.0, 1.0) * static_cast<double>(in.device_bytes);
  double available = std::max(0.0, static_cast<double>(in.device_bytes) - static_cast<double>(in.pinned_bytes) -
                                       headroom);

  std::vector<double> demand(n), grant(n, 0.0);
  std::vector<bool> open(n, true);
  for (size_t i = 0; i < n; ++i) {
    const auto& c = in.containers[i];
    demand[i] = static_cast<double>(c.managed_bytes);
    if (c.resident_limit != 0) demand[i] = std::min(demand[i], static_cast<double>(c.resident_limit));
  }
  // Water-fill: each round, containers wanting less than their weighted share
  // of what is left take their demand and leave the race.
  double left = available;
  for (bool settled = false; !settled;) {
    settled = true;
    double weights = 0;
    for (size_t i = 0; i < n; ++i) {
      if (open[i]) weights += std::max(1, in.containers[i].weight);
    }
    if (weights == 0) break;
    for (size_t i = 0; i < n; ++i) {
      if (!open[i]) continue;
      double share = left * std::max(1, in.containers[i].weight) / weights;
      if (demand[i] <= share) {
        grant[i] = demand[i];
        open[i] = false;
        settled = false;
      }
    }
    double granted = 0;
    for (size_t i = 0; i < n; ++i) {
      if (!open[i]) granted += grant[i];
    }
    left = std::max(0.0, available - granted);
    if (settled) {
      for (size_t i = 0; i < n; ++i) {
        if (open[i]) grant[i] = left * std::max(1, in.containers[i].weight) / weights;
      }
      left = 0;
    }
  }
  // Spare room when everyone fits: shared by weight on top of the demand.
  double weights = 0;
  for (const auto& c : in.containers) weights += std::max(1, c.weight);
  std::vector<uint64_t> budgets(n);
  for (size_t i = 0; i < n; ++i) {
    double b = grant[i];
    if (left > 0 && weights > 0) b += left * std::max(1, in.containers[i].weight) / weights;
    if (in.containers[i].resident_limit != 0) b = std::min(b, static_cast<double>(in.containers[i].resident_limit));
    budgets[i] = static_cast<uint64_t>(std::floor(b));
  }
  return budgets;
}

uint64_t DampedBudget(uint64_t planned, uint64_t current, bool production_present, double since_lowered_s) {
  if (planned <= current || !production_present || since_lowered_s >= kBudgetRaiseHoldSeconds) return planned;
  return current;
}

}  // namespace tgs::controller
