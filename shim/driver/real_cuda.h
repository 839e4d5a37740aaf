// The real driver behind the shim: its dlopen handle and a typed pointer for
// every hooked entry point, resolved once when the driver is loaded. Hooks
// call the driver only through this table.
#pragma once

#include <string>

#include "shim/interpose/cuda_api.h"

namespace tgs {

struct RealCuda {
#define TGS_CUDA_HOOK(name, params, args) CUresult (*name) params = nullptr;
#include "shim/interpose/cuda_hooks.def"
#undef TGS_CUDA_HOOK
  // Not hooked, but needed to map contexts, streams and devices to GPUs.
  CUresult (*cuCtxGetCurrent)(CUcontext*) = nullptr;
  CUresult (*cuCtxGetDevice)(CUdevice*) = nullptr;
  CUresult (*cuStreamGetCtx)(CUstream, CUcontext*) = nullptr;
  CUresult (*cuStreamGetDevice)(CUstream, CUdevice*) = nullptr;
  CUresult (*cuCtxPushCurrent_v2)(CUcontext) = nullptr;
  CUresult (*cuCtxPopCurrent_v2)(CUcontext*) = nullptr;
  CUresult (*cuDeviceGetCount)(int*) = nullptr;
  CUresult (*cuDeviceGet)(CUdevice*, int) = nullptr;
  CUresult (*cuDeviceGetUuid_v2)(CUuuid*, CUdevice) = nullptr;
  CUresult (*cuMemPoolGetAttribute)(CUmemoryPool, CUmemPool_attribute, void*) = nullptr;
  CUresult (*cuGraphGetNodes)(CUgraph, CUgraphNode*, size_t*) = nullptr;
  CUresult (*cuGraphNodeGetType)(CUgraphNode, CUgraphNodeType*) = nullptr;
  CUresult (*cuGraphKernelNodeGetParams_v2)(CUgraphNode, CUDA_KERNEL_NODE_PARAMS*) = nullptr;
  CUresult (*cuGraphChildGraphNodeGetGraph)(CUgraphNode, CUgraph*) = nullptr;
  CUresult (*cuStreamIsCapturing)(CUstream, CUstreamCaptureStatus*) = nullptr;
  // Placement of oversubscribed (managed) memory, shim/memory/residency.h.
  CUresult (*cuMemAdvise_v2)(CUdeviceptr, size_t, CUmem_advise, CUmemLocation) = nullptr;
  CUresult (*cuMemPrefetchAsync_v2)(CUdeviceptr, size_t, CUmemLocation, unsigned int, CUstream) = nullptr;

  void* handle = nullptr;
  std::string path;
};

// Resolves every pointer of `real` from `handle`; missing entries stay null
// (the hook then reports CUDA_ERROR_NOT_FOUND, as a driver lacking it would).
void ResolveRealCuda(void* handle, RealCuda* real);

}  // namespace tgs
