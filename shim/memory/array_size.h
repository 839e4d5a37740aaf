// Device bytes a CUDA array will occupy, computed from its descriptor before
// the driver is asked, so that an array over the limit is refused up front.
// Driver padding and tiling are not visible through the API; the count is
// texels x bytes per texel, an estimate the limit is enforced against.
#pragma once

#include <cstdint>

#include <cuda.h>

namespace tgs {

// 0 for an unknown format or zero width.
uint64_t ArrayBytes(const CUDA_ARRAY3D_DESCRIPTOR& desc);
uint64_t ArrayBytes(const CUDA_ARRAY_DESCRIPTOR& desc);
// Sum over `levels` mip levels, each dimension halving (never below 1).
uint64_t MipmappedArrayBytes(const CUDA_ARRAY3D_DESCRIPTOR& desc, unsigned int levels);

}  // namespace tgs
