// Exported entry points: virtual memory management and arrays.
#include "tools/simgpu/cuda_api.h"
#include "tools/simgpu/driver.h"
#include "tools/simgpu/memory.h"
#include "tools/simgpu/vmm.h"

using namespace simgpu;

SIMGPU_EXPORT CUresult cuMemCreate(CUmemGenericAllocationHandle* handle, size_t size, const CUmemAllocationProp* prop,
                                   unsigned long long flags) {
  if (flags != 0) return Initialized() ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_INITIALIZED;
  return VmmCreate(handle, size, prop);
}
SIMGPU_EXPORT CUresult cuMemRelease(CUmemGenericAllocationHandle handle) { return VmmRelease(handle); }
SIMGPU_EXPORT CUresult cuMemAddressReserve(CUdeviceptr* ptr, size_t size, size_t alignment, CUdeviceptr addr,
                                           unsigned long long flags) {
  (void)flags;
  return VmmReserve(ptr, size, alignment, addr);
}
SIMGPU_EXPORT CUresult cuMemAddressFree(CUdeviceptr ptr, size_t size) { return VmmFree(ptr, size); }
SIMGPU_EXPORT CUresult cuMemMap(CUdeviceptr ptr, size_t size, size_t offset, CUmemGenericAllocationHandle handle,
                                unsigned long long flags) {
  if (flags != 0) return Initialized() ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_INITIALIZED;
  return VmmMap(ptr, size, offset, handle);
}
SIMGPU_EXPORT CUresult cuMemUnmap(CUdeviceptr ptr, size_t size) { return VmmUnmap(ptr, size); }
SIMGPU_EXPORT CUresult cuMemSetAccess(CUdeviceptr ptr, size_t size, const CUmemAccessDesc* desc, size_t count) {
  return VmmSetAccess(ptr, size, desc, count);
}
SIMGPU_EXPORT CUresult cuMemGetAllocationGranularity(size_t* granularity, const CUmemAllocationProp* prop,
                                                     CUmemAllocationGranularity_flags option) {
  if (!Initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (granularity == nullptr || prop == nullptr) return CUDA_ERROR_INVALID_VALUE;
  if (option != CU_MEM_ALLOC_GRANULARITY_MINIMUM && option != CU_MEM_ALLOC_GRANULARITY_RECOMMENDED) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  if (prop->location.type == CU_MEM_LOCATION_TYPE_DEVICE && !ValidDevice(prop->location.id)) {
    return CUDA_ERROR_INVALID_DEVICE;
  }
  *granularity = kVmmGranularity;
  return CUDA_SUCCESS;
}
SIMGPU_EXPORT CUresult cuMemGetAllocationPropertiesFromHandle(CUmemAllocationProp* prop,
                                                              CUmemGenericAllocationHandle handle) {
  return VmmProperties(handle, prop);
}

SIMGPU_EXPORT CUresult cuArray3DCreate_v2(CUarray* handle, const CUDA_ARRAY3D_DESCRIPTOR* desc) {
  if (handle == nullptr) return Initialized() ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_INITIALIZED;
  void* out = nullptr;
  CUresult rc = CreateArray(desc, 1, false, &out);
  if (rc == CUDA_SUCCESS) *handle = static_cast<CUarray>(out);
  return rc;
}

SIMGPU_EXPORT CUresult cuArrayCreate_v2(CUarray* handle, const CUDA_ARRAY_DESCRIPTOR* desc) {
  if (desc == nullptr) return Initialized() ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_INITIALIZED;
  CUDA_ARRAY3D_DESCRIPTOR d{};
  d.Width = desc->Width;
  d.Height = desc->Height;
  d.Format = desc->Format;
  d.NumChannels = desc->NumChannels;
  return cuArray3DCreate_v2(handle, &d);
}

SIMGPU_EXPORT CUresult cuArrayDestroy(CUarray handle) { return DestroyArray(handle, false); }

SIMGPU_EXPORT CUresult cuArray3DGetDescriptor_v2(CUDA_ARRAY3D_DESCRIPTOR* out, CUarray handle) {
  return ArrayDescriptor(handle, out);
}

SIMGPU_EXPORT CUresult cuArrayGetDescriptor_v2(CUDA_ARRAY_DESCRIPTOR* out, CUarray handle) {
  if (out == nullptr) return Initialized() ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_INITIALIZED;
  CUDA_ARRAY3D_DESCRIPTOR d{};
  CUresult rc = ArrayDescriptor(handle, &d);
  if (rc != CUDA_SUCCESS) return rc;
  out->Width = d.Width;
  out->Height = d.Height;
  out->Format = d.Format;
  out->NumChannels = d.NumChannels;
  return CUDA_SUCCESS;
}

SIMGPU_EXPORT CUresult cuMipmappedArrayCreate(CUmipmappedArray* handle, const CUDA_ARRAY3D_DESCRIPTOR* desc,
                                              unsigned int levels) {
  if (handle == nullptr) return Initialized() ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_INITIALIZED;
  void* out = nullptr;
  CUresult rc = CreateArray(desc, levels, true, &out);
  if (rc == CUDA_SUCCESS) *handle = static_cast<CUmipmappedArray>(out);
  return rc;
}

SIMGPU_EXPORT CUresult cuMipmappedArrayDestroy(CUmipmappedArray handle) { return DestroyArray(handle, true); }
