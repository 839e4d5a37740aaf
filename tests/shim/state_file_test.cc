#include "shim/state/state_file.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>

namespace tgs::state {
namespace {

constexpr uint8_t kUuidA[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
constexpr uint8_t kUuidB[16] = {9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9};
constexpr uint64_t kMiB = 1ull << 20;

class StateFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tgs-state-test-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::unique_ptr<StateFile> Open(const std::string& id = "ctr") {
    std::string error;
    auto f = StateFile::Open(dir_, id, &error);
    EXPECT_TRUE(f) << error;
    return f;
  }
  std::string dir_;
};

TEST_F(StateFileTest, EnforcesTheLimitExactlyAndReturnsFrees) {
  auto f = Open();
  int gpu = f->FindOrClaimGpu(kUuidA, 100 * kMiB);
  ASSERT_GE(gpu, 0);
  ProcessSlot* slot = f->ClaimProcessSlot(getpid(), ProcessStartTime(getpid()));
  ASSERT_NE(slot, nullptr);
  EXPECT_TRUE(f->Reserve(slot, gpu, 60 * kMiB));
  EXPECT_TRUE(f->Reserve(slot, gpu, 40 * kMiB));
  EXPECT_FALSE(f->Reserve(slot, gpu, 1));
  EXPECT_EQ(f->UsedBytes(gpu), 100 * kMiB);
  EXPECT_EQ(f->state().gpus[gpu].oom_refusals.load(), 1u);
  f->Release(slot, gpu, 40 * kMiB);
  EXPECT_TRUE(f->Reserve(slot, gpu, 40 * kMiB));
  // Returning more than the process holds cannot create budget.
  f->Release(slot, gpu, 1000 * kMiB);
  EXPECT_EQ(f->UsedBytes(gpu), 0u);
  f->ReleaseProcessSlot(slot);
}

TEST_F(StateFileTest, TwoHandlesShareOneBudgetAndGpusAreIndependent) {
  auto a = Open();
  auto b = Open();
  int ga = a->FindOrClaimGpu(kUuidA, 10 * kMiB);
  int gb = b->FindOrClaimGpu(kUuidA, 10 * kMiB);
  int other = b->FindOrClaimGpu(kUuidB, 10 * kMiB);
  EXPECT_EQ(ga, gb);
  EXPECT_NE(ga, other);
  ProcessSlot* s = a->ClaimProcessSlot(getpid(), ProcessStartTime(getpid()));
  EXPECT_TRUE(a->Reserve(s, ga, 8 * kMiB));
  EXPECT_FALSE(b->Reserve(s, gb, 4 * kMiB));
  EXPECT_TRUE(b->Reserve(s, other, 10 * kMiB));
  a->ReleaseProcessSlot(s);
  EXPECT_EQ(b->UsedBytes(gb), 0u);
  EXPECT_EQ(b->UsedBytes(other), 0u);
}

TEST_F(StateFileTest, LimitsOnlyTighten) {
  auto f = Open();
  int g = f->FindOrClaimGpu(kUuidA, 100 * kMiB);
  EXPECT_EQ(f->FindOrClaimGpu(kUuidA, 0), g);  // a process without the variable (env -i)
  EXPECT_EQ(f->LimitBytes(g), 100 * kMiB);
  f->FindOrClaimGpu(kUuidA, 200 * kMiB);
  EXPECT_EQ(f->LimitBytes(g), 100 * kMiB);
  f->FindOrClaimGpu(kUuidA, 50 * kMiB);
  EXPECT_EQ(f->LimitBytes(g), 50 * kMiB);
}

TEST_F(StateFileTest, DeadProcessesAreReclaimed) {
  auto f = Open();
  int gpu = f->FindOrClaimGpu(kUuidA, 100 * kMiB);
  pid_t child = fork();
  if (child == 0) {
    std::string error;
    auto c = StateFile::Open(dir_, "ctr", &error);
    ProcessSlot* slot = c->ClaimProcessSlot(getpid(), ProcessStartTime(getpid()));
    _exit(slot && c->Reserve(slot, gpu, 90 * kMiB) ? 0 : 1);  // dies holding 90 MiB
  }
  int status;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(f->UsedBytes(gpu), 90 * kMiB);
  ProcessSlot* slot = f->ClaimProcessSlot(getpid(), ProcessStartTime(getpid()));  // reclaims first
  EXPECT_EQ(f->UsedBytes(gpu), 0u);
  EXPECT_TRUE(f->Reserve(slot, gpu, 100 * kMiB));
  EXPECT_EQ(f->state().header.reclaimed_processes.load(), 1u);
}

TEST_F(StateFileTest, OomReclaimsDeadProcessesBeforeRefusing) {
  auto f = Open();
  int gpu = f->FindOrClaimGpu(kUuidA, 100 * kMiB);
  ProcessSlot* mine = f->ClaimProcessSlot(getpid(), ProcessStartTime(getpid()));
  pid_t child = fork();
  if (child == 0) {
    std::string error;
    auto c = StateFile::Open(dir_, "ctr", &error);
    ProcessSlot* slot = c->ClaimProcessSlot(getpid(), ProcessStartTime(getpid()));
    _exit(slot && c->Reserve(slot, gpu, 100 * kMiB) ? 0 : 1);
  }
  int status;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(f->Reserve(mine, gpu, 100 * kMiB));
}

TEST_F(StateFileTest, OwnerDyingInsideTheMutexIsRepaired) {
  auto f = Open();
  int gpu = f->FindOrClaimGpu(kUuidA, 100 * kMiB);
  ProcessSlot* mine = f->ClaimProcessSlot(getpid(), ProcessStartTime(getpid()));
  ASSERT_TRUE(f->Reserve(mine, gpu, 30 * kMiB));
  pid_t child = fork();
  if (child == 0) {
    // Die in the middle of an update: the GPU total no longer matches the slots.
    pthread_mutex_lock(&f->state().header.mutex);
    f->state().gpus[gpu].used_bytes.store(77 * kMiB);
    _exit(0);
  }
  int status;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(f->Reserve(mine, gpu, 70 * kMiB));  // would fail with the corrupted 77 MiB
  EXPECT_EQ(f->UsedBytes(gpu), 100 * kMiB);
}

TEST_F(StateFileTest, RefusesAnotherLayoutVersionOrContainer) {
  {
    auto f = Open("ctr");
    f->state().header.layout_version = kLayoutVersion + 1;
  }
  std::string error;
  EXPECT_EQ(StateFile::Open(dir_, "ctr", &error), nullptr);
  EXPECT_NE(error.find("layout version"), std::string::npos) << error;
  EXPECT_EQ(StateFile::Open(dir_, "", &error), nullptr);
  EXPECT_EQ(StateFile::Open("/nonexistent-dir-for-tgs", "x", &error), nullptr);
  EXPECT_NE(error.find("cannot open state file /nonexistent-dir-for-tgs/"), std::string::npos) << error;
}

TEST_F(StateFileTest, StartTimeIdentifiesLiveProcessesOnly) {
  EXPECT_NE(ProcessStartTime(getpid()), 0u);
  pid_t child = fork();
  if (child == 0) _exit(0);
  int status;
  waitpid(child, &status, 0);
  EXPECT_EQ(ProcessStartTime(child), 0u);
}

}  // namespace
}  // namespace tgs::state
