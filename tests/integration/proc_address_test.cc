// cuGetProcAddress through the shim hands out the shim's hook for exactly the
// variant the caller asked for - cudaVersion and the per-thread-default-stream
// flag included - and leaves everything it does not hook pointing at the
// driver itself. (FIELD-NOTES §6: hooks that ignored the version or the flag
// gave _ptsz callers the legacy-stream function, or new callers an old ABI.)
#include <string>
#include <tuple>

#include "tests/integration/it_env.h"

namespace tgs::it {
namespace {

struct Lookup {
  const char* name;
  int version;
  int flags;
  const char* symbol;   // the exported symbol the answer must point to
  bool from_shim;       // in libtgs.so (a hook) or in the simulated driver
};
void PrintTo(const Lookup& l, std::ostream* os) { *os << l.name << "@" << l.version << "/" << l.flags; }

class ProcAddressTest : public IntegrationTest, public ::testing::WithParamInterface<std::tuple<Lookup, bool>> {};

TEST_P(ProcAddressTest, AnswerIsTheRequestedVariant) {
  const auto& [lookup, through_shim] = GetParam();
  Env env = ContainerEnv({"procaddr", "1GiB"}, through_shim);
  RunResult r = RunClient(Client::kProcaddr, env,
                          {"lookup", lookup.name, std::to_string(lookup.version), std::to_string(lookup.flags)});
  auto lines = ParseResults(r.out);
  const ResultLine* line = FindResult(lines, "lookup");
  ASSERT_NE(line, nullptr) << r.Describe();
  EXPECT_EQ(line->Get("status"), "CUDA_SUCCESS") << r.Describe();
  EXPECT_EQ(line->Get("symbol"), lookup.symbol) << r.Describe();
  // Without the shim every answer is the driver's; with it, hooked names are
  // the shim's and the rest stay the driver's own functions (not a trampoline).
  std::string expected_library = through_shim && lookup.from_shim ? "libtgs.so" : "libcuda.so.1";
  EXPECT_EQ(line->Get("library"), expected_library) << r.Describe();
}

INSTANTIATE_TEST_SUITE_P(
    Variants, ProcAddressTest,
    ::testing::Combine(
        ::testing::Values(Lookup{"cuMemAlloc", 3020, 0, "cuMemAlloc_v2", true},
                          Lookup{"cuMemAlloc", 2000, 0, "cuMemAlloc", true},
                          Lookup{"cuMemGetInfo", 3020, 0, "cuMemGetInfo_v2", true},
                          Lookup{"cuLaunchKernel", 4000, 0, "cuLaunchKernel", true},
                          Lookup{"cuLaunchKernel", 7000, 2, "cuLaunchKernel_ptsz", true},
                          Lookup{"cuMemAllocAsync", 11020, 0, "cuMemAllocAsync", true},
                          Lookup{"cuMemAllocAsync", 11020, 2, "cuMemAllocAsync_ptsz", true},
                          Lookup{"cuGraphLaunch", 10000, 2, "cuGraphLaunch_ptsz", true},
                          Lookup{"cuGetProcAddress", 11030, 0, "cuGetProcAddress", true},
                          Lookup{"cuGetProcAddress", 12000, 0, "cuGetProcAddress_v2", true},
                          Lookup{"cuMemCreate", 10020, 0, "cuMemCreate", true},
                          Lookup{"cuStreamCreate", 2000, 0, "cuStreamCreate", false},
                          Lookup{"cuMemcpyHtoD", 3020, 0, "cuMemcpyHtoD_v2", false}),
        ::testing::Bool()),
    [](const ::testing::TestParamInfo<std::tuple<Lookup, bool>>& info) {
      const Lookup& l = std::get<0>(info.param);
      return std::string(l.name) + "_" + std::to_string(l.version) + "_" + std::to_string(l.flags) +
             (std::get<1>(info.param) ? "_shim" : "_driver");
    });

}  // namespace
}  // namespace tgs::it
