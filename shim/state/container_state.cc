#include "shim/state/container_state.h"

#include <cstdio>

namespace tgs::state {

static_assert(sizeof(ContainerState) < (1u << 20), "state file should stay small");
static_assert(std::atomic<uint64_t>::is_always_lock_free, "shared counters must be lock-free across processes");

std::string StateFileName(const std::string& container_id) {
  // FNV-1a: stable across builds and processes, and the id itself is stored
  // in the header to catch the (astronomically unlikely) collision.
  uint64_t hash = 0xcbf29ce484222325ull;
  for (unsigned char c : container_id) {
    hash ^= c;
    hash *= 0x100000001b3ull;
  }
  char name[64];
  std::snprintf(name, sizeof name, "tgs-container-%016llx", static_cast<unsigned long long>(hash));
  return name;
}

}  // namespace tgs::state
