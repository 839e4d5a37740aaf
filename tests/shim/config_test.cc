#include "shim/core/config.h"

#include <gtest/gtest.h>
#include <stdlib.h>

namespace tgs {
namespace {

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* v : {"TGS_MEMORY_LIMIT", "TGS_CONTAINER_ID", "TGS_STATE_DIR", "TGS_REAL_LIBCUDA"}) unsetenv(v);
  }
  void TearDown() override { SetUp(); }
};

TEST_F(ConfigTest, ReadsEveryVariable) {
  setenv("TGS_MEMORY_LIMIT", "2GiB", 1);
  setenv("TGS_CONTAINER_ID", "ctr-a", 1);
  setenv("TGS_STATE_DIR", "/tmp/x", 1);
  setenv("TGS_REAL_LIBCUDA", "/opt/libcuda.so.1", 1);
  ShimConfig c = LoadShimConfig();
  EXPECT_EQ(c.error, "");
  EXPECT_EQ(c.memory_limit_bytes, 2ull << 30);
  EXPECT_EQ(c.container_id, "ctr-a");
  EXPECT_EQ(c.state_dir, "/tmp/x");
  EXPECT_EQ(c.real_libcuda, "/opt/libcuda.so.1");
}

TEST_F(ConfigTest, UnsetLimitMeansUnlimitedAndCgroupIdentity) {
  ShimConfig c = LoadShimConfig();
  EXPECT_EQ(c.error, "");
  EXPECT_EQ(c.memory_limit_bytes, 0u);
  EXPECT_EQ(c.container_id.rfind("cgroup:", 0), 0u) << c.container_id;
  EXPECT_EQ(c.state_dir, "/dev/shm");
}

TEST_F(ConfigTest, BadValuesNameTheVariableAndValue) {
  setenv("TGS_MEMORY_LIMIT", "12XB", 1);
  EXPECT_EQ(LoadShimConfig().error.rfind("TGS_MEMORY_LIMIT='12XB': unknown unit", 0), 0u) << LoadShimConfig().error;
  setenv("TGS_MEMORY_LIMIT", "0", 1);
  EXPECT_NE(LoadShimConfig().error.find("TGS_MEMORY_LIMIT='0'"), std::string::npos);
  unsetenv("TGS_MEMORY_LIMIT");
  setenv("TGS_STATE_DIR", "relative/dir", 1);
  EXPECT_EQ(LoadShimConfig().error, "TGS_STATE_DIR='relative/dir': must be an absolute path");
  unsetenv("TGS_STATE_DIR");
  setenv("TGS_CONTAINER_ID", "bad\nid", 1);
  EXPECT_NE(LoadShimConfig().error.find("control character"), std::string::npos);
}

}  // namespace
}  // namespace tgs
