#include "shim/util/gpu_uuid.h"

#include <gtest/gtest.h>

#include <cstring>

namespace tgs {
namespace {

TEST(GpuUuid, FormatsAsNvmlDoesAndParsesBack) {
  uint8_t uuid[16] = {0x4b, 0x5c, 0x01, 0xff, 0x10, 0x20, 0x30, 0x40, 0xa0, 0xb0, 0xc0, 0xd0, 0xe0, 0xf0, 0x00, 0x09};
  std::string text = FormatGpuUuid(uuid);
  EXPECT_EQ(text, "GPU-4b5c01ff-1020-3040-a0b0-c0d0e0f00009");
  uint8_t back[16];
  ASSERT_TRUE(ParseGpuUuid(text.c_str(), back));
  EXPECT_EQ(0, std::memcmp(uuid, back, 16));
  ASSERT_TRUE(ParseGpuUuid("4B5C01FF10203040A0B0C0D0E0F00009", back));
  EXPECT_EQ(0, std::memcmp(uuid, back, 16));
}

TEST(GpuUuid, RejectsWhatIsNotAUuid) {
  uint8_t out[16];
  EXPECT_FALSE(ParseGpuUuid("GPU-1234", out));
  EXPECT_FALSE(ParseGpuUuid("GPU-4b5c01ff-1020-3040-a0b0-c0d0e0f0000g", out));
  EXPECT_FALSE(ParseGpuUuid("GPU-4b5c01ff-1020-3040-a0b0-c0d0e0f0000911", out));
  EXPECT_FALSE(ParseGpuUuid("", out));
}

}  // namespace
}  // namespace tgs
