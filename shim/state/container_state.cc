#include "shim/state/container_state.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

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

uint64_t ProcessStartTime(pid_t pid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[1024];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  // The command name (field 2) may contain spaces and parentheses; fields
  // after it start behind the last ')'.
  char* p = std::strrchr(buf, ')');
  if (p == nullptr) return 0;
  ++p;
  // Field 3 (state) is the first after ')'; starttime is field 22.
  for (int field = 3; field < 22; ++field) {
    p = std::strchr(p + 1, ' ');
    if (p == nullptr) return 0;
  }
  // A zombie has exited: its memory is gone even though /proc still lists it.
  const char* state = std::strrchr(buf, ')') + 2;
  if (*state == 'Z' || *state == 'X') return 0;
  return std::strtoull(p + 1, nullptr, 10);
}

}  // namespace tgs::state
