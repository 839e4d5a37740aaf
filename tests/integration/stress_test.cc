// (d) Many threads allocating and freeing concurrently end with zero usage and
// never exceed the limit.
#include "tests/integration/it_env.h"

namespace tgs::it {
namespace {

constexpr uint64_t kLimit = 2 * kGiB;

class StressTest : public IntegrationTest, public ::testing::WithParamInterface<Client> {};

TEST_P(StressTest, ThirtyTwoThreadsForTenSecondsEndWithZeroUsage) {
  Env env = ContainerEnv({"stress", "2GiB"});
  RunResult r = RunClient(GetParam(), env, {"stress", "32", "10"}, std::chrono::seconds(120));
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  const auto lines0 = ParseResults(r.out);
  const ResultLine* s = FindResult(lines0, "stress");
  ASSERT_TRUE(s) << r.Describe();
  EXPECT_EQ(s->Num("errors"), 0u) << "first error: " << s->Get("first_error") << "\n" << r.Describe();
  EXPECT_GT(s->Num("allocs"), 100u) << s->raw;
  EXPECT_EQ(s->Num("allocs"), s->Num("frees")) << s->raw;
  EXPECT_LE(s->Num("max_live"), kLimit) << "live allocations exceeded the limit\n" << s->raw;
  EXPECT_EQ(s->Num("total"), kLimit) << s->raw;
  EXPECT_EQ(s->Num("used_after"), s->Num("used_before")) << "usage drifted\n" << s->raw;

  // And the container's ledger is back to what a fresh process sees.
  RunResult after = RunClient(Client::kProcaddr, env, {"meminfo", "alloc", "alloc", Bytes(kLimit - 64 * kMiB)});
  auto lines = ParseResults(after.out);
  const ResultLine* a = FindResult(lines, "alloc");
  ASSERT_TRUE(a) << after.Describe();
  EXPECT_EQ(a->Get("status"), "CUDA_SUCCESS") << after.Describe();
}

INSTANTIATE_TEST_SUITE_P(BothClients, StressTest, ::testing::Values(Client::kLinked, Client::kProcaddr),
                         [](const auto& info) { return std::string(ClientName(info.param)); });

}  // namespace
}  // namespace tgs::it
