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

TEST(ContainerIdentity, FallsBackToV1PreferringMemory) {
  EXPECT_EQ(ContainerIdFromCgroupText("12:memory:/docker/abc\n11:cpu:/docker/abc\n"), "cgroup:/docker/abc");
  EXPECT_EQ(ContainerIdFromCgroupText("11:cpu:/x\n12:memory:/docker/abc\n"), "cgroup:/docker/abc");
  EXPECT_EQ(ContainerIdFromCgroupText("garbage"), "");
}

TEST(ContainerIdentity, HybridHostsAreToldApartByV1) {
  // Hybrid mode: every process is at 0::/, the container is in the v1 paths.
  std::string text =
      "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/e6af9328\n1:cpu:/\n0::/\n";
  EXPECT_EQ(ContainerIdFromCgroupText(text), "cgroup:/process_api/e6af9328");
  EXPECT_EQ(ContainerIdFromCgroupText("4:memory:/\n0::/\n"), "cgroup:/");
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
