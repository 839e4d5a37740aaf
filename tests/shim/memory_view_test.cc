#include "shim/memory/memory_view.h"

#include <gtest/gtest.h>

namespace tgs {
namespace {

constexpr uint64_t kGiB = 1ull << 30;

TEST(MemoryView, ShowsADeviceOfTheLimitsSize) {
  MemoryView v = VirtualMemoryView(70 * kGiB, 80 * kGiB, 4 * kGiB, 1 * kGiB);
  EXPECT_EQ(v.total, 4 * kGiB);
  EXPECT_EQ(v.free, 3 * kGiB);
}

TEST(MemoryView, NeverShowsMoreThanTheDeviceHasFree) {
  MemoryView v = VirtualMemoryView(1 * kGiB, 80 * kGiB, 4 * kGiB, 0);
  EXPECT_EQ(v.free, 1 * kGiB);
}

TEST(MemoryView, OversubscribingContainerMayAllocateUpToItsLimit) {
  // Production holds most of the device; unified memory can still be had.
  MemoryView v = VirtualMemoryView(1 * kGiB, 80 * kGiB, 40 * kGiB, 8 * kGiB, /*oversubscribed=*/true);
  EXPECT_EQ(v.free, 32 * kGiB);
  EXPECT_EQ(v.total, 40 * kGiB);
  MemoryView over = VirtualMemoryView(1 * kGiB, 80 * kGiB, 40 * kGiB, 41 * kGiB, true);
  EXPECT_EQ(over.free, 0u);
}

TEST(MemoryView, NeverWrapsWhenUsageExceedsTheLimit) {
  // A limit lowered below current usage must show 0 free, not 17 TB.
  MemoryView v = VirtualMemoryView(70 * kGiB, 80 * kGiB, 4 * kGiB, 5 * kGiB);
  EXPECT_EQ(v.free, 0u);
  EXPECT_EQ(v.total, 4 * kGiB);
}

TEST(MemoryView, NoLimitIsTheRealView) {
  MemoryView v = VirtualMemoryView(7, 9, 0, 3);
  EXPECT_EQ(v.free, 7u);
  EXPECT_EQ(v.total, 9u);
}

TEST(MemoryView, LimitLargerThanDeviceShowsTheDevice) {
  MemoryView v = VirtualMemoryView(10 * kGiB, 16 * kGiB, 64 * kGiB, 2 * kGiB);
  EXPECT_EQ(v.total, 16 * kGiB);
  EXPECT_EQ(v.free, 10 * kGiB);
}

}  // namespace
}  // namespace tgs
