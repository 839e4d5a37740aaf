// The resident budgets of oversubscribing containers (controller/memory/).
#include "controller/memory/residency_plan.h"

#include <gtest/gtest.h>

#include "shim/state/container_state.h"

namespace tgs::controller {
namespace {

constexpr uint64_t kGiB = 1ull << 30;

ResidencyInput Device(uint64_t bytes, uint64_t pinned, double headroom = 0.0) {
  ResidencyInput in;
  in.device_bytes = bytes;
  in.pinned_bytes = pinned;
  in.headroom = headroom;
  return in;
}

TEST(ResidencyPlan, ProductionsMemoryAndHeadroomAreNotGiven) {
  // 16 GiB device, production holds 11.2 GiB (70%), 5% headroom: 4 GiB left
  // for a 9.6 GiB opportunistic working set.
  ResidencyInput in = Device(16 * kGiB, 11 * kGiB + kGiB / 5, 0.05);
  in.containers.push_back({1, 9 * kGiB + 3 * kGiB / 5, 0});
  auto b = PlanResidency(in);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_NEAR(static_cast<double>(b[0]), 16.0 * kGiB * 0.95 - 11.2 * kGiB, 1e6);
}

TEST(ResidencyPlan, EveryoneFitsAndSharesTheSpareRoom) {
  ResidencyInput in = Device(16 * kGiB, 4 * kGiB);
  in.containers.push_back({1, 2 * kGiB, 0});
  in.containers.push_back({3, 2 * kGiB, 0});
  auto b = PlanResidency(in);
  // 12 GiB free, 4 GiB wanted: the spare 8 GiB is split 1:3 on top.
  EXPECT_EQ(b[0], 4 * kGiB);
  EXPECT_EQ(b[1], 8 * kGiB);
}

TEST(ResidencyPlan, WaterFillsByWeight) {
  ResidencyInput in = Device(10 * kGiB, 4 * kGiB);  // 6 GiB to share
  in.containers.push_back({1, 1 * kGiB, 0});   // needs less than its share (2 GiB): gets 1
  in.containers.push_back({1, 8 * kGiB, 0});   // the other 5 GiB split 1:1... (2.5 each)
  in.containers.push_back({1, 8 * kGiB, 0});
  auto b = PlanResidency(in);
  EXPECT_EQ(b[0], 1 * kGiB);
  EXPECT_NEAR(static_cast<double>(b[1]), 2.5 * kGiB, 1.0);
  EXPECT_NEAR(static_cast<double>(b[2]), 2.5 * kGiB, 1.0);
}

TEST(ResidencyPlan, ResidentLimitCapsAndLeavesTheRestToOthers) {
  ResidencyInput in = Device(10 * kGiB, 0);
  in.containers.push_back({1, 8 * kGiB, 2 * kGiB});
  in.containers.push_back({1, 9 * kGiB, 0});
  auto b = PlanResidency(in);
  EXPECT_EQ(b[0], 2 * kGiB);
  EXPECT_EQ(b[1], 8 * kGiB);
}

TEST(ResidencyPlan, NothingLeftMeansZeroNotAWrap) {
  ResidencyInput in = Device(8 * kGiB, 9 * kGiB, 0.05);  // pinned beyond the device
  in.containers.push_back({1, 1 * kGiB, 0});
  auto b = PlanResidency(in);
  EXPECT_EQ(b[0], 0u);
}

TEST(ResidencyPlan, UnknownDeviceSizeSetsNoBudget) {
  ResidencyInput in = Device(0, 1 * kGiB);
  in.containers.push_back({1, 1 * kGiB, 0});
  EXPECT_EQ(PlanResidency(in)[0], state::kNoResidentBudget);
}

TEST(ResidencyPlan, ProductionLeavingGivesEverythingBack) {
  ResidencyInput busy = Device(16 * kGiB, 11 * kGiB, 0.05);
  busy.containers.push_back({1, 9 * kGiB, 0});
  ResidencyInput idle = Device(16 * kGiB, 0, 0.05);
  idle.containers.push_back({1, 9 * kGiB, 0});
  EXPECT_LT(PlanResidency(busy)[0], 9 * kGiB);
  EXPECT_GE(PlanResidency(idle)[0], 9 * kGiB);
}

}  // namespace
}  // namespace tgs::controller

namespace tgs::controller {
namespace {

TEST(DampedBudget, LoweringIsImmediate) {
  EXPECT_EQ(DampedBudget(1 * kGiB, 8 * kGiB, true, 0.0), 1 * kGiB);
}

TEST(DampedBudget, RaisingWaitsWhileProductionIsThere) {
  EXPECT_EQ(DampedBudget(8 * kGiB, 1 * kGiB, true, 0.5), 1 * kGiB);
  EXPECT_EQ(DampedBudget(8 * kGiB, 1 * kGiB, true, kBudgetRaiseHoldSeconds), 8 * kGiB);
}

TEST(DampedBudget, ProductionGoneRaisesAtOnce) {
  EXPECT_EQ(DampedBudget(8 * kGiB, 1 * kGiB, false, 0.1), 8 * kGiB);
}

TEST(DampedBudget, FirstBudgetReplacesTheUnsetOne) {
  EXPECT_EQ(DampedBudget(4 * kGiB, state::kNoResidentBudget, true, 0.0), 4 * kGiB);
}

}  // namespace
}  // namespace tgs::controller
