// The README's demo: the script itself, run short on the existing build, and
// the memory scenario the first demo showed (a training job of a 4 GiB
// container holds 3 GiB, so a second process of the same container asking
// for 2 GiB is refused).
#include <signal.h>

#include "tests/integration/it_env.h"

namespace tgs::it {
namespace {

TEST_F(IntegrationTest, SecondProcessOfAContainerIsRefusedBeyondTheSharedLimit) {
  const std::string train = Paths::TrainSim();
  if (train.empty()) GTEST_SKIP() << "tgs-train-sim is not part of this build (tools/workloads has no such target)";
  Env env = ContainerEnv({"demo", "4GiB"});
  Process trainer;
  std::string error;
  ASSERT_TRUE(trainer.Start({train, "--mem", "3GiB", "--duration", "60", "--kernels", "4", "--kernel-us", "200",
                             "--cpu-gap-us", "100"},
                            env, &error))
      << error;
  ASSERT_TRUE(trainer.WaitForOutput("iters/s=", std::chrono::seconds(30))) << trainer.out() << "\n" << trainer.err();

  RunResult r = RunClient(Client::kLinked, env, {"meminfo", "alloc", "alloc", "2GiB", "alloc", "alloc", "512MiB"});
  auto lines = ParseResults(r.out);
  const ResultLine* m = FindResult(lines, "meminfo");
  const ResultLine* big = FindResult(lines, "alloc", 0);
  const ResultLine* small = FindResult(lines, "alloc", 1);
  ASSERT_TRUE(m && big && small) << r.Describe();
  EXPECT_EQ(m->Num("total"), 4 * kGiB) << r.Describe();
  EXPECT_LE(m->Num("free"), 1 * kGiB) << r.Describe();
  EXPECT_EQ(big->Get("status"), "CUDA_ERROR_OUT_OF_MEMORY") << r.Describe();
  EXPECT_EQ(small->Get("status"), "CUDA_SUCCESS") << r.Describe();

  trainer.Signal(SIGTERM);
  RunResult tr = trainer.Wait(std::chrono::seconds(15));
  EXPECT_FALSE(tr.timed_out) << tr.Describe();
}

// tools/setup/demo.sh exits 0 only if production kept its speed under TGS
// (its table is printed), the opportunistic container's over-limit process
// was refused, and every job ran.
TEST_F(IntegrationTest, DemoScriptRuns) {
  Env env{{"PATH", "/usr/local/bin:/usr/bin:/bin"},
          {"TGS_DEMO_SKIP_SETUP", "1"},
          {"TGS_DEMO_BUILD_DIR", TGS_IT_BUILD_DIR},
          {"TGS_DEMO_SECONDS", "4"}};
  RunResult r = RunProcess({"/bin/bash", TGS_IT_DEMO_SCRIPT}, env, std::chrono::seconds(120));
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_NE(r.out.find("CUDA_ERROR_OUT_OF_MEMORY (1 GiB held, limit 2 GiB)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("with TGS"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("demo: ok"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace tgs::it
