// (e) The CUDA runtime (shared and static libcudart 13) gets its driver
// entry points through the shim's cuGetProcAddress, not around it.
//
// The runtime cannot finish initialising on the simulated driver (it needs
// cuGetExportTable's private tables, FIELD-NOTES §1) and reports an error; what
// matters here is which functions it was handed while building its table.
#include <regex>
#include <string>

#include "tests/integration/it_env.h"

namespace tgs::it {
namespace {

class CudartTest : public IntegrationTest, public ::testing::WithParamInterface<std::string> {};

std::string CudartPath(const std::string& which) {
  return which == "shared" ? Paths::CudartShared() : Paths::CudartStatic();
}

TEST_P(CudartTest, RuntimeUsesTheShimsGetProcAddress) {
  const std::string program = CudartPath(GetParam());
  if (program.empty()) GTEST_SKIP() << "libcudart (" << GetParam() << ") not found in the CUDA toolkit at build time";
  Env env = ContainerEnv({"cudart", "1GiB"});
  env["TGS_LOG"] = "debug";
  RunResult r = RunProcess({program}, env, std::chrono::seconds(60));
  ASSERT_FALSE(r.timed_out) << r.Describe();
  ASSERT_EQ(r.term_signal, 0) << r.Describe();
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  ASSERT_NE(FindResult(ParseResults(r.out), "cudart-device-count"), nullptr) << r.Describe();

  auto has = [&](const std::string& pattern) { return std::regex_search(r.err, std::regex(pattern)); };
  EXPECT_TRUE(has(R"(tgs\[\d+\]: debug: loaded real driver \S*libcuda\.so\.1)")) << r.Describe();
  // The runtime's allocation entry points are the shim's hooks, for the
  // version it asks for, and per-thread-stream variants for flags 2.
  EXPECT_TRUE(has(R"(cuGetProcAddress(_v2)?\("cuMemAlloc", 3020, flags 0\) -> tgs hook cuMemAlloc_v2\b)"))
      << r.Describe();
  EXPECT_TRUE(has(R"(cuGetProcAddress(_v2)?\("cuMemAllocAsync", 11020, flags 2\) -> tgs hook cuMemAllocAsync_ptsz\b)"))
      << r.Describe();
  EXPECT_TRUE(has(R"(cuGetProcAddress(_v2)?\("cuMemFree", 3020, flags 0\) -> tgs hook cuMemFree_v2\b)"))
      << r.Describe();
  // The runtime also asks for cuGetProcAddress itself; handing out the real
  // one would let every later lookup go round the shim.
  EXPECT_TRUE(has(R"(cuGetProcAddress(_v2)?\("cuGetProcAddress", 12000, flags 0\) -> tgs hook cuGetProcAddress)"))
      << r.Describe();
}

// Control: without the shim nothing is hooked (so the test above can fail).
TEST_P(CudartTest, WithoutShimNothingIsHooked) {
  const std::string program = CudartPath(GetParam());
  if (program.empty()) GTEST_SKIP() << "libcudart (" << GetParam() << ") not found in the CUDA toolkit at build time";
  Env env = ContainerEnv({"cudart", "1GiB"}, /*preload=*/false);
  env["TGS_LOG"] = "debug";
  RunResult r = RunProcess({program}, env, std::chrono::seconds(60));
  ASSERT_EQ(r.term_signal, 0) << r.Describe();
  EXPECT_EQ(r.err.find("tgs hook"), std::string::npos) << r.Describe();
}

INSTANTIATE_TEST_SUITE_P(SharedAndStatic, CudartTest, ::testing::Values("shared", "static"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace tgs::it
