// Include this instead of <cuda.h> in simgpu sources. Defining
// __CUDA_API_VERSION_INTERNAL (as a driver build does) makes cuda.h declare
// every exported variant under its literal name: cuMemAlloc_v2 and the legacy
// 32-bit cuMemAlloc, cuLaunchKernel and cuLaunchKernel_ptsz, ... so each
// definition below is checked against NVIDIA's prototype.
#pragma once

#define __CUDA_API_VERSION_INTERNAL 1
#include <cuda.h>

// Exported driver entry points; everything else in the library is hidden.
#define SIMGPU_EXPORT extern "C" __attribute__((visibility("default")))
