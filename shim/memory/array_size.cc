#include "shim/memory/array_size.h"

#include <algorithm>

namespace tgs {
namespace {

// Bytes per texel in 1/16 units, so block-compressed formats (half a byte per
// texel for BC1/BC4) stay exact. Multi-channel packed formats fold the channel
// count in; plain formats multiply by NumChannels.
struct FormatCost {
  uint32_t sixteenths;
  bool per_channel;
};

FormatCost Cost(CUarray_format format) {
  switch (format) {
    case CU_AD_FORMAT_UNSIGNED_INT8:
    case CU_AD_FORMAT_SIGNED_INT8: return {16, true};
    case CU_AD_FORMAT_UNSIGNED_INT16:
    case CU_AD_FORMAT_SIGNED_INT16:
    case CU_AD_FORMAT_HALF: return {32, true};
    case CU_AD_FORMAT_UNSIGNED_INT32:
    case CU_AD_FORMAT_SIGNED_INT32:
    case CU_AD_FORMAT_FLOAT: return {64, true};
    case CU_AD_FORMAT_UNORM_INT8X1:
    case CU_AD_FORMAT_SNORM_INT8X1: return {16, false};
    case CU_AD_FORMAT_UNORM_INT8X2:
    case CU_AD_FORMAT_SNORM_INT8X2:
    case CU_AD_FORMAT_UNORM_INT16X1:
    case CU_AD_FORMAT_SNORM_INT16X1: return {32, false};
    case CU_AD_FORMAT_UNORM_INT8X4:
    case CU_AD_FORMAT_SNORM_INT8X4:
    case CU_AD_FORMAT_UNORM_INT16X2:
    case CU_AD_FORMAT_SNORM_INT16X2:
    case CU_AD_FORMAT_UNORM_INT_101010_2: return {64, false};
    case CU_AD_FORMAT_UNORM_INT16X4:
    case CU_AD_FORMAT_SNORM_INT16X4: return {128, false};
    case CU_AD_FORMAT_BC1_UNORM:
    case CU_AD_FORMAT_BC1_UNORM_SRGB:
    case CU_AD_FORMAT_BC4_UNORM:
    case CU_AD_FORMAT_BC4_SNORM: return {8, false};
    case CU_AD_FORMAT_BC2_UNORM:
    case CU_AD_FORMAT_BC2_UNORM_SRGB:
    case CU_AD_FORMAT_BC3_UNORM:
    case CU_AD_FORMAT_BC3_UNORM_SRGB:
    case CU_AD_FORMAT_BC5_UNORM:
    case CU_AD_FORMAT_BC5_SNORM:
    case CU_AD_FORMAT_BC6H_UF16:
    case CU_AD_FORMAT_BC6H_SF16:
    case CU_AD_FORMAT_BC7_UNORM:
    case CU_AD_FORMAT_BC7_UNORM_SRGB: return {16, false};
    case CU_AD_FORMAT_NV12: return {24, false};
    default:
      // Video and planar formats: at most 8 bytes per texel (Y416 and
      // friends). Over-estimating keeps the limit a ceiling.
      return {128, false};
  }
}

uint64_t Texels(size_t width, size_t height, size_t depth) {
  return static_cast<uint64_t>(width) * std::max<size_t>(height, 1) * std::max<size_t>(depth, 1);
}

uint64_t Bytes(uint64_t texels, CUarray_format format, unsigned int channels) {
  FormatCost cost = Cost(format);
  uint64_t sixteenths = texels * cost.sixteenths * (cost.per_channel ? std::max(channels, 1u) : 1u);
  return (sixteenths + 15) / 16;
}

}  // namespace

uint64_t ArrayBytes(const CUDA_ARRAY3D_DESCRIPTOR& desc) {
  return Bytes(Texels(desc.Width, desc.Height, desc.Depth), desc.Format, desc.NumChannels);
}

uint64_t ArrayBytes(const CUDA_ARRAY_DESCRIPTOR& desc) {
  return Bytes(Texels(desc.Width, desc.Height, 1), desc.Format, desc.NumChannels);
}

uint64_t MipmappedArrayBytes(const CUDA_ARRAY3D_DESCRIPTOR& desc, unsigned int levels) {
  CUDA_ARRAY3D_DESCRIPTOR level = desc;
  uint64_t total = 0;
  bool layered = (desc.Flags & CUDA_ARRAY3D_LAYERED) != 0;
  for (unsigned int i = 0; i < std::max(levels, 1u); ++i) {
    total += ArrayBytes(level);
    level.Width = std::max<size_t>(level.Width / 2, 1);
    if (level.Height) level.Height = std::max<size_t>(level.Height / 2, 1);
    // The depth of a layered array counts layers, which do not shrink.
    if (level.Depth && !layered) level.Depth = std::max<size_t>(level.Depth / 2, 1);
  }
  return total;
}

}  // namespace tgs
