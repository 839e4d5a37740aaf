// Which GPU users count as unshimmed (controller/watch/unshimmed_tracker.h).
#include "controller/watch/unshimmed_tracker.h"

#include <gtest/gtest.h>

namespace tgs::controller {
namespace {

using namespace std::chrono_literals;
using Clock = UnshimmedTracker::Clock;

Suspect Use(pid_t pid, Clock::time_point t) {
  Suspect s;
  s.pid = pid;
  s.comm = "python";
  s.what = "cuInit";
  s.seen = t;
  return s;
}

TEST(UnshimmedTracker, AProcessThatNeverRegistersIsReportedAfterTheGraceOnce) {
  UnshimmedTracker t(300ms);
  Clock::time_point t0 = Clock::now();
  t.GpuUse(Use(7, t0));
  EXPECT_TRUE(t.Due(t0 + 100ms).empty());
  auto due = t.Due(t0 + 300ms);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].pid, 7);
  EXPECT_EQ(due[0].what, "cuInit");
  t.GpuUse(Use(7, t0 + 400ms));  // more use: not reported again
  EXPECT_TRUE(t.Due(t0 + 2s).empty());
}

TEST(UnshimmedTracker, AShimmedProcessRegisteringWithinTheGraceIsNot) {
  UnshimmedTracker t(300ms);
  Clock::time_point t0 = Clock::now();
  t.GpuUse(Use(8, t0));
  t.Registered(8, t0 + 50ms);
  EXPECT_TRUE(t.Due(t0 + 1s).empty());
  t.GpuUse(Use(8, t0 + 2s));  // already registered
  EXPECT_TRUE(t.Due(t0 + 3s).empty());
}

TEST(UnshimmedTracker, AShortLivedShimmedProcessIsNotTakenForUnshimmed) {
  UnshimmedTracker t(300ms, 30s);
  Clock::time_point t0 = Clock::now();
  t.GpuUse(Use(9, t0));
  t.Registered(9, t0 + 10ms);
  t.Departed(9, t0 + 50ms);  // gone before the grace passed
  EXPECT_TRUE(t.Due(t0 + 400ms).empty());
}

TEST(UnshimmedTracker, AReusedPidAfterExitIsJudgedAfresh) {
  UnshimmedTracker t(300ms);
  Clock::time_point t0 = Clock::now();
  t.GpuUse(Use(10, t0));
  ASSERT_EQ(t.Due(t0 + 1s).size(), 1u);
  t.Exited(10);
  t.GpuUse(Use(10, t0 + 2s));
  EXPECT_EQ(t.Due(t0 + 3s).size(), 1u);
}

TEST(UnshimmedTracker, AnUnshimmedProcessThatExitsWithinTheGraceIsStillReported) {
  UnshimmedTracker t(300ms);
  Clock::time_point t0 = Clock::now();
  t.GpuUse(Use(11, t0));
  t.Exited(11);
  EXPECT_EQ(t.Due(t0 + 1s).size(), 1u);
}

}  // namespace
}  // namespace tgs::controller
