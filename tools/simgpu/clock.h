// Device time is wall-clock time: every process on the machine reads the same
// CLOCK_MONOTONIC, so timeline reservations made by different processes compare.
#pragma once

#include <time.h>

#include <cstdint>

namespace simgpu {

inline int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

// Absolute sleep so that a late wake-up is not compounded by the next sleep.
inline void SleepUntilNs(int64_t deadline) {
  // Work that is already due (zero-length kernels, a late worker) costs no syscall.
  if (deadline <= NowNs()) return;
  timespec ts{static_cast<time_t>(deadline / 1000000000LL), static_cast<long>(deadline % 1000000000LL)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) != 0) {
  }
}

}  // namespace simgpu
