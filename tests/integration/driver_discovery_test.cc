// The shim finds the real driver behind it, and says clearly - instead of
// crashing or running unaccounted - when it cannot.
#include <cstdio>
#include <fstream>
#include <string>

#include "tests/integration/it_env.h"

namespace tgs::it {
namespace {

// The client's init result and the shim's stderr for a given environment.
struct Outcome {
  std::string init_status;
  std::string err;
  std::string describe;
};

Outcome RunInit(IntegrationTest* test, Client client, Env env) {
  std::vector<std::string> argv{ClientPath(client), "meminfo"};
  RunResult r = RunProcess(argv, env, std::chrono::seconds(30));
  EXPECT_FALSE(r.timed_out) << r.Describe();
  EXPECT_EQ(r.term_signal, 0) << "the process must not crash\n" << r.Describe();
  auto lines = ParseResults(r.out);
  const ResultLine* init = FindResult(lines, "init");
  if (init == nullptr) init = FindResult(lines, "skipped");
  (void)test;
  return {init ? init->Get("status") : "", r.err, r.Describe()};
}

TEST_F(IntegrationTest, ExplicitDriverPathIsUsed) {
  Env env = ContainerEnv({"disc", "1GiB"});
  env["LD_LIBRARY_PATH"] = "";  // nothing to discover: only the explicit path can work
  env["TGS_REAL_LIBCUDA"] = Paths::SimDir() + "/libcuda.so.1";
  env["TGS_REAL_LIBNVML"] = Paths::SimDir() + "/libnvidia-ml.so.1";
  env["TGS_LOG"] = "debug";
  Outcome o = RunInit(this, Client::kLinked, env);
  EXPECT_EQ(o.init_status, "CUDA_SUCCESS") << o.describe;
  EXPECT_NE(o.err.find("loaded real driver " + Paths::SimDir() + "/libcuda.so.1"), std::string::npos) << o.describe;
}

TEST_F(IntegrationTest, MissingExplicitDriverIsNamedAndRefused) {
  for (Client client : {Client::kLinked, Client::kProcaddr}) {
    Env env = ContainerEnv({"disc", "1GiB"});
    env["TGS_REAL_LIBCUDA"] = "/nonexistent/libcuda.so.1";
    Outcome o = RunInit(this, client, env);
    EXPECT_EQ(o.init_status, "CUDA_ERROR_NO_DEVICE") << o.describe;
    EXPECT_NE(o.err.find("TGS_REAL_LIBCUDA='/nonexistent/libcuda.so.1': No such file or directory"),
              std::string::npos)
        << o.describe;
  }
}

TEST_F(IntegrationTest, ExplicitPathToTheShimItselfIsRefused) {
  Env env = ContainerEnv({"disc", "1GiB"});
  env["TGS_REAL_LIBCUDA"] = Paths::ShimLib();
  Outcome o = RunInit(this, Client::kLinked, env);
  EXPECT_EQ(o.init_status, "CUDA_ERROR_NO_DEVICE") << o.describe;
  EXPECT_NE(o.err.find("is this TGS shim, not the driver"), std::string::npos) << o.describe;
}

TEST_F(IntegrationTest, NoDriverAnywhereIsExplained) {
  for (const char* dir : {"/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/local/nvidia/lib64", "/usr/lib"}) {
    if (std::ifstream(std::string(dir) + "/libcuda.so.1")) {
      GTEST_SKIP() << "this machine has a real driver in " << dir << "; the no-driver case cannot be staged";
    }
  }
  Env env = ContainerEnv({"disc", "1GiB"});
  env["LD_LIBRARY_PATH"] = "/nonexistent-tgs-dir";
  Outcome o = RunInit(this, Client::kProcaddr, env);
  // The procaddr client dlopen()s libcuda.so.1 and gets the shim, which has
  // no driver behind it: lookups still succeed and cuInit says why it fails.
  EXPECT_EQ(o.init_status, "CUDA_ERROR_NO_DEVICE") << o.describe;
  EXPECT_NE(o.err.find("no real libcuda.so.1 found"), std::string::npos) << o.describe;
  Outcome linked = RunInit(this, Client::kLinked, env);
  EXPECT_EQ(linked.init_status, "CUDA_ERROR_NO_DEVICE") << linked.describe;
  EXPECT_NE(linked.err.find("no real libcuda.so.1 found (set TGS_REAL_LIBCUDA to its full path)"), std::string::npos)
      << linked.describe;
}

}  // namespace
}  // namespace tgs::it
