// (c) Processes SIGKILLed while holding memory leave no phantom usage.
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>

#include "tests/integration/it_env.h"

namespace tgs::it {
namespace {

constexpr uint64_t kLimit = 1 * kGiB;

unsigned Seed() {
  if (const char* s = std::getenv("TGS_IT_SEED")) return static_cast<unsigned>(std::strtoul(s, nullptr, 10));
  return std::random_device{}();
}

TEST_F(IntegrationTest, SigkilledHoldersLeaveNoPhantomUsage) {
  const unsigned seed = Seed();
  SCOPED_TRACE("seed " + std::to_string(seed) + " (rerun with TGS_IT_SEED=" + std::to_string(seed) + ")");
  std::mt19937 rng(seed);
  Env env = ContainerEnv({"killed", "1GiB"});

  // What a fresh process of this container may take.
  RunResult base = RunClient(Client::kProcaddr, env, {"meminfo"});
  const auto base_lines = ParseResults(base.out);
  const ResultLine* bm = FindResult(base_lines, "meminfo");
  ASSERT_TRUE(bm) << base.Describe();
  const uint64_t available = bm->Num("free");
  ASSERT_GT(available, kLimit / 2) << base.Describe();

  const char* kPaths[] = {"alloc", "pitch", "async", "pool", "vmm", "managed", "array"};
  constexpr int kIterations = 100;
  for (int i = 0; i < kIterations; ++i) {
    const std::string path = kPaths[rng() % std::size(kPaths)];
    // 1 MiB steps up to everything a fresh process may take: any leftover
    // from an earlier victim makes this allocation fail.
    const uint64_t size = (1 + rng() % (available / kMiB)) * kMiB;
    const Client client = rng() % 2 ? Client::kLinked : Client::kProcaddr;
    // One in four dies at a random moment of its start-up or allocation
    // instead of while holding.
    const bool early = rng() % 4 == 0;
    const int early_ms = static_cast<int>(rng() % 30);
    SCOPED_TRACE("iteration " + std::to_string(i) + ": " + ClientName(client) + " " + path + " " +
                 std::to_string(size) + (early ? " early kill after " + std::to_string(early_ms) + " ms" : ""));

    Process victim;
    std::string error;
    ASSERT_TRUE(victim.Start({ClientPath(client), "alloc", path, Bytes(size), "hold", "60"}, env, &error)) << error;
    if (early) {
      std::this_thread::sleep_for(std::chrono::milliseconds(early_ms));
    } else {
      ASSERT_TRUE(victim.WaitForOutput("RESULT hold", std::chrono::seconds(30)))
          << victim.out() << "\n" << victim.err();
      const auto victim_lines = ParseResults(victim.out());
      const ResultLine* a = FindResult(victim_lines, "alloc");
      ASSERT_TRUE(a) << victim.out();
      ASSERT_EQ(a->Get("status"), "CUDA_SUCCESS") << "usage leaked from an earlier victim\n"
                                                  << victim.out() << "\n" << victim.err();
    }
    victim.Signal(SIGKILL);
    RunResult vr = victim.Wait(std::chrono::seconds(10));
    ASSERT_FALSE(vr.timed_out);
  }

  // Afterwards a new process can take everything again, in one piece.
  RunResult after = RunClient(Client::kLinked, env, {"meminfo", "alloc", "alloc", Bytes(available), "nvml-meminfo"});
  auto lines = ParseResults(after.out);
  const ResultLine* m = FindResult(lines, "meminfo");
  const ResultLine* a = FindResult(lines, "alloc");
  ASSERT_TRUE(m && a) << after.Describe();
  EXPECT_EQ(m->Num("free"), available) << "phantom usage after " << kIterations << " SIGKILLs\n" << after.Describe();
  EXPECT_EQ(a->Get("status"), "CUDA_SUCCESS") << after.Describe();
}

// A process that is already running sees a killed holder's share come back:
// its cuMemGetInfo / NVML must not keep showing the dead process's usage.
TEST_F(IntegrationTest, LiveObserverSeesKilledHoldersUsageVanish) {
  Env env = ContainerEnv({"observer", "1GiB"});
  Process holder, observer;
  std::string error;
  ASSERT_TRUE(holder.Start({Paths::ClientLinked(), "alloc", "alloc", Bytes(768 * kMiB), "hold", "60"}, env, &error))
      << error;
  ASSERT_TRUE(holder.WaitForOutput("RESULT hold", std::chrono::seconds(30))) << holder.out() << holder.err();
  ASSERT_TRUE(observer.Start({Paths::ClientProcaddr(), "meminfo", "sleep-ms", "1500", "meminfo", "nvml-meminfo"}, env,
                             &error))
      << error;
  ASSERT_TRUE(observer.WaitForOutput("RESULT meminfo", std::chrono::seconds(30))) << observer.out() << observer.err();
  holder.Signal(SIGKILL);
  holder.Wait(std::chrono::seconds(10));
  RunResult r = observer.Wait(std::chrono::seconds(30));
  auto lines = ParseResults(r.out);
  const ResultLine* before = FindResult(lines, "meminfo", 0);
  const ResultLine* after = FindResult(lines, "meminfo", 1);
  const ResultLine* nvml = FindResult(lines, "nvml-meminfo");
  ASSERT_TRUE(before && after && nvml) << r.Describe();
  EXPECT_GE(before->Num("used"), 768 * kMiB) << r.Describe();
  EXPECT_EQ(after->Num("used"), before->Num("used") - 768 * kMiB)
      << "cuMemGetInfo still counts the killed holder 1.5 s after its death\n" << r.Describe();
  EXPECT_EQ(nvml->Num("used"), after->Num("used")) << r.Describe();
}

}  // namespace
}  // namespace tgs::it
