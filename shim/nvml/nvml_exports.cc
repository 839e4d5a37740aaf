// The thin override layer of libtgs-nvml.so (SONAME libnvidia-ml.so.1): each
// hooked NVML symbol forwards in one line to nvml_hooks.cc; the generated
// trampolines export everything else.
#include "shim/nvml/nvml_abi.h"

#define TGS_EXPORT extern "C" __attribute__((visibility("default")))

TGS_EXPORT const char tgs_shim_identity[] = "tgs-shim nvml";

namespace tgs::nvml_hooks {
#define TGS_NVML_HOOK(name, ret, params, args) ret name params;
#include "shim/nvml/nvml_hooks.def"
#undef TGS_NVML_HOOK
}  // namespace tgs::nvml_hooks

#define TGS_NVML_HOOK(name, ret, params, args) \
  TGS_EXPORT ret name params { return tgs::nvml_hooks::name args; }
#include "shim/nvml/nvml_hooks.def"
#undef TGS_NVML_HOOK
