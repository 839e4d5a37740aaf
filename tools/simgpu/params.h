// Which managed allocations a launch touches, read from its arguments: the
// module declares each kernel's parameter types (module.h), and every `ptr`
// argument that points into a managed allocation of this process means the
// kernel accesses that whole allocation.
#pragma once

#include <vector>

#include "tools/simgpu/cuda_api.h"
#include "tools/simgpu/residency.h"

namespace simgpu {

struct Function;

// Reads the arguments of a launch of `f`, given as `params` (element i points
// at argument i) or as `extra` (CU_LAUNCH_PARAM_BUFFER_POINTER/SIZE: one
// buffer, arguments at natural alignment), and sets `out` to the managed
// allocations they point into, each once. No arguments at all means no
// accesses. INVALID_VALUE when both forms are given, or `extra` is malformed
// or shorter than the declared parameters.
CUresult ManagedArguments(const Function& f, void** params, void** extra, std::vector<ManagedHandle>* out);

}  // namespace simgpu
