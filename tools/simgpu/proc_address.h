// The entry-point table behind cuGetProcAddress (see entry_points.def).
#pragma once

#include <cstddef>

#include "tools/simgpu/cuda_api.h"

namespace simgpu {

struct EntryPoint {
  const char* name;
  int version;
  bool per_thread;
  void* fn;
};

const EntryPoint* EntryPoints(size_t* count);
CUresult LookupEntryPoint(const char* name, int version, cuuint64_t flags, void** pfn,
                          CUdriverProcAddressQueryResult* status);

}  // namespace simgpu
