// The unified-memory API layer: argument checking and CUDA semantics of
// prefetch, advice and range attributes. Residency itself (what is where,
// eviction, transfer cost) is residency.h.
#pragma once

#include "tools/simgpu/cuda_api.h"

namespace simgpu {

// Queues a prefetch on `stream` (recorded as a graph node when it is capturing).
CUresult PrefetchManaged(CUdeviceptr ptr, size_t count, CUmemLocation location, CUstream stream, bool per_thread);
CUresult AdviseManaged(CUdeviceptr ptr, size_t count, CUmem_advise advice, CUmemLocation location);
CUresult ManagedRangeAttribute(void* data, size_t size, CUmem_range_attribute attribute, CUdeviceptr ptr,
                               size_t count);

}  // namespace simgpu
