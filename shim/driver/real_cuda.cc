#include "shim/driver/real_cuda.h"

#include <dlfcn.h>

namespace tgs {

void ResolveRealCuda(void* handle, RealCuda* real) {
  real->handle = handle;
#define TGS_RESOLVE(name) real->name = reinterpret_cast<decltype(real->name)>(dlsym(handle, #name));
#define TGS_CUDA_HOOK(name, params, args) TGS_RESOLVE(name)
#include "shim/interpose/cuda_hooks.def"
#undef TGS_CUDA_HOOK
  TGS_RESOLVE(cuCtxGetCurrent)
  TGS_RESOLVE(cuCtxGetDevice)
  TGS_RESOLVE(cuStreamGetCtx)
  TGS_RESOLVE(cuStreamGetDevice)
  TGS_RESOLVE(cuCtxPushCurrent_v2)
  TGS_RESOLVE(cuCtxPopCurrent_v2)
  TGS_RESOLVE(cuDeviceGetCount)
  TGS_RESOLVE(cuDeviceGet)
  TGS_RESOLVE(cuDeviceGetUuid_v2)
  TGS_RESOLVE(cuMemPoolGetAttribute)
  TGS_RESOLVE(cuGraphGetNodes)
  TGS_RESOLVE(cuGraphNodeGetType)
  TGS_RESOLVE(cuGraphKernelNodeGetParams_v2)
  TGS_RESOLVE(cuGraphChildGraphNodeGetGraph)
  TGS_RESOLVE(cuStreamIsCapturing)
  TGS_RESOLVE(cuMemAdvise_v2)
  TGS_RESOLVE(cuMemPrefetchAsync_v2)
#undef TGS_RESOLVE
}

}  // namespace tgs
