#include "shim/launch/launch_gate.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace tgs::launch {
namespace {

std::atomic<bool> g_connected{true};
bool Connected() { return g_connected.load(); }

class LaunchGateTest : public ::testing::Test {
 protected:
  void SetUp() override { g_connected = true; }
  state::GpuEntry gpu_{};
};

TEST_F(LaunchGateTest, OpenGateNeverWaits) {
  int64_t start = MonotonicNs();
  for (int i = 0; i < 100000; ++i) Admit(gpu_, 1000, &Connected);
  EXPECT_LT(MonotonicNs() - start, 100'000'000);
  EXPECT_EQ(gpu_.gate_waits.load(), 0u);
}

TEST_F(LaunchGateTest, AdmitsBlocksAtTheConfiguredRate) {
  gpu_.gate_rate_mblocks = 100'000 * 1000ull;  // 100k blocks/s
  int64_t start = MonotonicNs();
  for (int i = 0; i < 50; ++i) Admit(gpu_, 1000, &Connected);  // 50k blocks: 0.5 s at that rate
  double seconds = (MonotonicNs() - start) / 1e9;
  EXPECT_GT(seconds, 0.45);  // never faster than the rate
  EXPECT_LT(seconds, 2.0);   // and not stuck (slack for a loaded machine)
  EXPECT_GT(gpu_.gate_waits.load(), 0u);
  EXPECT_GT(gpu_.gate_wait_ns.load(), 400'000'000u);
}

TEST_F(LaunchGateTest, ProcessesOfAContainerShareOneBudget) {
  gpu_.gate_rate_mblocks = 100'000 * 1000ull;
  int64_t start = MonotonicNs();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([this] {
      for (int i = 0; i < 10; ++i) Admit(gpu_, 1000, &Connected);
    });
  }
  for (auto& th : threads) th.join();
  double seconds = (MonotonicNs() - start) / 1e9;  // 40k blocks in total: 0.4 s
  EXPECT_GT(seconds, 0.35);
  EXPECT_LT(seconds, 2.0);
}

TEST_F(LaunchGateTest, OpeningTheGateReleasesWaiters) {
  gpu_.gate_rate_mblocks = 1000;  // one block per second: a 1000-block launch would wait ~17 min
  Admit(gpu_, 1, &Connected);     // uses up the burst
  std::thread opener([this] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    gpu_.gate_rate_mblocks = 0;
  });
  int64_t start = MonotonicNs();
  Admit(gpu_, 1000, &Connected);
  opener.join();
  EXPECT_LT(MonotonicNs() - start, 2'000'000'000);  // instead of ~17 minutes
}

TEST_F(LaunchGateTest, LostControllerMeansTheFallbackRate) {
  gpu_.gate_rate_mblocks = 0;  // the controller had opened the gate
  gpu_.gate_fallback_mblocks = 100'000 * 1000ull;
  g_connected = false;
  int64_t start = MonotonicNs();
  for (int i = 0; i < 60; ++i) Admit(gpu_, 1000, &Connected);  // 60k blocks at 100k/s
  EXPECT_GT((MonotonicNs() - start) / 1e9, 0.5);
  g_connected = true;
  start = MonotonicNs();
  for (int i = 0; i < 60; ++i) Admit(gpu_, 1000, &Connected);  // the controller's open gate
  EXPECT_LT((MonotonicNs() - start) / 1e9, 0.25);
}

TEST_F(LaunchGateTest, IdleTimeIsNotBankedBeyondTheBurst) {
  gpu_.gate_rate_mblocks = 100'000 * 1000ull;
  Admit(gpu_, 1000, &Connected);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // idle: must not buy 30k free blocks
  int64_t start = MonotonicNs();
  for (int i = 0; i < 20; ++i) Admit(gpu_, 1000, &Connected);  // 20k blocks: ~0.2 s minus the burst
  EXPECT_GT((MonotonicNs() - start) / 1e9, 0.15);
}

}  // namespace
}  // namespace tgs::launch
