// The pre-3.2 entry points with 32-bit sizes and device pointers. Nothing
// built since CUDA 3.2 calls them (cuda.h maps every name to its _v2), and a
// 64-bit address space cannot honour them, so they fail cleanly.
#include "tools/simgpu/cuda_api.h"

#define SIMGPU_LEGACY(name, params) \
  SIMGPU_EXPORT CUresult name params { return CUDA_ERROR_NOT_SUPPORTED; }

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
SIMGPU_LEGACY(cuDeviceTotalMem, (unsigned int* bytes, CUdevice dev))
SIMGPU_LEGACY(cuMemGetInfo, (unsigned int* free_bytes, unsigned int* total))
SIMGPU_LEGACY(cuMemAlloc, (CUdeviceptr_v1 * dptr, unsigned int bytes))
SIMGPU_LEGACY(cuMemAllocPitch, (CUdeviceptr_v1 * dptr, unsigned int* pitch, unsigned int w, unsigned int h,
                                unsigned int element))
SIMGPU_LEGACY(cuMemFree, (CUdeviceptr_v1 dptr))
SIMGPU_LEGACY(cuMemGetAddressRange, (CUdeviceptr_v1 * base, unsigned int* size, CUdeviceptr_v1 dptr))
SIMGPU_LEGACY(cuMemAllocHost, (void** pp, unsigned int bytes))
SIMGPU_LEGACY(cuMemcpyHtoD, (CUdeviceptr_v1 dst, const void* src, unsigned int n))
SIMGPU_LEGACY(cuMemcpyDtoH, (void* dst, CUdeviceptr_v1 src, unsigned int n))
SIMGPU_LEGACY(cuMemcpyDtoD, (CUdeviceptr_v1 dst, CUdeviceptr_v1 src, unsigned int n))
SIMGPU_LEGACY(cuMemcpyHtoDAsync, (CUdeviceptr_v1 dst, const void* src, unsigned int n, CUstream s))
SIMGPU_LEGACY(cuMemcpyDtoHAsync, (void* dst, CUdeviceptr_v1 src, unsigned int n, CUstream s))
SIMGPU_LEGACY(cuMemcpyDtoDAsync, (CUdeviceptr_v1 dst, CUdeviceptr_v1 src, unsigned int n, CUstream s))
SIMGPU_LEGACY(cuMemsetD8, (CUdeviceptr_v1 dst, unsigned char v, unsigned int n))
SIMGPU_LEGACY(cuMemsetD16, (CUdeviceptr_v1 dst, unsigned short v, unsigned int n))
SIMGPU_LEGACY(cuMemsetD32, (CUdeviceptr_v1 dst, unsigned int v, unsigned int n))
SIMGPU_LEGACY(cuArrayCreate, (CUarray * handle, const CUDA_ARRAY_DESCRIPTOR_v1* desc))
SIMGPU_LEGACY(cuArray3DCreate, (CUarray * handle, const CUDA_ARRAY3D_DESCRIPTOR_v1* desc))
SIMGPU_LEGACY(cuArrayGetDescriptor, (CUDA_ARRAY_DESCRIPTOR_v1 * desc, CUarray handle))
SIMGPU_LEGACY(cuArray3DGetDescriptor, (CUDA_ARRAY3D_DESCRIPTOR_v1 * desc, CUarray handle))
#pragma GCC diagnostic pop
