#include "shim/memory/array_size.h"

#include <gtest/gtest.h>

namespace tgs {
namespace {

TEST(ArraySize, PlainFormatsMultiplyChannels) {
  CUDA_ARRAY_DESCRIPTOR d{};
  d.Width = 1000;
  d.Height = 100;
  d.Format = CU_AD_FORMAT_FLOAT;
  d.NumChannels = 2;
  EXPECT_EQ(ArrayBytes(d), 1000u * 100 * 4 * 2);
  d.Height = 0;  // a 1D array
  EXPECT_EQ(ArrayBytes(d), 1000u * 4 * 2);
}

TEST(ArraySize, ThreeDimensionalAndPackedFormats) {
  CUDA_ARRAY3D_DESCRIPTOR d{};
  d.Width = 64;
  d.Height = 64;
  d.Depth = 64;
  d.Format = CU_AD_FORMAT_UNSIGNED_INT8;
  d.NumChannels = 4;
  EXPECT_EQ(ArrayBytes(d), 64u * 64 * 64 * 4);
  d.Format = CU_AD_FORMAT_UNORM_INT8X4;
  d.NumChannels = 1;
  EXPECT_EQ(ArrayBytes(d), 64u * 64 * 64 * 4);
  d.Format = CU_AD_FORMAT_BC1_UNORM;  // 8 bytes per 4x4 block
  EXPECT_EQ(ArrayBytes(d), 64u * 64 * 64 / 2);
}

TEST(ArraySize, MipmapsSumTheirLevels) {
  CUDA_ARRAY3D_DESCRIPTOR d{};
  d.Width = 256;
  d.Height = 256;
  d.Format = CU_AD_FORMAT_FLOAT;
  d.NumChannels = 1;
  uint64_t expected = 0;
  for (uint64_t w = 256; w >= 1; w /= 2) expected += w * w * 4;
  EXPECT_EQ(MipmappedArrayBytes(d, 9), expected);
}

TEST(ArraySize, LayeredMipmapsKeepTheirLayers) {
  CUDA_ARRAY3D_DESCRIPTOR d{};
  d.Width = 4;
  d.Height = 4;
  d.Depth = 10;
  d.Format = CU_AD_FORMAT_UNSIGNED_INT8;
  d.NumChannels = 1;
  d.Flags = CUDA_ARRAY3D_LAYERED;
  EXPECT_EQ(MipmappedArrayBytes(d, 3), (16u + 4 + 1) * 10);
}

}  // namespace
}  // namespace tgs
