// The per-device execution timeline. A device runs one kernel at a time, in
// the order kernels reached the head of their streams, across all processes
// (real GPUs time-slice between contexts). Reservation is a CAS on the
// device's busy_until, so nothing a killed process leaves behind can block
// others: its reserved intervals simply elapse.
#pragma once

#include <cstdint>

namespace simgpu {

// Reserves [max(earliest, busy_until), +duration) and returns its end.
// `earliest` is when the kernel became runnable in device time (its stream's
// previous op finished, or it was submitted); it may lie slightly in the past
// when the worker thread woke late, which must not delay the device.
int64_t ReserveKernel(int device, int64_t earliest, int64_t duration_ns);
// The same on this process's own MPS partition (driver.h, MpsPartitioned):
// its SMs are its own, so it waits only for its own kernels.
int64_t ReservePartitionKernel(int device, int64_t earliest, int64_t duration_ns);

// Reserves [max(earliest, copy_busy_until), +duration) on the device's copy
// engine, the timeline of host-link transfers (unified-memory migrations,
// evictions and remote accesses), and returns its end. Kept apart from the
// compute timeline: a real GPU preempts a context stalled on page faults at
// timeslice boundaries, so other contexts' kernels run while it migrates.
int64_t ReserveTransfer(int device, int64_t earliest, int64_t duration_ns);

// Time to move `bytes` over the host link at the segment's migration bandwidth.
int64_t TransferNs(uint64_t bytes);

// Fraction (0..1) of the last `window_ns` during which the device was executing.
double DeviceUtilization(int device, int64_t window_ns);

}  // namespace simgpu
