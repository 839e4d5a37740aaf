// The shim's implementation of each hooked entry point, one function per line
// of cuda_hooks.def, defined in the component that owns it (memory/,
// launch/, core/, interpose/proc_address.cc).
#pragma once

#include "shim/interpose/cuda_api.h"

namespace tgs::hooks {
#define TGS_CUDA_HOOK(name, params, args) CUresult name params;
#include "shim/interpose/cuda_hooks.def"
#undef TGS_CUDA_HOOK
}  // namespace tgs::hooks
