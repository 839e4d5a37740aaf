// The virtual memory management API (cuMemCreate / cuMemMap ...). Physical
// allocations are memfd objects so that a handle mapped at several virtual
// addresses shows the same bytes, as on the device. The device charged comes
// from the allocation's location, never from the calling thread's context:
// NCCL and PyTorch call cuMemCreate from threads that have none.
#pragma once

#include <cstddef>

#include "tools/simgpu/cuda_api.h"

namespace simgpu {

inline constexpr size_t kVmmGranularity = 2ULL << 20;

CUresult VmmCreate(CUmemGenericAllocationHandle* handle, size_t size, const CUmemAllocationProp* prop);
CUresult VmmRelease(CUmemGenericAllocationHandle handle);
CUresult VmmReserve(CUdeviceptr* ptr, size_t size, size_t alignment, CUdeviceptr hint);
CUresult VmmFree(CUdeviceptr ptr, size_t size);
CUresult VmmMap(CUdeviceptr ptr, size_t size, size_t offset, CUmemGenericAllocationHandle handle);
CUresult VmmUnmap(CUdeviceptr ptr, size_t size);
CUresult VmmSetAccess(CUdeviceptr ptr, size_t size, const CUmemAccessDesc* desc, size_t count);
CUresult VmmProperties(CUmemGenericAllocationHandle handle, CUmemAllocationProp* prop);

}  // namespace simgpu
