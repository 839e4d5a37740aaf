#include "shim/memory/allocation_table.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>
#include <vector>

namespace tgs {
namespace {

TEST(AllocationTable, TakeReturnsWhatWasChargedOnce) {
  AllocationTable t;
  t.Insert(0x7000'0000'1000, Charge{2, 4096});
  auto c = t.Take(0x7000'0000'1000);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->gpu, 2);
  EXPECT_EQ(c->bytes, 4096u);
  EXPECT_FALSE(t.Take(0x7000'0000'1000));  // a double free returns nothing
}

TEST(AllocationTable, ConcurrentInsertAndTakeLoseNothing) {
  AllocationTable t;
  constexpr int kThreads = 8, kPerThread = 5000;
  std::vector<std::thread> threads;
  std::atomic<uint64_t> taken{0};
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      for (int j = 0; j < kPerThread; ++j) {
        uint64_t key = (static_cast<uint64_t>(i) << 32) | (static_cast<uint64_t>(j) << 12);
        t.Insert(key, Charge{0, 1});
        if (j % 2 == 0) taken += t.Take(key)->bytes;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(taken.load(), kThreads * kPerThread / 2u);
  EXPECT_EQ(t.SizeForTest(), kThreads * kPerThread / 2u);
}

TEST(AllocationTable, AForkedChildStartsEmpty) {
  AllocationTable t;
  t.Insert(42, Charge{0, 1});
  pid_t child = fork();
  if (child == 0) _exit(t.SizeForTest() == 0 ? 0 : 1);
  int status;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(t.SizeForTest(), 1u);
}

}  // namespace
}  // namespace tgs
