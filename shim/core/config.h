// The shim's configuration, read once from TGS_* variables at first use.
// A malformed value never silently means "unlimited": it is recorded in
// `error` and the shim then refuses to initialise CUDA (see runtime.cc).
#pragma once

#include <cstdint>
#include <string>

namespace tgs {

struct ShimConfig {
  uint64_t memory_limit_bytes = 0;  // per GPU; 0 = no limit (usage still accounted)
  std::string container_id;         // TGS_CONTAINER_ID, else derived from the cgroup
  std::string state_dir = "/dev/shm";
  std::string real_libcuda;         // TGS_REAL_LIBCUDA; empty = discover
  std::string real_libnvml;         // TGS_REAL_LIBNVML; empty = discover
  std::string controller_socket = "/run/tgs/tgs.sock";  // TGS_CONTROLLER_SOCKET
  std::string error;                // first invalid variable, e.g. "TGS_MEMORY_LIMIT='12XB': ..."
};

// Reads the environment (and /proc/self/cgroup when TGS_CONTAINER_ID is unset).
ShimConfig LoadShimConfig();

}  // namespace tgs
