// Per-container memory limits, end to end: real processes, the shim preloaded,
// the simulated GPU underneath. Every path by which a program can take device
// memory, in both ways a program can reach the driver (linked -lcuda, and
// dlopen + cuGetProcAddress_v2 as libcudart does).
#include <signal.h>

#include <string>
#include <tuple>
#include <vector>

#include "tests/integration/it_env.h"

namespace tgs::it {
namespace {

constexpr uint64_t kLimit = 1 * kGiB;
constexpr uint64_t kStep = 64 * kMiB;

// (a) Each allocation path hits the limit exactly, and frees give it back.
class AllocPathTest : public IntegrationTest, public ::testing::WithParamInterface<std::tuple<std::string, Client>> {};

TEST_P(AllocPathTest, HitsLimitExactlyAndFreesGiveItBack) {
  const auto& [path, client] = GetParam();
  Env env = ContainerEnv({"paths", "1GiB"});
  RunResult r = RunClient(client, env,
                          {"meminfo", "alloc-until-oom", path, Bytes(kStep), "meminfo", "free-all", "meminfo",
                           "alloc-until-oom", path, Bytes(kStep), "free-all", "meminfo"});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  auto lines = ParseResults(r.out);
  const ResultLine* m0 = FindResult(lines, "meminfo", 0);
  const ResultLine* first = FindResult(lines, "alloc-until-oom", 0);
  const ResultLine* m1 = FindResult(lines, "meminfo", 1);
  const ResultLine* freed = FindResult(lines, "free-all", 0);
  const ResultLine* m2 = FindResult(lines, "meminfo", 2);
  const ResultLine* second = FindResult(lines, "alloc-until-oom", 1);
  const ResultLine* m3 = FindResult(lines, "meminfo", 3);
  ASSERT_TRUE(m0 && first && m1 && freed && m2 && second && m3) << r.Describe();

  ASSERT_EQ(m0->Get("status"), "CUDA_SUCCESS") << r.Describe();
  EXPECT_EQ(m0->Num("total"), kLimit) << "cuMemGetInfo total must be the limit\n" << r.Describe();
  const uint64_t available = m0->Num("free");
  ASSERT_LE(available, kLimit) << r.Describe();

  // The limit stops it, not the 16 GiB simulated device, and not too early.
  EXPECT_EQ(first->Get("status"), "CUDA_ERROR_OUT_OF_MEMORY") << r.Describe();
  EXPECT_LE(first->Num("bytes"), available) << "allocated beyond the limit\n" << r.Describe();
  EXPECT_GT(first->Num("bytes") + kStep, available) << "refused while " << kStep << " bytes were still free\n"
                                                    << r.Describe();
  EXPECT_GT(first->Num("count"), 0u) << r.Describe();
  // The view follows exactly what was taken.
  EXPECT_EQ(m1->Num("free"), available - first->Num("bytes")) << r.Describe();

  EXPECT_EQ(freed->Get("status"), "CUDA_SUCCESS") << r.Describe();
  EXPECT_EQ(m2->Num("free"), available) << "frees did not give the quota back\n" << r.Describe();
  EXPECT_EQ(second->Num("bytes"), first->Num("bytes")) << r.Describe();
  EXPECT_EQ(second->Get("status"), "CUDA_ERROR_OUT_OF_MEMORY") << r.Describe();
  EXPECT_EQ(m3->Num("free"), available) << r.Describe();
}

std::string ParamName(const ::testing::TestParamInfo<std::tuple<std::string, Client>>& info) {
  std::string p = std::get<0>(info.param);
  for (char& c : p) {
    if (c == '-') c = '_';
  }
  return p + "_" + ClientName(std::get<1>(info.param));
}

INSTANTIATE_TEST_SUITE_P(AllPaths, AllocPathTest,
                         ::testing::Combine(::testing::Values("alloc", "pitch", "managed", "async", "pool", "vmm",
                                                              "array", "array3d", "mipmap"),
                                            ::testing::Values(Client::kLinked, Client::kProcaddr)),
                         ParamName);

// Control: without the shim the same request is not limited, so the tests
// above can tell an enforcing shim from a missing one.
TEST_F(IntegrationTest, WithoutShimTheLimitIsNotEnforced) {
  Env env = ContainerEnv({"control", "1GiB"}, /*preload=*/false);
  RunResult r = RunClient(Client::kProcaddr, env, {"alloc", "alloc", Bytes(2 * kGiB), "meminfo"});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  auto lines = ParseResults(r.out);
  const ResultLine* a = FindResult(lines, "alloc");
  const ResultLine* m = FindResult(lines, "meminfo");
  ASSERT_TRUE(a && m) << r.Describe();
  EXPECT_EQ(a->Get("status"), "CUDA_SUCCESS") << r.Describe();
  EXPECT_EQ(m->Num("total"), kSimMemory) << r.Describe();
}

// (b) Processes of one container share one budget; containers are independent.
TEST_F(IntegrationTest, ProcessesOfOneContainerShareOneBudget) {
  Env a_env = ContainerEnv({"shared", "1GiB"});
  Process holder;
  std::string error;
  ASSERT_TRUE(holder.Start({Paths::ClientLinked(), "alloc", "alloc", Bytes(768 * kMiB), "hold", "60"}, a_env, &error))
      << error;
  ASSERT_TRUE(holder.WaitForOutput("RESULT hold", std::chrono::seconds(30)))
      << holder.out() << "\n" << holder.err();
  ASSERT_NE(holder.out().find("status=CUDA_SUCCESS"), std::string::npos) << holder.out();

  // A second process of the same container sees the first one's usage at once
  // (no stale free == total) and cannot take more than what is left.
  RunResult r = RunClient(Client::kProcaddr, a_env,
                          {"meminfo", "nvml-meminfo", "alloc", "alloc", Bytes(512 * kMiB), "alloc", "alloc",
                           Bytes(128 * kMiB), "meminfo"});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  auto lines = ParseResults(r.out);
  const ResultLine* m0 = FindResult(lines, "meminfo", 0);
  const ResultLine* nvml = FindResult(lines, "nvml-meminfo");
  const ResultLine* big = FindResult(lines, "alloc", 0);
  const ResultLine* small = FindResult(lines, "alloc", 1);
  const ResultLine* m1 = FindResult(lines, "meminfo", 1);
  ASSERT_TRUE(m0 && nvml && big && small && m1) << r.Describe();
  EXPECT_EQ(m0->Num("total"), kLimit) << r.Describe();
  EXPECT_LE(m0->Num("free"), kLimit - 768 * kMiB) << "second process does not see the first one's 768 MiB\n"
                                                  << r.Describe();
  EXPECT_GE(nvml->Num("used"), 768 * kMiB) << r.Describe();
  EXPECT_EQ(big->Get("status"), "CUDA_ERROR_OUT_OF_MEMORY") << r.Describe();
  EXPECT_EQ(small->Get("status"), "CUDA_SUCCESS") << r.Describe();
  EXPECT_EQ(m1->Num("free"), m0->Num("free") - 128 * kMiB) << r.Describe();

  // Another container on the same GPU has its own full budget.
  Env b_env = ContainerEnv({"other", "1GiB"});
  RunResult o = RunClient(Client::kLinked, b_env, {"meminfo", "alloc", "alloc", Bytes(768 * kMiB), "meminfo"});
  ASSERT_EQ(o.exit_code, 0) << o.Describe();
  auto olines = ParseResults(o.out);
  const ResultLine* om0 = FindResult(olines, "meminfo", 0);
  const ResultLine* oa = FindResult(olines, "alloc");
  ASSERT_TRUE(om0 && oa) << o.Describe();
  EXPECT_GE(om0->Num("free"), kLimit - 64 * kMiB) << "container 'other' is charged for 'shared'\n" << o.Describe();
  EXPECT_EQ(oa->Get("status"), "CUDA_SUCCESS") << o.Describe();

  // When the holder goes, its share comes back.
  holder.Signal(SIGTERM);
  RunResult hr = holder.Wait(std::chrono::seconds(10));
  RunResult after = RunClient(Client::kProcaddr, a_env, {"alloc", "alloc", Bytes(768 * kMiB), "meminfo"});
  auto alines = ParseResults(after.out);
  const ResultLine* aa = FindResult(alines, "alloc");
  ASSERT_TRUE(aa) << after.Describe();
  EXPECT_EQ(aa->Get("status"), "CUDA_SUCCESS") << after.Describe();
}

// Without TGS_CONTAINER_ID the identity is the cgroup path: two processes of
// the test (same cgroup) share one budget.
TEST_F(IntegrationTest, ContainerIdDefaultsToCgroupPath) {
  Env env = ContainerEnv({"", "1GiB"});
  Process holder;
  std::string error;
  ASSERT_TRUE(holder.Start({Paths::ClientProcaddr(), "alloc", "alloc", Bytes(768 * kMiB), "hold", "60"}, env, &error))
      << error;
  ASSERT_TRUE(holder.WaitForOutput("RESULT hold", std::chrono::seconds(30))) << holder.out() << holder.err();
  RunResult r = RunClient(Client::kLinked, env, {"alloc", "alloc", Bytes(512 * kMiB)});
  auto lines = ParseResults(r.out);
  const ResultLine* a = FindResult(lines, "alloc");
  ASSERT_TRUE(a) << r.Describe();
  EXPECT_EQ(a->Get("status"), "CUDA_ERROR_OUT_OF_MEMORY") << r.Describe();
}

// (g) cuMemGetInfo, cuDeviceTotalMem and NVML show the container's view.
TEST_F(IntegrationTest, MemoryQueriesShowTheVirtualView) {
  Env env = ContainerEnv({"view", "1GiB"});
  RunResult r = RunClient(Client::kLinked, env,
                          {"meminfo", "nvml-meminfo", "alloc", "alloc", Bytes(256 * kMiB), "meminfo", "nvml-meminfo"});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  auto lines = ParseResults(r.out);
  const ResultLine* m0 = FindResult(lines, "meminfo", 0);
  const ResultLine* n0 = FindResult(lines, "nvml-meminfo", 0);
  const ResultLine* m1 = FindResult(lines, "meminfo", 1);
  const ResultLine* n1 = FindResult(lines, "nvml-meminfo", 1);
  ASSERT_TRUE(m0 && n0 && m1 && n1) << r.Describe();

  EXPECT_EQ(m0->Num("total"), kLimit) << r.Describe();
  EXPECT_EQ(m0->Num("devtotal"), kLimit) << "cuDeviceTotalMem_v2 must be the limit\n" << r.Describe();
  EXPECT_EQ(m0->Get("devtotal_status"), "CUDA_SUCCESS") << r.Describe();
  EXPECT_LE(m0->Num("free"), kLimit) << r.Describe();
  EXPECT_EQ(m1->Num("free"), m0->Num("free") - 256 * kMiB) << r.Describe();

  for (const ResultLine* n : {n0, n1}) {
    EXPECT_EQ(n->Get("status"), "0") << r.Describe();
    EXPECT_EQ(n->Get("v2_status"), "0") << r.Describe();
    EXPECT_EQ(n->Num("total"), kLimit) << r.Describe();
    EXPECT_EQ(n->Num("free") + n->Num("used"), n->Num("total")) << r.Describe();
    EXPECT_EQ(n->Num("v2_total"), kLimit) << r.Describe();
    EXPECT_EQ(n->Num("v2_used"), n->Num("used")) << r.Describe();
    EXPECT_EQ(n->Num("v2_free"), n->Num("free")) << r.Describe();
  }
  // NVML's used is the container's usage, the same number cuMemGetInfo implies.
  EXPECT_EQ(n1->Num("used"), m1->Num("used")) << r.Describe();
  EXPECT_EQ(n1->Num("used"), n0->Num("used") + 256 * kMiB) << r.Describe();
}

// Without a limit the real (simulated) totals show through, usage still counted.
TEST_F(IntegrationTest, NoLimitShowsTheDevice) {
  Env env = ContainerEnv({"unlimited", ""});
  RunResult r = RunClient(Client::kProcaddr, env, {"meminfo", "alloc", "alloc", Bytes(2 * kGiB), "nvml-meminfo"});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  auto lines = ParseResults(r.out);
  const ResultLine* m = FindResult(lines, "meminfo");
  const ResultLine* a = FindResult(lines, "alloc");
  const ResultLine* n = FindResult(lines, "nvml-meminfo");
  ASSERT_TRUE(m && a && n) << r.Describe();
  EXPECT_EQ(m->Num("total"), kSimMemory) << r.Describe();
  EXPECT_EQ(m->Num("devtotal"), kSimMemory) << r.Describe();
  EXPECT_EQ(a->Get("status"), "CUDA_SUCCESS") << r.Describe();
  EXPECT_EQ(n->Num("total"), kSimMemory) << r.Describe();
  EXPECT_GE(n->Num("used"), 2 * kGiB) << r.Describe();
}

// (h) Ways round the hooks that applications (or frameworks) take.
class BypassTest : public IntegrationTest, public ::testing::WithParamInterface<Client> {};

TEST_P(BypassTest, RtldNextDoesNotEscapeTheLimit) {
  Env env = ContainerEnv({"rtld", "1GiB"});
  RunResult r = RunClient(GetParam(), env, {"meminfo", "rtld-next", Bytes(kStep), "alloc-until-oom", "rtld-next",
                                            Bytes(kStep), "meminfo"});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  auto lines = ParseResults(r.out);
  const ResultLine* m0 = FindResult(lines, "meminfo", 0);
  const ResultLine* one = FindResult(lines, "alloc", 0);
  const ResultLine* until = FindResult(lines, "alloc-until-oom", 0);
  ASSERT_TRUE(m0 && one && until) << r.Describe();
  if (one->Get("pointer") == "none") {
    SUCCEED() << "dlsym(RTLD_NEXT, cuMemAlloc_v2) finds nothing: no way round";
    return;
  }
  EXPECT_EQ(one->Get("status"), "CUDA_SUCCESS") << r.Describe();
  // The single allocation plus the loop must stay within what was free.
  EXPECT_LE(one->Num("bytes") + until->Num("bytes"), m0->Num("free")) << "RTLD_NEXT escaped the limit (provider "
                                                                      << one->Get("provider") << ")\n"
                                                                      << r.Describe();
  EXPECT_EQ(until->Get("status"), "CUDA_ERROR_OUT_OF_MEMORY") << r.Describe();
}

TEST_P(BypassTest, LegacyCuMemAllocThroughGetProcAddressIsLimited) {
  Env env = ContainerEnv({"legacy", "1GiB"});
  RunResult r = RunClient(GetParam(), env, {"meminfo", "alloc-until-oom", "legacy", Bytes(kStep), "meminfo"});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  auto lines = ParseResults(r.out);
  const ResultLine* m0 = FindResult(lines, "meminfo", 0);
  const ResultLine* until = FindResult(lines, "alloc-until-oom", 0);
  const ResultLine* m1 = FindResult(lines, "meminfo", 1);
  ASSERT_TRUE(m0 && until && m1) << r.Describe();
  if (until->Get("pointer") == "none") {
    // Refusing the legacy ABI is a way to keep the limit too.
    EXPECT_EQ(until->Num("bytes"), 0u) << r.Describe();
    return;
  }
  // Whatever the legacy entry point does (allocate within the limit, or
  // refuse outright), it must not allocate beyond the limit or unaccounted.
  EXPECT_LE(until->Num("bytes"), m0->Num("free")) << "legacy cuMemAlloc (version 2000) escaped the limit\n"
                                                  << r.Describe();
  EXPECT_NE(until->Get("status"), "CUDA_SUCCESS") << r.Describe();
  if (until->Num("bytes") > 0) {
    EXPECT_EQ(until->Get("status"), "CUDA_ERROR_OUT_OF_MEMORY") << r.Describe();
  }
  EXPECT_EQ(m1->Num("free"), m0->Num("free") - until->Num("bytes")) << "legacy allocations not accounted\n"
                                                                    << r.Describe();
}

INSTANTIATE_TEST_SUITE_P(BothClients, BypassTest, ::testing::Values(Client::kLinked, Client::kProcaddr),
                         [](const auto& info) { return std::string(ClientName(info.param)); });

// (i) A forked child that initialises CUDA is accounted to the container.
TEST_F(IntegrationTest, ForkedChildIsAccounted) {
  Env env = ContainerEnv({"fork", "1GiB"});
  RunResult r = RunClient(Client::kLinked, env,
                          {"fork-child", Bytes(768 * kMiB), "alloc", "alloc", Bytes(512 * kMiB), "meminfo",
                           "fork-wait", "meminfo", "alloc", "alloc", Bytes(512 * kMiB)});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  auto lines = ParseResults(r.out);
  const ResultLine* child = nullptr;
  for (const auto& l : lines) {
    if (l.command == "fork-child" && l.Get("role") == "child") child = &l;
  }
  const ResultLine* parent_big = FindResult(lines, "alloc", 0);
  const ResultLine* m0 = FindResult(lines, "meminfo", 0);
  const ResultLine* waited = FindResult(lines, "fork-wait");
  const ResultLine* m1 = FindResult(lines, "meminfo", 1);
  const ResultLine* parent_after = FindResult(lines, "alloc", 1);
  ASSERT_TRUE(child && parent_big && m0 && waited && m1 && parent_after) << r.Describe();
  ASSERT_EQ(child->Get("status"), "CUDA_SUCCESS") << r.Describe();
  EXPECT_EQ(parent_big->Get("status"), "CUDA_ERROR_OUT_OF_MEMORY") << "the child's 768 MiB were not counted\n"
                                                                    << r.Describe();
  EXPECT_GE(m0->Num("used"), 768 * kMiB) << r.Describe();
  EXPECT_EQ(waited->Get("exit"), "0") << r.Describe();
  EXPECT_LE(m1->Num("used") + 768 * kMiB, m0->Num("used")) << "the child's memory did not come back\n"
                                                          << r.Describe();
  EXPECT_EQ(parent_after->Get("status"), "CUDA_SUCCESS") << r.Describe();
}

}  // namespace
}  // namespace tgs::it
