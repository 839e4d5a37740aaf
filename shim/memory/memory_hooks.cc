// Every driver entry point that takes or returns device memory. The pattern
// is the same everywhere: work out which GPU and how many bytes, charge them
// (refusing with CUDA_ERROR_OUT_OF_MEMORY without calling the driver when the
// container would exceed its limit), call the driver, and undo the charge if
// the driver failed. Frees return exactly what the allocation was charged.
#include <algorithm>

#include "shim/core/runtime.h"
#include "shim/interpose/hooks.h"
#include "shim/memory/allocation_table.h"
#include "shim/memory/array_size.h"
#include "shim/memory/quota.h"
#include "shim/memory/residency.h"
#include "shim/util/log.h"

namespace tgs::hooks {
namespace {

// Separate tables: device addresses, VMM handles and array handles are
// different name spaces that could share numeric values.
AllocationTable& DevicePointers() {
  static auto* table = new AllocationTable();
  return *table;
}
AllocationTable& VmmHandles() {
  static auto* table = new AllocationTable();
  return *table;
}
AllocationTable& Arrays() {
  static auto* table = new AllocationTable();
  return *table;
}
AllocationTable& Pools() {  // memory pool -> container GPU (bytes unused)
  static auto* table = new AllocationTable();
  return *table;
}

const RealCuda& Real() { return Runtime::Get().real(); }

// Charges, calls the driver through `allocate` (which returns the new
// object's key through its argument), and records the charge under that key.
template <typename Allocate>
CUresult Charged(AllocationTable& table, int gpu, uint64_t bytes, const char* api, Allocate allocate) {
  if (!quota::Reserve(gpu, bytes, api)) return CUDA_ERROR_OUT_OF_MEMORY;
  uint64_t key = 0;
  CUresult r = allocate(&key);
  if (r != CUDA_SUCCESS) {
    quota::Release(gpu, bytes);
    return r;
  }
  if (gpu >= 0) table.Insert(key, Charge{gpu, bytes});
  return r;
}

// Frees through `release`, returning the charge only if the driver accepted.
template <typename Free>
CUresult Uncharged(AllocationTable& table, uint64_t key, Free release) {
  std::optional<Charge> charge = table.Take(key);
  CUresult r = release();
  if (charge) {
    if (r == CUDA_SUCCESS) {
      quota::Release(charge->gpu, charge->bytes);
    } else {
      table.Insert(key, *charge);
    }
  }
  return r;
}

int GpuForPool(CUmemoryPool pool, CUstream stream) {
  if (auto charge = Pools().Find(reinterpret_cast<uint64_t>(pool))) return charge->gpu;
  // A pool the shim did not see created (a device's default pool) lives on
  // the stream's device.
  return Runtime::Get().GpuForStream(stream);
}

CUresult RefuseLegacy(const char* api) {
  TGS_LOG_WARN("%s (the pre-CUDA-3.2 32-bit entry point) is not supported under TGS; use its _v2 successor", api);
  return CUDA_ERROR_NOT_SUPPORTED;
}

CUresult AllocAsync(CUresult (*real)(CUdeviceptr*, size_t, CUstream), const char* api, CUdeviceptr* dptr,
                    size_t bytesize, CUstream hStream) {
  if (dptr == nullptr || bytesize == 0) return CallReal(real, dptr, bytesize, hStream);
  int gpu = Runtime::Get().GpuForStream(hStream);
  if (residency::Enabled()) residency::NoteDeviceFallback(gpu, api);
  return Charged(DevicePointers(), gpu, bytesize, api, [&](uint64_t* key) {
    CUresult r = CallReal(real, dptr, bytesize, hStream);
    *key = *dptr;
    return r;
  });
}

CUresult AllocFromPool(CUresult (*real)(CUdeviceptr*, size_t, CUmemoryPool, CUstream), const char* api,
                       CUdeviceptr* dptr, size_t bytesize, CUmemoryPool pool, CUstream hStream) {
  if (dptr == nullptr || bytesize == 0 || pool == nullptr) return CallReal(real, dptr, bytesize, pool, hStream);
  int gpu = GpuForPool(pool, hStream);
  if (residency::Enabled()) residency::NoteDeviceFallback(gpu, api);
  return Charged(DevicePointers(), gpu, bytesize, api, [&](uint64_t* key) {
    CUresult r = CallReal(real, dptr, bytesize, pool, hStream);
    *key = *dptr;
    return r;
  });
}

CUresult FreeAsync(CUresult (*real)(CUdeviceptr, CUstream), CUdeviceptr dptr, CUstream hStream) {
  // Credited when the free is enqueued: later allocations in stream order
  // may reuse the memory from that point on.
  return Uncharged(DevicePointers(), dptr, [&] {
    CUresult r = CallReal(real, dptr, hStream);
    if (r == CUDA_SUCCESS && residency::Enabled()) residency::Forget(dptr);
    return r;
  });
}

}  // namespace

CUresult cuMemAlloc(unsigned int*, unsigned int) { return RefuseLegacy("cuMemAlloc"); }
CUresult cuMemAllocPitch(unsigned int*, unsigned int*, unsigned int, unsigned int, unsigned int) {
  return RefuseLegacy("cuMemAllocPitch");
}
CUresult cuArrayCreate(CUarray*, const void*) { return RefuseLegacy("cuArrayCreate"); }
CUresult cuArray3DCreate(CUarray*, const void*) { return RefuseLegacy("cuArray3DCreate"); }

CUresult cuMemAlloc_v2(CUdeviceptr* dptr, size_t bytesize) {
  if (dptr == nullptr || bytesize == 0) return CallReal(Real().cuMemAlloc_v2, dptr, bytesize);
  int gpu = Runtime::Get().GpuForCurrentContext();
  // Oversubscribing: the same charge against the limit, but managed memory
  // the driver may evict to the host (residency.h).
  bool managed = gpu >= 0 && residency::Enabled();
  return Charged(DevicePointers(), gpu, bytesize, "cuMemAlloc", [&](uint64_t* key) {
    CUresult r = managed ? residency::AllocateManaged(gpu, bytesize, dptr)
                         : CallReal(Real().cuMemAlloc_v2, dptr, bytesize);
    *key = *dptr;
    return r;
  });
}

CUresult cuMemAllocManaged(CUdeviceptr* dptr, size_t bytesize, unsigned int flags) {
  if (dptr == nullptr || bytesize == 0) return CallReal(Real().cuMemAllocManaged, dptr, bytesize, flags);
  int gpu = Runtime::Get().GpuForCurrentContext();
  return Charged(DevicePointers(), gpu, bytesize, "cuMemAllocManaged", [&](uint64_t* key) {
    CUresult r = CallReal(Real().cuMemAllocManaged, dptr, bytesize, flags);
    if (r == CUDA_SUCCESS && gpu >= 0 && residency::Enabled()) residency::Track(gpu, *dptr, bytesize);
    *key = *dptr;
    return r;
  });
}

CUresult cuMemAllocPitch_v2(CUdeviceptr* dptr, size_t* pPitch, size_t WidthInBytes, size_t Height,
                            unsigned int ElementSizeBytes) {
  auto real = Real().cuMemAllocPitch_v2;
  if (dptr == nullptr || pPitch == nullptr || WidthInBytes == 0 || Height == 0) {
    return CallReal(real, dptr, pPitch, WidthInBytes, Height, ElementSizeBytes);
  }
  // The pitch is the driver's choice; charge a row padded to 512 bytes (what
  // drivers use) up front, then settle on the pitch actually returned.
  int gpu = Runtime::Get().GpuForCurrentContext();
  if (residency::Enabled()) residency::NoteDeviceFallback(gpu, "cuMemAllocPitch");
  uint64_t estimate = ((static_cast<uint64_t>(WidthInBytes) + 511) / 512) * 512 * Height;
  if (!quota::Reserve(gpu, estimate, "cuMemAllocPitch")) return CUDA_ERROR_OUT_OF_MEMORY;
  CUresult r = CallReal(real, dptr, pPitch, WidthInBytes, Height, ElementSizeBytes);
  if (r != CUDA_SUCCESS) {
    quota::Release(gpu, estimate);
    return r;
  }
  uint64_t actual = static_cast<uint64_t>(*pPitch) * Height;
  if (actual > estimate && !quota::Reserve(gpu, actual - estimate, "cuMemAllocPitch")) {
    CallReal(Real().cuMemFree_v2, *dptr);
    quota::Release(gpu, estimate);
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  if (actual < estimate) quota::Release(gpu, estimate - actual);
  if (gpu >= 0) DevicePointers().Insert(*dptr, Charge{gpu, actual});
  return r;
}

CUresult cuMemFree_v2(CUdeviceptr dptr) {
  return Uncharged(DevicePointers(), dptr, [&] {
    CUresult r = CallReal(Real().cuMemFree_v2, dptr);
    if (r == CUDA_SUCCESS && residency::Enabled()) residency::Forget(dptr);
    return r;
  });
}

CUresult cuMemAllocAsync(CUdeviceptr* dptr, size_t bytesize, CUstream hStream) {
  return AllocAsync(Real().cuMemAllocAsync, "cuMemAllocAsync", dptr, bytesize, hStream);
}
CUresult cuMemAllocAsync_ptsz(CUdeviceptr* dptr, size_t bytesize, CUstream hStream) {
  return AllocAsync(Real().cuMemAllocAsync_ptsz, "cuMemAllocAsync", dptr, bytesize, hStream);
}
CUresult cuMemAllocFromPoolAsync(CUdeviceptr* dptr, size_t bytesize, CUmemoryPool pool, CUstream hStream) {
  return AllocFromPool(Real().cuMemAllocFromPoolAsync, "cuMemAllocFromPoolAsync", dptr, bytesize, pool, hStream);
}
CUresult cuMemAllocFromPoolAsync_ptsz(CUdeviceptr* dptr, size_t bytesize, CUmemoryPool pool, CUstream hStream) {
  return AllocFromPool(Real().cuMemAllocFromPoolAsync_ptsz, "cuMemAllocFromPoolAsync", dptr, bytesize, pool,
                       hStream);
}
CUresult cuMemFreeAsync(CUdeviceptr dptr, CUstream hStream) {
  return FreeAsync(Real().cuMemFreeAsync, dptr, hStream);
}
CUresult cuMemFreeAsync_ptsz(CUdeviceptr dptr, CUstream hStream) {
  return FreeAsync(Real().cuMemFreeAsync_ptsz, dptr, hStream);
}

CUresult cuMemPoolCreate(CUmemoryPool* pool, const CUmemPoolProps* poolProps) {
  CUresult r = CallReal(Real().cuMemPoolCreate, pool, poolProps);
  if (r == CUDA_SUCCESS && poolProps->location.type == CU_MEM_LOCATION_TYPE_DEVICE) {
    int gpu = Runtime::Get().GpuForDevice(poolProps->location.id);
    if (gpu >= 0) Pools().Insert(reinterpret_cast<uint64_t>(*pool), Charge{gpu, 0});
  }
  return r;
}

CUresult cuMemCreate(CUmemGenericAllocationHandle* handle, size_t size, const CUmemAllocationProp* prop,
                     unsigned long long flags) {
  auto real = Real().cuMemCreate;
  // The device comes from the allocation's properties, never from the current
  // context: NCCL and VMM pools call this from threads that have none. Host
  // and host-NUMA locations are not device memory.
  if (handle == nullptr || prop == nullptr || size == 0 || prop->location.type != CU_MEM_LOCATION_TYPE_DEVICE) {
    return CallReal(real, handle, size, prop, flags);
  }
  int gpu = Runtime::Get().GpuForDevice(prop->location.id);
  if (residency::Enabled()) residency::NoteDeviceFallback(gpu, "cuMemCreate");
  return Charged(VmmHandles(), gpu, size, "cuMemCreate", [&](uint64_t* key) {
    CUresult r = CallReal(real, handle, size, prop, flags);
    *key = *handle;
    return r;
  });
}

CUresult cuMemRelease(CUmemGenericAllocationHandle handle) {
  return Uncharged(VmmHandles(), handle, [&] { return CallReal(Real().cuMemRelease, handle); });
}

CUresult cuArrayCreate_v2(CUarray* pHandle, const CUDA_ARRAY_DESCRIPTOR* desc) {
  if (pHandle == nullptr || desc == nullptr) return CallReal(Real().cuArrayCreate_v2, pHandle, desc);
  int gpu = Runtime::Get().GpuForCurrentContext();
  if (residency::Enabled()) residency::NoteDeviceFallback(gpu, "cuArrayCreate");
  return Charged(Arrays(), gpu, ArrayBytes(*desc), "cuArrayCreate", [&](uint64_t* key) {
    CUresult r = CallReal(Real().cuArrayCreate_v2, pHandle, desc);
    *key = reinterpret_cast<uint64_t>(*pHandle);
    return r;
  });
}

CUresult cuArray3DCreate_v2(CUarray* pHandle, const CUDA_ARRAY3D_DESCRIPTOR* desc) {
  if (pHandle == nullptr || desc == nullptr) return CallReal(Real().cuArray3DCreate_v2, pHandle, desc);
  int gpu = Runtime::Get().GpuForCurrentContext();
  if (residency::Enabled()) residency::NoteDeviceFallback(gpu, "cuArray3DCreate");
  return Charged(Arrays(), gpu, ArrayBytes(*desc), "cuArray3DCreate", [&](uint64_t* key) {
    CUresult r = CallReal(Real().cuArray3DCreate_v2, pHandle, desc);
    *key = reinterpret_cast<uint64_t>(*pHandle);
    return r;
  });
}

CUresult cuArrayDestroy(CUarray hArray) {
  return Uncharged(Arrays(), reinterpret_cast<uint64_t>(hArray),
                   [&] { return CallReal(Real().cuArrayDestroy, hArray); });
}

CUresult cuMipmappedArrayCreate(CUmipmappedArray* pHandle, const CUDA_ARRAY3D_DESCRIPTOR* desc,
                                unsigned int numMipmapLevels) {
  auto real = Real().cuMipmappedArrayCreate;
  if (pHandle == nullptr || desc == nullptr) return CallReal(real, pHandle, desc, numMipmapLevels);
  int gpu = Runtime::Get().GpuForCurrentContext();
  if (residency::Enabled()) residency::NoteDeviceFallback(gpu, "cuMipmappedArrayCreate");
  return Charged(Arrays(), gpu, MipmappedArrayBytes(*desc, numMipmapLevels), "cuMipmappedArrayCreate",
                 [&](uint64_t* key) {
                   CUresult r = CallReal(real, pHandle, desc, numMipmapLevels);
                   *key = reinterpret_cast<uint64_t>(*pHandle);
                   return r;
                 });
}

CUresult cuMipmappedArrayDestroy(CUmipmappedArray hMipmappedArray) {
  return Uncharged(Arrays(), reinterpret_cast<uint64_t>(hMipmappedArray),
                   [&] { return CallReal(Real().cuMipmappedArrayDestroy, hMipmappedArray); });
}

}  // namespace tgs::hooks
