// The thin override layer: each hooked libcuda symbol, exported under the
// driver's own name, forwards in one line to the shim's implementation.
// Everything not listed in cuda_hooks.def is exported by the generated
// pass-through trampolines instead.
#include "shim/interpose/hooks.h"

TGS_EXPORT const char tgs_shim_identity[] = "tgs-shim libcuda";

#define TGS_CUDA_HOOK(name, params, args) \
  TGS_EXPORT CUresult name params { return tgs::hooks::name args; }
#include "shim/interpose/cuda_hooks.def"
#undef TGS_CUDA_HOOK
