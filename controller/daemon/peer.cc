#include "controller/daemon/peer.h"

#include <dirent.h>
#include <errno.h>
#include <sys/socket.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "shim/core/container_identity.h"
#include "shim/util/process_start_time.h"

namespace tgs::controller {

namespace {

bool ReadSmallFile(const std::string& path, std::string* text) {
  std::ifstream in(path);
  if (!in) return false;
  std::stringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return false;
  *text = buffer.str();
  return true;
}

}  // namespace

std::optional<pid_t> PeerPid(int socket, std::string* error) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (getsockopt(socket, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    *error = std::string("SO_PEERCRED failed: ") + std::strerror(errno);
    return std::nullopt;
  }
  if (cred.pid <= 0) {
    *error = "the peer's pid is not visible in the controller's PID namespace";
    return std::nullopt;
  }
  return cred.pid;
}

std::string ContainerKeyOfProcess(pid_t pid, std::string* error) {
  std::string path = "/proc/" + std::to_string(pid) + "/cgroup";
  std::string text;
  if (!ReadSmallFile(path, &text)) {
    *error = "cannot read " + path + ": " + std::strerror(errno) + " (process gone?)";
    return "";
  }
  if (text.empty()) {
    *error = path + " is empty (process exited?)";
    return "";
  }
  std::string key = ContainerIdFromCgroupText(text);
  if (key.empty()) *error = path + " names no cgroup";
  return key;
}

std::string CgroupOfKey(std::string_view key) {
  constexpr std::string_view kPrefix = "cgroup:";
  if (key.substr(0, kPrefix.size()) != kPrefix) return "";
  return std::string(key.substr(kPrefix.size()));
}

pid_t InnermostPidFromStatus(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.substr(0, 6) != "NSpid:") continue;
    line.remove_prefix(6);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
    size_t start = line.find_last_of(" \t");
    std::string last(start == std::string_view::npos ? line : line.substr(start + 1));
    if (last.empty() || last.find_first_not_of("0123456789") != std::string::npos || last.size() > 9) return 0;
    return static_cast<pid_t>(std::atol(last.c_str()));
  }
  return 0;
}

std::set<SlotOwner> LiveSlotOwners(const std::set<SlotOwner>& wanted) {
  std::set<SlotOwner> live;
  if (wanted.empty()) return live;
  std::set<uint64_t> start_times;
  for (const SlotOwner& owner : wanted) start_times.insert(owner.second);
  DIR* dir = opendir("/proc");
  if (dir == nullptr) return live;
  while (dirent* entry = readdir(dir)) {
    char* end = nullptr;
    long host_pid = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || host_pid <= 0) continue;
    uint64_t start = ProcessStartTime(static_cast<pid_t>(host_pid));
    if (start == 0 || start_times.count(start) == 0) continue;
    std::string status;
    if (!ReadSmallFile("/proc/" + std::string(entry->d_name) + "/status", &status)) continue;
    SlotOwner owner{InnermostPidFromStatus(status), start};
    if (wanted.count(owner)) live.insert(owner);
  }
  closedir(dir);
  return live;
}

}  // namespace tgs::controller
