// Filling a generated trampoline table (see trampolines.cmake) with the real
// library's entry points. Shared by the libcuda and NVML shims.
#pragma once

#include <cstdint>

namespace tgs {

// table[i] = dlsym(handle, names[i]), or `missing` when the library lacks the
// name, or `no_library` when handle is null. Entries are published with
// release stores: other threads may be jumping through the table meanwhile.
void FillPassthroughTable(void* handle, void** table, const char* const* names, uint32_t count, void* missing,
                          void* no_library);

}  // namespace tgs
