#include "tools/simgpu/vmm.h"

#include <sys/mman.h>
#include <unistd.h>

#include <map>
#include <mutex>

#include "tools/simgpu/driver.h"
#include "tools/simgpu/ledger.h"
#include "tools/simgpu/memory.h"
#include "tools/simgpu/registry.h"

namespace simgpu {
namespace {

struct Physical {
  size_t size = 0;
  CUmemAllocationProp prop{};
  int device = -1;  // charged device; -1 for host locations
  int fd = -1;
  int refs = 1;     // the handle itself plus one per mapping
};

struct Mapping {
  size_t size;
  Physical* phys;
};

struct VmmState {
  std::mutex mu;  // guards everything below
  std::map<uintptr_t, size_t> reservations;
  std::map<uintptr_t, Mapping> mappings;
  std::map<CUmemGenericAllocationHandle, Physical*> handles;
};
VmmState& State() { return Leaked<VmmState>(); }

// Lock held.
void DropRefLocked(Physical* p) {
  if (--p->refs > 0) return;
  close(p->fd);
  if (p->device >= 0) CreditDevice(p->device, p->size);
  delete p;
}

bool InsideReservationLocked(uintptr_t ptr, size_t size) {
  auto& r = State().reservations;
  auto it = r.upper_bound(ptr);
  if (it == r.begin()) return false;
  --it;
  return ptr + size <= it->first + it->second;
}

}  // namespace

CUresult VmmCreate(CUmemGenericAllocationHandle* handle, size_t size, const CUmemAllocationProp* prop) {
  if (CUresult rc = CheckInit(); rc != CUDA_SUCCESS) return rc;
  if (handle == nullptr || prop == nullptr || size == 0 || size % kVmmGranularity != 0) return CUDA_ERROR_INVALID_VALUE;
  if (prop->type != CU_MEM_ALLOCATION_TYPE_PINNED) return CUDA_ERROR_INVALID_VALUE;
  int device = -1;
  switch (prop->location.type) {
    case CU_MEM_LOCATION_TYPE_DEVICE:
      if (!ValidDevice(prop->location.id)) return CUDA_ERROR_INVALID_DEVICE;
      device = prop->location.id;
      break;
    case CU_MEM_LOCATION_TYPE_HOST:
    case CU_MEM_LOCATION_TYPE_HOST_NUMA:
    case CU_MEM_LOCATION_TYPE_HOST_NUMA_CURRENT:
      break;  // host memory: not device capacity
    default:
      return CUDA_ERROR_INVALID_VALUE;
  }
  if (device >= 0 && !ChargeDevice(device, size)) return CUDA_ERROR_OUT_OF_MEMORY;
  int fd = memfd_create("simgpu-vmm", MFD_CLOEXEC);
  if (fd < 0 || ftruncate(fd, static_cast<off_t>(size)) != 0) {
    if (fd >= 0) close(fd);
    if (device >= 0) CreditDevice(device, size);
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  auto* p = new Physical{size, *prop, device, fd, 1};
  std::lock_guard<std::mutex> guard(State().mu);
  auto key = reinterpret_cast<CUmemGenericAllocationHandle>(p);
  State().handles[key] = p;
  *handle = key;
  return CUDA_SUCCESS;
}

CUresult VmmRelease(CUmemGenericAllocationHandle handle) {
  if (CUresult rc = CheckInit(); rc != CUDA_SUCCESS) return rc;
  std::lock_guard<std::mutex> guard(State().mu);
  auto it = State().handles.find(handle);
  if (it == State().handles.end()) return CUDA_ERROR_INVALID_VALUE;
  Physical* p = it->second;
  State().handles.erase(it);
  // Memory stays charged until the last mapping goes, as on the device.
  DropRefLocked(p);
  return CUDA_SUCCESS;
}

CUresult VmmReserve(CUdeviceptr* ptr, size_t size, size_t alignment, CUdeviceptr hint) {
  if (CUresult rc = CheckInit(); rc != CUDA_SUCCESS) return rc;
  if (ptr == nullptr || size == 0 || size % kVmmGranularity != 0) return CUDA_ERROR_INVALID_VALUE;
  if (alignment == 0) alignment = kVmmGranularity;
  if ((alignment & (alignment - 1)) != 0) return CUDA_ERROR_INVALID_VALUE;
  (void)hint;  // a hint, which the driver is free to ignore
  size_t span = size + alignment;
  void* raw = mmap(nullptr, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (raw == MAP_FAILED) return CUDA_ERROR_OUT_OF_MEMORY;
  uintptr_t base = (reinterpret_cast<uintptr_t>(raw) + alignment - 1) & ~(alignment - 1);
  uintptr_t end = base + size;
  if (base > reinterpret_cast<uintptr_t>(raw)) munmap(raw, base - reinterpret_cast<uintptr_t>(raw));
  if (reinterpret_cast<uintptr_t>(raw) + span > end) munmap(reinterpret_cast<void*>(end), reinterpret_cast<uintptr_t>(raw) + span - end);
  std::lock_guard<std::mutex> guard(State().mu);
  State().reservations[base] = size;
  *ptr = base;
  return CUDA_SUCCESS;
}

CUresult VmmFree(CUdeviceptr ptr, size_t size) {
  if (CUresult rc = CheckInit(); rc != CUDA_SUCCESS) return rc;
  std::lock_guard<std::mutex> guard(State().mu);
  auto it = State().reservations.find(ptr);
  if (it == State().reservations.end() || it->second != size) return CUDA_ERROR_INVALID_VALUE;
  auto m = State().mappings.lower_bound(ptr);
  if (m != State().mappings.end() && m->first < ptr + size) return CUDA_ERROR_INVALID_VALUE;  // still mapped
  munmap(reinterpret_cast<void*>(ptr), size);
  State().reservations.erase(it);
  return CUDA_SUCCESS;
}

CUresult VmmMap(CUdeviceptr ptr, size_t size, size_t offset, CUmemGenericAllocationHandle handle) {
  if (CUresult rc = CheckInit(); rc != CUDA_SUCCESS) return rc;
  if (size == 0 || size % kVmmGranularity != 0 || ptr % kVmmGranularity != 0 || offset % kVmmGranularity != 0) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  std::lock_guard<std::mutex> guard(State().mu);
  auto h = State().handles.find(handle);
  if (h == State().handles.end()) return CUDA_ERROR_INVALID_HANDLE;
  Physical* p = h->second;
  if (offset + size > p->size || !InsideReservationLocked(ptr, size)) return CUDA_ERROR_INVALID_VALUE;
  auto m = State().mappings.lower_bound(ptr);
  if (m != State().mappings.end() && m->first < ptr + size) return CUDA_ERROR_INVALID_VALUE;
  if (m != State().mappings.begin() && std::prev(m)->first + std::prev(m)->second.size > ptr) return CUDA_ERROR_INVALID_VALUE;
  // No access until cuMemSetAccess, as on the device.
  void* at = mmap(reinterpret_cast<void*>(ptr), size, PROT_NONE, MAP_SHARED | MAP_FIXED, p->fd, static_cast<off_t>(offset));
  if (at == MAP_FAILED) return CUDA_ERROR_OUT_OF_MEMORY;
  ++p->refs;
  State().mappings[ptr] = Mapping{size, p};
  Allocation a;
  a.base = ptr;
  a.size = size;
  a.mapped = size;
  a.device = p->device >= 0 ? p->device : -1;
  a.kind = AllocKind::kVmmMapping;
  InsertAllocation(a);
  return CUDA_SUCCESS;
}

CUresult VmmUnmap(CUdeviceptr ptr, size_t size) {
  if (CUresult rc = CheckInit(); rc != CUDA_SUCCESS) return rc;
  std::lock_guard<std::mutex> guard(State().mu);
  auto& maps = State().mappings;
  auto it = maps.lower_bound(ptr);
  if (it == maps.end() || it->first != ptr) return CUDA_ERROR_INVALID_VALUE;
  uintptr_t end = ptr + size;
  while (it != maps.end() && it->first < end) {
    if (it->first + it->second.size > end) return CUDA_ERROR_INVALID_VALUE;
    mmap(reinterpret_cast<void*>(it->first), it->second.size, PROT_NONE,
         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
    EraseAllocation(it->first, nullptr);
    DropRefLocked(it->second.phys);
    it = maps.erase(it);
  }
  return CUDA_SUCCESS;
}

CUresult VmmSetAccess(CUdeviceptr ptr, size_t size, const CUmemAccessDesc* desc, size_t count) {
  if (CUresult rc = CheckInit(); rc != CUDA_SUCCESS) return rc;
  if (desc == nullptr || count == 0) return CUDA_ERROR_INVALID_VALUE;
  int prot = PROT_NONE;
  for (size_t i = 0; i < count; ++i) {
    if (desc[i].location.type == CU_MEM_LOCATION_TYPE_DEVICE && !ValidDevice(desc[i].location.id)) {
      return CUDA_ERROR_INVALID_DEVICE;
    }
    if (desc[i].flags == CU_MEM_ACCESS_FLAGS_PROT_READWRITE) prot = PROT_READ | PROT_WRITE;
    if (desc[i].flags == CU_MEM_ACCESS_FLAGS_PROT_READ && prot == PROT_NONE) prot = PROT_READ;
  }
  std::lock_guard<std::mutex> guard(State().mu);
  auto& maps = State().mappings;
  auto it = maps.upper_bound(ptr);
  if (it == maps.begin()) return CUDA_ERROR_INVALID_VALUE;
  --it;
  uintptr_t cursor = ptr, end = ptr + size;
  // The whole range must be mapped, possibly by several consecutive mappings.
  while (cursor < end) {
    if (it == maps.end() || it->first > cursor || it->first + it->second.size <= cursor) return CUDA_ERROR_INVALID_VALUE;
    cursor = it->first + it->second.size;
    ++it;
  }
  mprotect(reinterpret_cast<void*>(ptr), size, prot);
  return CUDA_SUCCESS;
}

CUresult VmmProperties(CUmemGenericAllocationHandle handle, CUmemAllocationProp* prop) {
  if (CUresult rc = CheckInit(); rc != CUDA_SUCCESS) return rc;
  if (prop == nullptr) return CUDA_ERROR_INVALID_VALUE;
  std::lock_guard<std::mutex> guard(State().mu);
  auto h = State().handles.find(handle);
  if (h == State().handles.end()) return CUDA_ERROR_INVALID_VALUE;
  *prop = h->second->prop;
  return CUDA_SUCCESS;
}

}  // namespace simgpu
