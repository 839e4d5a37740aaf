// Unified (managed) memory hints. Residency is not modelled yet: managed
// allocations are charged as device memory for their whole life, so prefetch
// and advice only validate their arguments. A residency model (pages evicted
// to host under oversubscription, prefetched back) plugs in here.
#include "tools/simgpu/managed.h"

#include "tools/simgpu/driver.h"
#include "tools/simgpu/memory.h"

namespace simgpu {

namespace {
bool ValidLocation(const CUmemLocation& loc) {
  switch (loc.type) {
    case CU_MEM_LOCATION_TYPE_DEVICE:
      return ValidDevice(loc.id);
    case CU_MEM_LOCATION_TYPE_HOST:
    case CU_MEM_LOCATION_TYPE_HOST_NUMA:
    case CU_MEM_LOCATION_TYPE_HOST_NUMA_CURRENT:
      return true;
    default:
      return false;
  }
}

bool ManagedRange(CUdeviceptr ptr, size_t count) {
  Allocation a;
  return count != 0 && LookupAllocation(ptr, &a) && a.kind == AllocKind::kManaged && ptr + count <= a.base + a.size;
}
}  // namespace

CUresult PrefetchManaged(CUdeviceptr ptr, size_t count, CUmemLocation location) {
  if (CUresult rc = CheckInit(); rc != CUDA_SUCCESS) return rc;
  if (!ManagedRange(ptr, count) || !ValidLocation(location)) return CUDA_ERROR_INVALID_VALUE;
  return CUDA_SUCCESS;
}

CUresult AdviseManaged(CUdeviceptr ptr, size_t count, CUmem_advise advice, CUmemLocation location) {
  if (CUresult rc = CheckInit(); rc != CUDA_SUCCESS) return rc;
  if (!ManagedRange(ptr, count)) return CUDA_ERROR_INVALID_VALUE;
  switch (advice) {
    case CU_MEM_ADVISE_SET_READ_MOSTLY:
    case CU_MEM_ADVISE_UNSET_READ_MOSTLY:
    case CU_MEM_ADVISE_UNSET_PREFERRED_LOCATION:
      return CUDA_SUCCESS;
    case CU_MEM_ADVISE_SET_PREFERRED_LOCATION:
    case CU_MEM_ADVISE_SET_ACCESSED_BY:
    case CU_MEM_ADVISE_UNSET_ACCESSED_BY:
      return ValidLocation(location) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
    default:
      return CUDA_ERROR_INVALID_VALUE;
  }
}

}  // namespace simgpu
