#include "shim/core/container_identity.h"

#include <gtest/gtest.h>

namespace tgs {
namespace {

TEST(ContainerIdentity, PrefersTheUnifiedHierarchy) {
  EXPECT_EQ(ContainerIdFromCgroupText("0::/kubepods.slice/pod1/cri-abc.scope\n"),
            "cgroup:/kubepods.slice/pod1/cri-abc.scope");
  EXPECT_EQ(ContainerIdFromCgroupText("12:memory:/docker/abc\n0::/system.slice/x.scope\n"),
            "cgroup:/system.slice/x.scope");
}

TEST(ContainerIdentity, FallsBackToTheFirstV1Hierarchy) {
  EXPECT_EQ(ContainerIdFromCgroupText("12:memory:/docker/abc\n11:cpu:/docker/abc\n"), "cgroup:/docker/abc");
  EXPECT_EQ(ContainerIdFromCgroupText("garbage"), "");
}

TEST(ContainerIdentity, LongPathsKeepTheirDistinguishingTail) {
  std::string path = "/" + std::string(400, 'a') + "/container-1234";
  std::string id = ContainerIdFromCgroupText("0::" + path + "\n");
  EXPECT_EQ(id.size(), 255u);
  EXPECT_EQ(id.rfind("cgroup:", 0), 0u);
  EXPECT_NE(id.find("container-1234"), std::string::npos);
}

TEST(ContainerIdentity, Validation) {
  EXPECT_EQ(ValidateContainerId("pod/ns/ctr"), "");
  EXPECT_NE(ValidateContainerId(""), "");
  EXPECT_NE(ValidateContainerId(std::string(300, 'x')), "");
}

}  // namespace
}  // namespace tgs
