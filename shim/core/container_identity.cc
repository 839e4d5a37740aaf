#include "shim/core/container_identity.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "shim/state/container_state.h"

namespace tgs {

std::string ValidateContainerId(std::string_view id) {
  if (id.empty()) return "must not be empty";
  if (id.size() > static_cast<size_t>(state::kMaxContainerIdLength)) {
    return "longer than " + std::to_string(state::kMaxContainerIdLength) + " bytes";
  }
  for (unsigned char c : id) {
    if (c < 0x20 || c == 0x7f) return "contains a control character";
  }
  return "";
}

namespace {

// The distinguishing part of a cgroup path (pod uid, container id) is at its
// end, so an over-long path keeps its tail.
std::string CgroupId(std::string_view path) {
  constexpr size_t kPrefix = sizeof("cgroup:") - 1;
  size_t room = static_cast<size_t>(state::kMaxContainerIdLength) - kPrefix;
  if (path.size() > room) path = path.substr(path.size() - room);
  return "cgroup:" + std::string(path);
}

}  // namespace

std::string ContainerIdFromCgroupText(std::string_view text) {
  // cgroup v2 ("0::<path>") names the container on unified hosts. On hybrid
  // hosts every process sits at "0::/" and only the v1 hierarchies tell
  // containers apart, so a root path never identifies anything; among v1
  // paths the memory controller's is preferred (every runtime sets it).
  std::string unified, memory, first_v1;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    // hierarchy-id:controllers:path
    size_t c1 = line.find(':');
    size_t c2 = c1 == std::string_view::npos ? c1 : line.find(':', c1 + 1);
    if (c2 == std::string_view::npos) continue;
    std::string_view controllers = line.substr(c1 + 1, c2 - c1 - 1);
    std::string_view path = line.substr(c2 + 1);
    if (path.empty()) continue;
    if (line.substr(0, c2) == "0:") {
      unified = std::string(path);
      continue;
    }
    if (path == "/") continue;
    if (first_v1.empty()) first_v1 = std::string(path);
    size_t m = controllers.find("memory");
    if (memory.empty() && m != std::string_view::npos) memory = std::string(path);
  }
  if (!unified.empty() && unified != "/") return CgroupId(unified);
  if (!memory.empty()) return CgroupId(memory);
  if (!first_v1.empty()) return CgroupId(first_v1);
  if (!unified.empty()) return CgroupId(unified);
  return "";
}

std::string ContainerIdFromCgroup(std::string* error) {
  std::ifstream in("/proc/self/cgroup");
  if (!in) {
    *error = std::string("cannot read /proc/self/cgroup: ") + std::strerror(errno);
    return "";
  }
  std::stringstream text;
  text << in.rdbuf();
  std::string id = ContainerIdFromCgroupText(text.str());
  if (id.empty()) *error = "/proc/self/cgroup names no cgroup";
  return id;
}

}  // namespace tgs
