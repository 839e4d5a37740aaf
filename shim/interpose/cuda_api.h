// cuda.h as the shim needs it: the legacy (pre-3.2, 32-bit) names that cuda.h
// macro-maps to their _v2 successors are un-mapped here, because the shim must
// export and hook them under their own names too. Include this instead of
// <cuda.h> in shim code that names hooked functions.
#pragma once

// The shim must hook deprecated entry points too (cuLaunch, cuLaunchGrid, ...).
#ifndef CUDA_ENABLE_DEPRECATED
#define CUDA_ENABLE_DEPRECATED
#endif
#include <cuda.h>

#undef cuMemAlloc
#undef cuMemAllocPitch
#undef cuMemFree
#undef cuMemGetInfo
#undef cuDeviceTotalMem
#undef cuCtxCreate
#undef cuArrayCreate
#undef cuArray3DCreate
#undef cuGetProcAddress
#undef cuGraphInstantiate

#define TGS_EXPORT extern "C" __attribute__((visibility("default")))
