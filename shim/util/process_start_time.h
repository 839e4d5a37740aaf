// A process identity that survives pid reuse: the start time the kernel
// records for it (/proc/<pid>/stat field 22, in clock ticks since boot).
// Used wherever state shared between processes must notice that its owner
// died: the shim's container accounting and the simulated driver alike.
#pragma once

#include <sys/types.h>

#include <cstdint>

namespace tgs {

// 0 if the process does not exist or has exited (a zombie holds no resources).
uint64_t ProcessStartTime(pid_t pid);

}  // namespace tgs
