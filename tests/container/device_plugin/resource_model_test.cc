// The resource model of tgs-device-plugin: units per GPU, device ids, the
// one-GPU rule for Allocate and the best fit of GetPreferredAllocation.
#include <gtest/gtest.h>

#include "container/device-plugin/resource_model.h"

namespace tgs::device_plugin {
namespace {

constexpr uint64_t kGiB = 1ULL << 30;
const std::string kA = "GPU-11111111-1111-4111-8111-111111111111";
const std::string kB = "GPU-22222222-2222-4222-8222-222222222222";
const std::string kC = "GPU-33333333-3333-4333-8333-333333333333";

std::vector<std::string> Units(const std::string& uuid, int first, int count) {
  std::vector<std::string> ids;
  for (int n = first; n < first + count; ++n) ids.push_back(DeviceId(uuid, n));
  return ids;
}

std::vector<std::string> Concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

ResourceModel TwoGpus(double overcommit = 1.0) {
  return ResourceModel({{kA, 16 * kGiB, 0, 0}, {kB, 8 * kGiB, 1, 1}}, overcommit);
}

TEST(ResourceModel, UnitsAreWholeGibTimesOvercommit) {
  EXPECT_EQ(UnitsPerGpu(16 * kGiB, 1.0), 16);
  EXPECT_EQ(UnitsPerGpu(16 * kGiB - 1, 1.0), 15) << "a partial GiB is no device";
  EXPECT_EQ(UnitsPerGpu(80 * kGiB, 1.5), 120);
  EXPECT_EQ(UnitsPerGpu(81559ULL << 20, 1.0), 79) << "an H100's 81559 MiB";
  EXPECT_EQ(UnitsPerGpu(10 * kGiB, 2.5), 25);
  EXPECT_EQ(UnitsPerGpu(kGiB / 2, 1.0), 0);
  EXPECT_EQ(UnitsPerGpu(0, 4.0), 0);
}

TEST(ResourceModel, DeviceIdsAreUuidAndUnit) {
  EXPECT_EQ(DeviceId(kA, 7), kA + "::7");
  auto ref = ParseDeviceId(kA + "::15");
  ASSERT_TRUE(ref);
  EXPECT_EQ(ref->uuid, kA);
  EXPECT_EQ(ref->unit, 15);
  const std::vector<std::string> bad_ids = {kA,         kA + "::",    kA + "::x",        kA + "::-1", kA + "::07",
                                            "::3",      kA + ":3",    kA + "::1.5",      kA + "::99999999"};
  for (const std::string& bad : bad_ids) {
    EXPECT_FALSE(ParseDeviceId(bad)) << bad;
  }
  ResourceModel m = TwoGpus(1.5);
  EXPECT_EQ(m.units_per_gpu(0), 24);
  EXPECT_EQ(m.units_per_gpu(1), 12);
  std::vector<std::string> all = m.DeviceIds();
  ASSERT_EQ(all.size(), 36u);
  EXPECT_EQ(all.front(), kA + "::0");
  EXPECT_EQ(all[23], kA + "::23");
  EXPECT_EQ(all[24], kB + "::0");
  EXPECT_EQ(all.back(), kB + "::11");
  EXPECT_EQ(m.GpuOf(kB + "::11"), 1u);
  EXPECT_FALSE(m.GpuOf(kB + "::12"));
  EXPECT_FALSE(m.GpuOf(kC + "::0"));
}

TEST(ResourceModel, PlaceFindsTheOneGpu) {
  ResourceModel m = TwoGpus();
  std::string error;
  auto p = m.Place(Units(kB, 2, 3), &error);
  ASSERT_TRUE(p) << error;
  EXPECT_EQ(p->gpu, 1u);
  EXPECT_EQ(p->units, 3);
}

TEST(ResourceModel, PlaceRefusesDevicesOfTwoGpusNamingEach) {
  ResourceModel m = TwoGpus();
  std::string error;
  EXPECT_FALSE(m.Place(Concat(Units(kA, 0, 3), Units(kB, 0, 1)), &error));
  EXPECT_NE(error.find("span 2 GPUs"), std::string::npos) << error;
  EXPECT_NE(error.find(kA + ": 3"), std::string::npos) << error;
  EXPECT_NE(error.find(kB + ": 1"), std::string::npos) << error;
}

TEST(ResourceModel, PlaceRefusesBadIdsNamingThem) {
  ResourceModel m = TwoGpus();
  std::string error;
  EXPECT_FALSE(m.Place({}, &error));
  EXPECT_NE(error.find("no devices"), std::string::npos) << error;
  EXPECT_FALSE(m.Place({"nonsense"}, &error));
  EXPECT_NE(error.find("'nonsense'"), std::string::npos) << error;
  EXPECT_FALSE(m.Place({kC + "::0"}, &error));
  EXPECT_NE(error.find("does not have"), std::string::npos) << error;
  EXPECT_FALSE(m.Place({kB + "::8"}, &error));
  EXPECT_NE(error.find("has only 8 devices"), std::string::npos) << error;
  EXPECT_FALSE(m.Place({kA + "::1", kA + "::1"}, &error));
  EXPECT_NE(error.find("twice"), std::string::npos) << error;
}

TEST(ResourceModel, PreferPicksTheTightestGpuThatFits) {
  ResourceModel m = ResourceModel({{kA, 16 * kGiB, 0, 0}, {kB, 16 * kGiB, 1, 1}, {kC, 16 * kGiB, 2, 2}}, 1.0);
  // Free: A 10, B 3, C 6.
  std::vector<std::string> available = Concat(Concat(Units(kA, 6, 10), Units(kB, 13, 3)), Units(kC, 0, 6));
  std::string error;
  auto got = m.Prefer(available, {}, 3, &error);
  ASSERT_TRUE(got) << error;
  EXPECT_EQ(*got, Units(kB, 13, 3));
  got = m.Prefer(available, {}, 4, &error);
  ASSERT_TRUE(got) << error;
  EXPECT_EQ(*got, Units(kC, 0, 4));
  got = m.Prefer(available, {}, 10, &error);
  ASSERT_TRUE(got) << error;
  EXPECT_EQ(*got, Units(kA, 6, 10));
  // Ties go to the first GPU; units come lowest first whatever the order given.
  got = m.Prefer({kB + "::5", kA + "::9", kA + "::2", kB + "::1"}, {}, 2, &error);
  ASSERT_TRUE(got) << error;
  EXPECT_EQ(*got, (std::vector<std::string>{kA + "::2", kA + "::9"}));
}

TEST(ResourceModel, PreferKeepsMustIncludeOnItsGpu) {
  ResourceModel m = TwoGpus();
  std::vector<std::string> available = Concat(Units(kA, 0, 16), Units(kB, 0, 8));
  std::string error;
  auto got = m.Prefer(available, {kA + "::9"}, 3, &error);
  ASSERT_TRUE(got) << error;
  EXPECT_EQ(*got, (std::vector<std::string>{kA + "::9", kA + "::0", kA + "::1"}));
  EXPECT_FALSE(m.Prefer(available, {kA + "::0", kB + "::0"}, 3, &error));
  EXPECT_NE(error.find("must be included span 2 GPUs"), std::string::npos) << error;
  EXPECT_FALSE(m.Prefer(available, {kB + "::0"}, 9, &error)) << "B has only 8";
  EXPECT_NE(error.find(kB), std::string::npos) << error;
  EXPECT_FALSE(m.Prefer(available, Units(kA, 0, 3), 2, &error));
}

TEST(ResourceModel, PreferRefusesWhatNoSingleGpuHolds) {
  ResourceModel m = TwoGpus();
  std::string error;
  EXPECT_FALSE(m.Prefer(Concat(Units(kA, 0, 5), Units(kB, 0, 5)), {}, 6, &error));
  EXPECT_NE(error.find("no single GPU has 6 free devices"), std::string::npos) << error;
  EXPECT_NE(error.find("the most on one GPU is 5"), std::string::npos) << error;
  EXPECT_FALSE(m.Prefer(Units(kA, 0, 5), {}, 0, &error));
  EXPECT_FALSE(m.Prefer({"junk"}, {}, 1, &error));
  EXPECT_NE(error.find("'junk'"), std::string::npos) << error;
}

}  // namespace
}  // namespace tgs::device_plugin
