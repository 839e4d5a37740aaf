#include "shim/interpose/passthrough_table.h"

#include <dlfcn.h>

namespace tgs {

void FillPassthroughTable(void* handle, void** table, const char* const* names, uint32_t count, void* missing,
                          void* no_library) {
  for (uint32_t i = 0; i < count; ++i) {
    void* fn = handle ? dlsym(handle, names[i]) : nullptr;
    if (fn == nullptr) fn = handle ? missing : no_library;
    __atomic_store_n(&table[i], fn, __ATOMIC_RELEASE);
  }
}

}  // namespace tgs
