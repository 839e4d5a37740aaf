// Prefetch and advice for managed memory (see managed.cc for what is modelled).
#pragma once

#include "tools/simgpu/cuda_api.h"

namespace simgpu {

CUresult PrefetchManaged(CUdeviceptr ptr, size_t count, CUmemLocation location);
CUresult AdviseManaged(CUdeviceptr ptr, size_t count, CUmem_advise advice, CUmemLocation location);

}  // namespace simgpu
