// Exported entry points: allocation, frees, memory queries, pointer queries.
#include "tools/simgpu/cuda_api.h"
#include "tools/simgpu/driver.h"
#include "tools/simgpu/ledger.h"
#include "tools/simgpu/managed.h"
#include "tools/simgpu/memory.h"

using namespace simgpu;

SIMGPU_EXPORT CUresult cuMemGetInfo_v2(size_t* free_bytes, size_t* total_bytes) {
  int device = 0;
  if (CUresult rc = CurrentDevice(&device); rc != CUDA_SUCCESS) return rc;
  if (free_bytes == nullptr || total_bytes == nullptr) return CUDA_ERROR_INVALID_VALUE;
  DeviceMemory m = QueryDeviceMemory(device);
  *free_bytes = m.free;
  *total_bytes = m.total;
  return CUDA_SUCCESS;
}

SIMGPU_EXPORT CUresult cuMemAlloc_v2(CUdeviceptr* dptr, size_t bytes) {
  if (dptr == nullptr) return Initialized() ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_INITIALIZED;
  return AllocDevice(bytes, AllocKind::kDevice, dptr);
}

SIMGPU_EXPORT CUresult cuMemAllocPitch_v2(CUdeviceptr* dptr, size_t* pitch, size_t width, size_t height,
                                          unsigned int element_size) {
  if (!Initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (dptr == nullptr || pitch == nullptr || width == 0 || height == 0) return CUDA_ERROR_INVALID_VALUE;
  if (element_size != 4 && element_size != 8 && element_size != 16) return CUDA_ERROR_INVALID_VALUE;
  size_t rounded = (width + 511) / 512 * 512;
  CUresult rc = AllocDevice(rounded * height, AllocKind::kDevice, dptr);
  if (rc == CUDA_SUCCESS) *pitch = rounded;
  return rc;
}

SIMGPU_EXPORT CUresult cuMemFree_v2(CUdeviceptr ptr) { return FreeDevice(ptr); }

SIMGPU_EXPORT CUresult cuMemAllocManaged(CUdeviceptr* dptr, size_t bytes, unsigned int flags) {
  if (!Initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (dptr == nullptr || (flags != CU_MEM_ATTACH_GLOBAL && flags != CU_MEM_ATTACH_HOST)) return CUDA_ERROR_INVALID_VALUE;
  return AllocDevice(bytes, AllocKind::kManaged, dptr);
}

SIMGPU_EXPORT CUresult cuMemAllocHost_v2(void** pp, size_t bytes) { return AllocHost(bytes, pp); }

SIMGPU_EXPORT CUresult cuMemHostAlloc(void** pp, size_t bytes, unsigned int flags) {
  (void)flags;  // portable / mapped / write-combined make no difference without a bus
  return AllocHost(bytes, pp);
}

SIMGPU_EXPORT CUresult cuMemFreeHost(void* p) { return FreeHost(p); }

SIMGPU_EXPORT CUresult cuMemGetAddressRange_v2(CUdeviceptr* base, size_t* size, CUdeviceptr ptr) {
  if (!Initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  Allocation a;
  if (!LookupAllocation(ptr, &a) || a.kind == AllocKind::kHost) return CUDA_ERROR_NOT_FOUND;
  if (base != nullptr) *base = a.base;
  if (size != nullptr) *size = a.size;
  return CUDA_SUCCESS;
}

SIMGPU_EXPORT CUresult cuPointerGetAttribute(void* data, CUpointer_attribute attribute, CUdeviceptr ptr) {
  if (!Initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (data == nullptr) return CUDA_ERROR_INVALID_VALUE;
  Allocation a;
  if (!LookupAllocation(ptr, &a)) return CUDA_ERROR_INVALID_VALUE;
  bool host = a.kind == AllocKind::kHost;
  switch (attribute) {
    case CU_POINTER_ATTRIBUTE_CONTEXT:
      *static_cast<CUcontext*>(data) = a.ctx;
      return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_MEMORY_TYPE:
      *static_cast<unsigned int*>(data) = host ? CU_MEMORYTYPE_HOST : CU_MEMORYTYPE_DEVICE;
      return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_DEVICE_POINTER:
      *static_cast<CUdeviceptr*>(data) = ptr;
      return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_HOST_POINTER:
      if (!host && a.kind != AllocKind::kManaged) return CUDA_ERROR_INVALID_VALUE;
      *static_cast<void**>(data) = reinterpret_cast<void*>(ptr);
      return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_IS_MANAGED:
      *static_cast<int*>(data) = a.kind == AllocKind::kManaged ? 1 : 0;
      return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL: {
      int device = a.device;
      if (device < 0) {
        auto ctx = FindContext(a.ctx);
        device = ctx != nullptr ? ctx->device : 0;
      }
      *static_cast<int*>(data) = device;
      return CUDA_SUCCESS;
    }
    case CU_POINTER_ATTRIBUTE_RANGE_START_ADDR:
      *static_cast<CUdeviceptr*>(data) = a.base;
      return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_RANGE_SIZE:
      *static_cast<size_t*>(data) = a.size;
      return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_MAPPED:
      *static_cast<int*>(data) = 1;
      return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_BUFFER_ID:
      *static_cast<unsigned long long*>(data) = a.base;
      return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_IS_LEGACY_CUDA_IPC_CAPABLE:
      *static_cast<int*>(data) = a.kind == AllocKind::kDevice ? 1 : 0;
      return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_MEMPOOL_HANDLE:
      *static_cast<CUmemoryPool*>(data) = a.kind == AllocKind::kPoolBlock ? reinterpret_cast<CUmemoryPool>(a.pool) : nullptr;
      return CUDA_SUCCESS;
    default:
      return CUDA_ERROR_INVALID_VALUE;
  }
}

SIMGPU_EXPORT CUresult cuMemPrefetchAsync_v2(CUdeviceptr ptr, size_t count, CUmemLocation location, unsigned int flags,
                                             CUstream stream) {
  (void)flags;
  return PrefetchManaged(ptr, count, location, stream, false);
}

SIMGPU_EXPORT CUresult cuMemPrefetchAsync_v2_ptsz(CUdeviceptr ptr, size_t count, CUmemLocation location,
                                                  unsigned int flags, CUstream stream) {
  (void)flags;
  return PrefetchManaged(ptr, count, location, stream, true);
}

namespace {
CUmemLocation LocationOfDevice(CUdevice dev) {
  CUmemLocation loc{};
  if (dev == CU_DEVICE_CPU) {
    loc.type = CU_MEM_LOCATION_TYPE_HOST;
  } else {
    loc.type = CU_MEM_LOCATION_TYPE_DEVICE;
    loc.id = dev;
  }
  return loc;
}
}  // namespace

SIMGPU_EXPORT CUresult cuMemPrefetchAsync(CUdeviceptr ptr, size_t count, CUdevice dst, CUstream stream) {
  return PrefetchManaged(ptr, count, LocationOfDevice(dst), stream, false);
}

SIMGPU_EXPORT CUresult cuMemPrefetchAsync_ptsz(CUdeviceptr ptr, size_t count, CUdevice dst, CUstream stream) {
  return PrefetchManaged(ptr, count, LocationOfDevice(dst), stream, true);
}

SIMGPU_EXPORT CUresult cuMemAdvise_v2(CUdeviceptr ptr, size_t count, CUmem_advise advice, CUmemLocation location) {
  return AdviseManaged(ptr, count, advice, location);
}

SIMGPU_EXPORT CUresult cuMemAdvise(CUdeviceptr ptr, size_t count, CUmem_advise advice, CUdevice device) {
  return AdviseManaged(ptr, count, advice, LocationOfDevice(device));
}

SIMGPU_EXPORT CUresult cuMemRangeGetAttribute(void* data, size_t size, CUmem_range_attribute attribute, CUdeviceptr ptr,
                                              size_t count) {
  return ManagedRangeAttribute(data, size, attribute, ptr, count);
}

SIMGPU_EXPORT CUresult cuMemRangeGetAttributes(void** data, size_t* sizes, CUmem_range_attribute* attributes,
                                               size_t n, CUdeviceptr ptr, size_t count) {
  if (!Initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (data == nullptr || sizes == nullptr || attributes == nullptr || n == 0) return CUDA_ERROR_INVALID_VALUE;
  for (size_t i = 0; i < n; ++i) {
    CUresult rc = ManagedRangeAttribute(data[i], sizes[i], attributes[i], ptr, count);
    if (rc != CUDA_SUCCESS) return rc;
  }
  return CUDA_SUCCESS;
}
