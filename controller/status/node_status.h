// What the controller knows about its node at one instant, as plain values:
// every GPU it arbitrates and every container on it. Built once per control
// interval by the daemon (from the state files, the node board and the
// control loop) and handed, immutable, to everything that reports: the
// Prometheus exporter (controller/metrics/) and the admin endpoint behind
// `tgsctl status` (controller/admin/). Reporters never touch live state, so
// a scrape on the exporter's thread cannot race the event loop.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace tgs::controller {

inline constexpr double kNoLimit = std::numeric_limits<double>::infinity();

// One container on one GPU.
struct ContainerOnGpu {
  std::string container;  // the controller's key ("cgroup:/...", "id:...")
  int gpu = -1;           // index into NodeStatus::gpus
  uint64_t used_bytes = 0;
  uint64_t limit_bytes = 0;  // 0 = no limit
  uint64_t peak_bytes = 0;
  uint64_t oom_refusals = 0;  // allocations refused at the limit
  uint64_t kernels = 0;       // launched so far (exited processes included)
  uint64_t blocks = 0;
  uint64_t gate_waits = 0;
  double gate_wait_seconds = 0;
  uint64_t yields = 0;
  double yield_wait_seconds = 0;
  double gate_blocks_per_second = kNoLimit;  // opportunistic launch limit; kNoLimit = open
  // Unified memory (oversubscribing containers; all 0 otherwise).
  bool oversubscribed = false;
  uint64_t unified_bytes = 0;
  uint64_t resident_bytes = 0;  // of unified_bytes, placed on the GPU
  uint64_t resident_budget_bytes = 0;  // 0 with unified_bytes 0: no budget
  bool has_resident_budget = false;
  uint64_t moved_to_host_bytes = 0;  // cumulative
  uint64_t moved_to_gpu_bytes = 0;   // cumulative
  uint64_t device_fallbacks = 0;
  bool thrashing = false;
};

struct GpuReport {
  std::string uuid;  // "GPU-..."
  uint64_t memory_total_bytes = 0;  // 0 = not known yet
  std::string phase = "open";       // the rate-control phase
  double production_blocks_per_second = 0;
  double production_reference_blocks_per_second = 0;  // 0 = not measured
  double opportunistic_limit_blocks_per_second = kNoLimit;
  double opportunistic_blocks_per_second = 0;
  int production_processes = 0;
};

struct ContainerReport {
  std::string container;
  std::string class_name;
  std::string kind;  // "production" / "opportunistic"
  int weight = 1;
  bool oversubscribe = false;
  uint64_t memory_limit_bytes = 0;  // per GPU, from the policy; 0 = none
  uint64_t resident_limit_bytes = 0;
  std::string matched_by;  // "containers[2] (line 14)" / "default"
  int processes = 0;       // connected processes
  // From the integration, when it knows them (Kubernetes); empty otherwise.
  std::string namespace_name;
  std::string pod;
  std::string container_name;
};

struct ControllerReport {
  std::string version;
  std::string policy_source;
  double start_time_seconds = 0;  // Unix time
  uint64_t restarts = 0;          // earlier starts on this state directory
  uint64_t reloads = 0;
  uint64_t failed_reloads = 0;
  uint64_t connections = 0;
};

// A process the node watch saw using a GPU without the shim.
struct UnshimmedProcess {
  int pid = 0;
  std::string comm;
  std::string cgroup;  // its cgroup path ("" when it exited before it was read)
  uint64_t cgroup_id = 0;
  std::string what;     // a device path or a driver function
  double since_seconds = 0;  // Unix time it was seen
  bool killed = false;
};

struct NodeWatchReport {
  bool enabled = false;
  std::string detail;  // what it watches, or why it is off
  uint64_t unshimmed_detected = 0;  // since start
  uint64_t exits_reclaimed = 0;     // processes released on their exit event (socket close missed)
  std::vector<UnshimmedProcess> unshimmed;  // still running
};

struct NodeStatus {
  double time_seconds = 0;  // Unix time of the snapshot
  ControllerReport controller;
  std::vector<GpuReport> gpus;
  std::vector<ContainerReport> containers;
  std::vector<ContainerOnGpu> placements;  // container × GPU, in container then GPU order
  NodeWatchReport watch;
};

}  // namespace tgs::controller
