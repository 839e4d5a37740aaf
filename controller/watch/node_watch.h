// The eBPF node watch (optional; libbpf, CO-RE). An interposition layer only
// sees processes that load it: a static binary, a musl image, a process that
// clears LD_PRELOAD, or one that dlopens the driver by full path escapes the
// shim, and then limits and rate control are fiction. The watch tells the
// controller
//   - when a registered process exits (sched_process_exit), even if the
//     controller misses its socket close;
//   - when any process opens a GPU device path (/dev/nvidia-uvm by default)
//     or initialises the driver library (a uprobe on cuInit, attached by
//     path): GPU use that the
//     controller then checks against the processes registered through the
//     shim (unshimmed_tracker.h).
// It needs CAP_BPF and CAP_PERFMON (and CAP_SYS_ADMIN for the uprobes);
// without them Start says why and the controller runs without it.
//
// Only cuInit is probed: a uprobe costs every call a trap into the kernel
// (microseconds), on every process, shimmed or not — far more than the whole
// shim hook on a launch (tgs-bench-node-watch measures it).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace tgs::controller {

struct WatchEvent {
  enum class Kind { kExit, kDeviceOpen, kDriverCall };
  Kind kind;
  pid_t pid;           // in the initial PID namespace
  uint64_t cgroup_id;  // cgroup v2 id (the cgroup directory's inode)
  std::string comm;
  std::string what;  // the device path, or the driver function entered
};

struct NodeWatchOptions {
  std::vector<std::string> device_prefixes{"/dev/nvidia-uvm"};
  std::vector<std::string> driver_libraries;  // full paths; empty: none probed
  // Entry points probed in each driver library (those it lacks are skipped).
  // cuInit only: every CUDA process calls it once, so it catches every user
  // of the library, while a probe on a per-call entry point costs every call
  // a trap into the kernel (tgs-bench-node-watch: ~19 us per cuMemAlloc and
  // ~28 us per launch on the development VM).
  std::vector<std::string> driver_functions{"cuInit"};
};

class NodeWatch {
 public:
  // nullptr with `*why_not` (one line: what failed and which privilege it needs).
  static std::unique_ptr<NodeWatch> Start(const NodeWatchOptions& options, std::string* why_not);
  ~NodeWatch();
  NodeWatch(const NodeWatch&) = delete;
  NodeWatch& operator=(const NodeWatch&) = delete;

  // Readable when events are waiting (for epoll).
  int fd() const;
  // Hands every waiting event to `on_event`.
  void Drain(const std::function<void(const WatchEvent&)>& on_event);

  // Registered processes (and suspects): their exit is reported.
  void Watch(pid_t pid);
  void Unwatch(pid_t pid);

  // What is attached, for the log: "process exits; opens of /dev/nvidia-uvm; ..."
  const std::string& description() const { return description_; }

 private:
  NodeWatch() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string description_;
};

}  // namespace tgs::controller
