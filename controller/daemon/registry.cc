#include "controller/daemon/registry.h"

#include <atomic>

namespace tgs::controller {

void IdentityRegistry::Register(const std::string& cgroup, std::string id, std::map<std::string, std::string> labels) {
  entries_[cgroup] = Entry{std::move(id), std::move(labels)};
}

void IdentityRegistry::Forget(const std::string& cgroup) { entries_.erase(cgroup); }

policy::ContainerIdentity IdentityRegistry::IdentityFor(const std::string& cgroup) const {
  policy::ContainerIdentity identity;
  identity.cgroup = cgroup;
  if (auto it = entries_.find(cgroup); it != entries_.end()) {
    identity.id = it->second.id;
    identity.labels = it->second.labels;
  }
  return identity;
}

Container* Registry::FindContainer(const std::string& key) {
  auto it = containers_.find(key);
  return it == containers_.end() ? nullptr : &it->second;
}

const Container* Registry::FindContainer(const std::string& key) const {
  auto it = containers_.find(key);
  return it == containers_.end() ? nullptr : &it->second;
}

Container& Registry::AddContainer(std::string key, policy::ContainerIdentity identity, policy::ContainerPolicy policy,
                                  std::unique_ptr<state::StateFile> file) {
  Container c;
  c.key = key;
  c.identity = std::move(identity);
  c.policy = std::move(policy);
  c.file = std::move(file);
  return containers_.insert_or_assign(std::move(key), std::move(c)).first->second;
}

std::vector<int> Registry::SilentSince(std::chrono::steady_clock::time_point deadline) const {
  std::vector<int> silent;
  for (const auto& [id, conn] : connections_) {
    if (conn.phase == Phase::kAwaitHello && conn.accepted < deadline) silent.push_back(id);
  }
  return silent;
}

Connection& Registry::AddConnection(int id) {
  Connection& c = connections_[id];
  c = Connection{};
  c.id = id;
  return c;
}

Connection* Registry::FindConnection(int id) {
  auto it = connections_.find(id);
  return it == connections_.end() ? nullptr : &it->second;
}

std::vector<int> Registry::ConnectionIds() const {
  std::vector<int> ids;
  for (const auto& [id, c] : connections_) ids.push_back(id);
  return ids;
}

void Registry::BindConnection(int id, pid_t pid, const std::string& key) {
  Connection* c = FindConnection(id);
  Container* container = FindContainer(key);
  if (c == nullptr || container == nullptr) return;
  c->pid = pid;
  c->container_key = key;
  c->phase = Phase::kAwaitAttached;
  container->connections.insert(id);
}

bool Registry::AttachConnection(int id, int slot, uint64_t start_time) {
  Connection* c = FindConnection(id);
  if (c == nullptr || c->phase != Phase::kAwaitAttached) return false;
  Container* container = FindContainer(c->container_key);
  if (container == nullptr || AttachedSlots(*container).count(slot)) return false;
  c->slot = slot;
  c->start_time = start_time;
  c->phase = Phase::kAttached;
  return true;
}

std::optional<SlotRelease> Registry::RemoveConnection(int id) {
  auto it = connections_.find(id);
  if (it == connections_.end()) return std::nullopt;
  Connection c = std::move(it->second);
  connections_.erase(it);
  Container* container = c.container_key.empty() ? nullptr : FindContainer(c.container_key);
  if (container == nullptr) return std::nullopt;
  container->connections.erase(id);
  if (c.phase != Phase::kAttached) return std::nullopt;
  return SlotRelease{container, c.pid, c.slot, c.start_time};
}

std::set<int> Registry::AttachedSlots(const Container& container) const {
  std::set<int> slots;
  for (int id : container.connections) {
    auto it = connections_.find(id);
    if (it != connections_.end() && it->second.phase == Phase::kAttached) slots.insert(it->second.slot);
  }
  return slots;
}

std::vector<std::string> Registry::EvictIdle() {
  std::vector<std::string> evicted;
  for (auto it = containers_.begin(); it != containers_.end();) {
    if (it->second.connections.empty() && OccupiedSlots(*it->second.file).empty()) {
      evicted.push_back(it->first);
      it = containers_.erase(it);
    } else {
      ++it;
    }
  }
  return evicted;
}

std::vector<OccupiedSlot> OccupiedSlots(state::StateFile& file) {
  std::vector<OccupiedSlot> slots;
  state::ContainerState& s = file.state();
  for (int i = 0; i < state::kMaxProcesses; ++i) {
    pid_t pid = s.processes[i].pid.load(std::memory_order_acquire);
    if (pid != 0) slots.push_back({i, pid, s.processes[i].start_time});
  }
  return slots;
}

}  // namespace tgs::controller
