// Exported entry points: stream-ordered allocation and memory pools.
#include "tools/simgpu/cuda_api.h"
#include "tools/simgpu/driver.h"
#include "tools/simgpu/memory.h"
#include "tools/simgpu/stream.h"

using namespace simgpu;

namespace {

CUresult AllocAsync(CUdeviceptr* dptr, size_t bytes, CUmemoryPool pool, CUstream stream, bool per_thread) {
  if (dptr == nullptr) return Initialized() ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_INITIALIZED;
  std::shared_ptr<Stream> s;
  if (CUresult rc = ResolveStream(stream, per_thread, &s); rc != CUDA_SUCCESS) return rc;
  if (pool == nullptr) pool = CurrentPool(s->device);
  // The block is usable in stream order from here on; handing it out now is
  // indistinguishable to a correct program.
  return PoolAlloc(pool, bytes, dptr);
}

CUresult FreeAsync(CUdeviceptr ptr, CUstream stream, bool per_thread) {
  if (!Initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  Allocation a;
  if (!LookupAllocation(ptr, &a) || a.base != ptr) return CUDA_ERROR_INVALID_VALUE;
  if (a.kind != AllocKind::kPoolBlock && a.kind != AllocKind::kDevice && a.kind != AllocKind::kManaged) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  std::shared_ptr<Stream> s;
  if (CUresult rc = ResolveStream(stream, per_thread, &s); rc != CUDA_SUCCESS) return rc;
  Op op;
  op.kind = Op::kWork;
  if (a.kind == AllocKind::kPoolBlock) {
    op.work = [ptr] { PoolFree(ptr); };
  } else {
    op.work = [ptr] { FreeDevice(ptr); };
  }
  return Enqueue(s, std::move(op));
}

CUresult CheckPoolDevice(CUdevice dev) {
  if (!Initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  return ValidDevice(dev) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_DEVICE;
}

}  // namespace

SIMGPU_EXPORT CUresult cuMemAllocAsync(CUdeviceptr* dptr, size_t bytes, CUstream s) {
  return AllocAsync(dptr, bytes, nullptr, s, false);
}
SIMGPU_EXPORT CUresult cuMemAllocAsync_ptsz(CUdeviceptr* dptr, size_t bytes, CUstream s) {
  return AllocAsync(dptr, bytes, nullptr, s, true);
}
SIMGPU_EXPORT CUresult cuMemAllocFromPoolAsync(CUdeviceptr* dptr, size_t bytes, CUmemoryPool pool, CUstream s) {
  if (pool == nullptr) return CUDA_ERROR_INVALID_VALUE;
  return AllocAsync(dptr, bytes, pool, s, false);
}
SIMGPU_EXPORT CUresult cuMemAllocFromPoolAsync_ptsz(CUdeviceptr* dptr, size_t bytes, CUmemoryPool pool, CUstream s) {
  if (pool == nullptr) return CUDA_ERROR_INVALID_VALUE;
  return AllocAsync(dptr, bytes, pool, s, true);
}
SIMGPU_EXPORT CUresult cuMemFreeAsync(CUdeviceptr ptr, CUstream s) { return FreeAsync(ptr, s, false); }
SIMGPU_EXPORT CUresult cuMemFreeAsync_ptsz(CUdeviceptr ptr, CUstream s) { return FreeAsync(ptr, s, true); }

SIMGPU_EXPORT CUresult cuMemPoolCreate(CUmemoryPool* pool, const CUmemPoolProps* props) {
  if (!Initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  return CreatePool(props, pool);
}
SIMGPU_EXPORT CUresult cuMemPoolDestroy(CUmemoryPool pool) {
  if (!Initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  return DestroyPool(pool);
}
SIMGPU_EXPORT CUresult cuMemPoolTrimTo(CUmemoryPool pool, size_t keep) {
  if (!Initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  return PoolTrim(pool, keep);
}
SIMGPU_EXPORT CUresult cuMemPoolSetAttribute(CUmemoryPool pool, CUmemPool_attribute attr, void* value) {
  if (!Initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  return PoolSetAttribute(pool, attr, value);
}
SIMGPU_EXPORT CUresult cuMemPoolGetAttribute(CUmemoryPool pool, CUmemPool_attribute attr, void* value) {
  if (!Initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  return PoolGetAttribute(pool, attr, value);
}

SIMGPU_EXPORT CUresult cuDeviceGetDefaultMemPool(CUmemoryPool* pool, CUdevice dev) {
  if (CUresult rc = CheckPoolDevice(dev); rc != CUDA_SUCCESS) return rc;
  if (pool == nullptr) return CUDA_ERROR_INVALID_VALUE;
  *pool = DefaultPool(dev);
  return CUDA_SUCCESS;
}
SIMGPU_EXPORT CUresult cuDeviceGetMemPool(CUmemoryPool* pool, CUdevice dev) {
  if (CUresult rc = CheckPoolDevice(dev); rc != CUDA_SUCCESS) return rc;
  if (pool == nullptr) return CUDA_ERROR_INVALID_VALUE;
  *pool = CurrentPool(dev);
  return CUDA_SUCCESS;
}
SIMGPU_EXPORT CUresult cuDeviceSetMemPool(CUdevice dev, CUmemoryPool pool) {
  if (CUresult rc = CheckPoolDevice(dev); rc != CUDA_SUCCESS) return rc;
  // A device can only allocate from pools located on it.
  if (PoolDevice(pool) != dev) return CUDA_ERROR_INVALID_VALUE;
  SetCurrentPool(dev, pool);
  return CUDA_SUCCESS;
}
