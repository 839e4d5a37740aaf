// (f) A bad TGS_* value is one clear line on stderr and CUDA refuses to run
// (CUDA_ERROR_NOT_PERMITTED) rather than running unlimited.
#include <sstream>
#include <string>
#include <tuple>

#include "tests/integration/it_env.h"

namespace tgs::it {
namespace {

struct BadValue {
  const char* variable;
  const char* value;
};
void PrintTo(const BadValue& b, std::ostream* os) { *os << b.variable << "='" << b.value << "'"; }

class BadConfigTest : public IntegrationTest, public ::testing::WithParamInterface<std::tuple<BadValue, Client>> {};

TEST_P(BadConfigTest, OneLineNamingVariableAndValueAndCudaRefuses) {
  const auto& [bad, client] = GetParam();
  Env env = ContainerEnv({"bad", "1GiB"});
  env[bad.variable] = bad.value;
  RunResult r = RunClient(client, env, {"ctx-create", "alloc", "alloc", "1MiB"});
  auto lines = ParseResults(r.out);
  const ResultLine* ctx = FindResult(lines, "ctx-create");
  const ResultLine* init = FindResult(lines, "init");
  ASSERT_TRUE(ctx && init) << r.Describe();
  EXPECT_EQ(ctx->Get("init_status"), "CUDA_ERROR_NOT_PERMITTED") << r.Describe();
  EXPECT_EQ(ctx->Get("status"), "CUDA_ERROR_NOT_PERMITTED") << "context creation must be refused too\n"
                                                           << r.Describe();
  EXPECT_EQ(init->Get("status"), "CUDA_ERROR_NOT_PERMITTED") << r.Describe();
  EXPECT_EQ(FindResult(lines, "alloc"), nullptr) << "allocated despite a bad configuration\n" << r.Describe();
  EXPECT_EQ(r.exit_code, 3) << r.Describe();

  // Exactly one of the shim's stderr lines ("tgs[<pid>]: ...") names the
  // variable, and it carries the value. (The simulated driver reads TGS_LOG
  // too and may say so on its own "tgs-simgpu[...]" line.)
  std::istringstream err(r.err);
  std::string line, naming;
  int count = 0;
  while (std::getline(err, line)) {
    if (line.rfind("tgs[", 0) == 0 && line.find(bad.variable) != std::string::npos) {
      ++count;
      naming = line;
    }
  }
  EXPECT_EQ(count, 1) << "expected one line naming " << bad.variable << "\n" << r.Describe();
  EXPECT_NE(naming.find(bad.value), std::string::npos) << "the line does not show the value\n" << r.Describe();
}

std::string Name(const ::testing::TestParamInfo<std::tuple<BadValue, Client>>& info) {
  std::string v = std::string(std::get<0>(info.param).variable) + "_" + std::get<0>(info.param).value;
  for (char& c : v) {
    if (!isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return v + "_" + ClientName(std::get<1>(info.param));
}

INSTANTIATE_TEST_SUITE_P(Values, BadConfigTest,
                         ::testing::Combine(::testing::Values(BadValue{"TGS_MEMORY_LIMIT", "12XB"},
                                                              BadValue{"TGS_MEMORY_LIMIT", "-5"},
                                                              BadValue{"TGS_MEMORY_LIMIT", "lots"},
                                                              BadValue{"TGS_LOG", "verbose"}),
                                            ::testing::Values(Client::kLinked, Client::kProcaddr)),
                         Name);

}  // namespace
}  // namespace tgs::it
