// `tgs-controller --check-config`: exit status and what goes to which stream.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "controller/policy/check_config.h"

namespace tgs::policy {
namespace {

class PolicyCheckConfig : public ::testing::Test {
 protected:
  std::string Write(const std::string& text) {
    std::ofstream f(path_);
    f << text;
    return path_;
  }
  void TearDown() override { std::remove(path_.c_str()); }

  // Unique per test and process: ctest runs these tests in parallel.
  std::string path_ = ::testing::TempDir() + "policy_check_config_test-" +
                      ::testing::UnitTest::GetInstance()->current_test_info()->name() + "-" +
                      std::to_string(getpid()) + ".yaml";
  std::ostringstream out_, err_;
};

TEST_F(PolicyCheckConfig, ValidPolicyPrintsEffectiveSummary) {
  Write(R"(version: 1
control:
  interval_ms: 50
classes:
  batch: { kind: opportunistic, weight: 2 }
containers:
  - match: { id: train-prod }
    class: production
    memory_limit: 20GiB
  - match: { labels: { team: a } }
    class: batch
)");
  EXPECT_EQ(CheckConfigMain(path_, out_, err_), 0);
  EXPECT_EQ(err_.str(), "");
  std::string out = out_.str();
  EXPECT_NE(out.find(path_ + ": OK (policy version 1, 2 rules)"), std::string::npos) << out;
  EXPECT_NE(out.find("interval_ms                   50 "), std::string::npos) << out;
  EXPECT_NE(out.find("production_target             0.97    (default)"), std::string::npos) << out;
  EXPECT_NE(out.find("batch           opportunistic"), std::string::npos) << out;
  // Rules in matching order, each with what it grants, then the default.
  size_t first = out.find("[0] line 7"), second = out.find("[1] line 10"), fallback = out.find("  default ");
  ASSERT_NE(first, std::string::npos) << out;
  ASSERT_NE(second, std::string::npos) << out;
  ASSERT_NE(fallback, std::string::npos) << out;
  EXPECT_LT(first, second);
  EXPECT_LT(second, fallback);
  EXPECT_NE(out.find("-> production (production)  memory_limit 20.00 GiB"), std::string::npos) << out;
  EXPECT_NE(out.find("-> batch (opportunistic)  memory_limit none  weight 2"), std::string::npos) << out;
}

TEST_F(PolicyCheckConfig, InvalidPolicyPrintsErrorsAndFails) {
  Write("version: 1\ncontrol:\n  interval_ms: 1\n  bogus: 2\n");
  EXPECT_EQ(CheckConfigMain(path_, out_, err_), 1);
  EXPECT_EQ(out_.str(), "");
  EXPECT_EQ(err_.str(), path_ + ":3:16: control.interval_ms: 1 is out of range (10..5000)\n" + path_ +
                            ":4:3: unknown key 'bogus' in control (allowed: interval_ms, production_target, "
                            "restart_below, decrease_factor, additive_increase, slow_start_initial, slow_start_growth, "
                            "opportunistic_floor, idle_release_ms, profile_ms, reprofile_after, "
                            "fallback_opportunistic_share, yield_to_production, production_memory_headroom)\n" +
                            path_ + ": policy not loaded\n");
}

TEST_F(PolicyCheckConfig, WarningsGoToErrButPass) {
  Write("version: 1\ndefaults:\n  class: production\n");
  EXPECT_EQ(CheckConfigMain(path_, out_, err_), 0);
  EXPECT_NE(err_.str().find(path_ + ":3:10: warning: defaults.class: every container"), std::string::npos)
      << err_.str();
  EXPECT_NE(out_.str().find("OK"), std::string::npos);
}

TEST_F(PolicyCheckConfig, MissingFile) {
  EXPECT_EQ(CheckConfigMain("/nonexistent/policy.yaml", out_, err_), 1);
  EXPECT_EQ(err_.str(),
            "/nonexistent/policy.yaml: cannot open: No such file or directory\n"
            "/nonexistent/policy.yaml: policy not loaded\n");
}

}  // namespace
}  // namespace tgs::policy
